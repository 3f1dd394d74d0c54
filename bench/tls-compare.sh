#!/usr/bin/env bash
# bench/tls-compare.sh: TLS side by side, ringway (rustls, ring) against
# nginx (OpenSSL) on the same certificates, one machine, one run (issue 15):
# full handshakes per CPU-second (ECDSA P-256 and RSA 2048), resumed
# handshakes per CPU-second, and CPU per request over kept-alive TLS
# connections.
#
# Owns: making the certificates (openssl CLI, a throwaway CA) in a temporary
# directory, starting the backend, two ringways and two nginxes (one per
# certificate), driving `ringway-loadgen run` at each in turn, and the
# report. Must never: listen beyond 127.0.0.1, signal a process it did not
# start, or quote a run whose handshakes were not of the kind it measures.
#
# Method: every server has one worker pinned to core 0 (ringway `workers =
# 1`, `cpus = [0]`, the process under `taskset -c 0`; nginx
# `worker_processes 1`, `worker_cpu_affinity 01`, master and worker under
# `taskset -c 0`); the backend (`ringway-loadgen serve`) and the load
# generator on core 1. Every request is proxied to the backend over a pooled
# keep-alive connection. The figure is the server's on-CPU time (schedstat,
# every thread of the process and its children: nginx's master too) over
# exactly the loadgen's measured window (`--server-pid`), divided by the
# handshakes (or responses) completed in it: handshakes per CPU-second is
# handshakes per second per core. Per round each shape runs ringway then
# nginx (odd rounds) or nginx then ringway (even rounds); ratios are per
# round, then the median. As `loadgen compare` does, every process runs at
# nice -10 and so does the session's autogroup (restored on exit).
#
# Shapes (all TLS 1.3 unless named -12; the client offers what rustls
# offers with ring: it negotiates TLS13_AES_256_GCM_SHA384 and X25519 with
# both servers, checked from the loadgen's report):
#   full-ecdsa    a new connection and a full handshake per request, ECDSA P-256
#   full-rsa      the same, RSA 2048 (RSA-PSS signatures)
#   resume        a new connection per request, each resuming its slot's
#                 previous session (ticket); ECDSA certificate
#   keepalive     32 kept-alive TLS connections, closed loop; CPU per request
#   full-ecdsa-12 full-ecdsa over TLS 1.2 (ECDHE-ECDSA-AES256-GCM-SHA384)
#   resume-12     resume over TLS 1.2 (session ticket)
# A run is INVALID (left out of the medians, exit 3) on any loadgen error or
# non-2xx, on a full-handshake run with a resumed handshake, or on a resume
# run with fewer than 99 % of its handshakes resumed.
set -Eeuo pipefail

usage() {
    cat <<'EOF'
usage: bench/tls-compare.sh [--rounds N] [--duration S] [--warmup S] [--shapes LIST] [--no-build] [--keep] [--out FILE]
                            [--openssl-ia32cap CAP]

  --rounds N      rounds (default 5)
  --duration S    measured seconds per run (default 5)
  --warmup S      warm-up seconds before each, same loadgen process (default 1)
  --shapes LIST   comma-separated, of: full-ecdsa,full-rsa,resume,keepalive,full-ecdsa-12,resume-12
                  (default: all)
  --no-build      use target/release/{ringway,ringway-loadgen} as they are
  --keep          keep the work directory (certificates, configs, JSON of every run, logs)
  --out FILE      also write the report to FILE
  --openssl-ia32cap CAP
                  run nginx with OPENSSL_ia32cap=CAP: OpenSSL's CPU feature mask, for
                  what nginx does on a CPU without a feature; ':~0x200000' turns off
                  AVX-512 IFMA, which OpenSSL 3 uses for RSA 2048 (ring has no such path)

Ports (env): BASE_PORT=18700 (backend), +10/+11 ringway ECDSA plain/TLS,
+12 nginx ECDSA, +20/+21 ringway RSA plain/TLS, +22 nginx RSA.
Exit: 0 every run valid; 1 set-up failure; 2 bad arguments; 3 report
written but some run was INVALID.
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ROUNDS=5 DURATION=5 WARMUP=1 BUILD=1 KEEP=0 OUT="" IA32CAP=""
SHAPES=(full-ecdsa full-rsa resume keepalive full-ecdsa-12 resume-12)
NICE=-10
BASE=${BASE_PORT:-18700}
die() { echo "tls-compare: $*" >&2; exit 1; }
bad() { echo "tls-compare: $*" >&2; usage >&2; exit 2; }
log() { echo "tls-compare: $*" >&2; }

while (($#)); do
    case $1 in
        --rounds) ROUNDS=${2:-}; shift 2 ;;
        --duration) DURATION=${2:-}; shift 2 ;;
        --warmup) WARMUP=${2:-}; shift 2 ;;
        --shapes) IFS=, read -r -a SHAPES <<<"${2:-}"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=1; shift ;;
        --out) OUT=${2:-}; shift 2 ;;
        --openssl-ia32cap) IA32CAP=${2:-}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) bad "unknown argument: $1" ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bad "--rounds must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || bad "--duration must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || bad "--warmup must be a non-negative integer"
((${#SHAPES[@]})) || bad "--shapes: none given"
for s in "${SHAPES[@]}"; do
    case $s in full-ecdsa|full-rsa|resume|keepalive|full-ecdsa-12|resume-12) ;; *) bad "--shapes: unknown shape '$s'" ;; esac
done
[[ -z $OUT || -d $(dirname "$OUT") ]] || bad "--out: directory $(dirname "$OUT") does not exist"
for t in nginx openssl jq taskset curl; do command -v "$t" >/dev/null || die "$t not found"; done
(($(nproc) >= 2)) || die "needs 2 cores (servers on core 0, backend and load on core 1)"

if ((BUILD)); then
    log "building (nice -n 19 cargo build --release -p ringway -p ringway-loadgen)"
    (cd "$ROOT" && nice -n 19 cargo build --release -p ringway -p ringway-loadgen) >&2 || die "cargo build failed"
fi
RW=$ROOT/target/release/ringway
LG=$ROOT/target/release/ringway-loadgen
[[ -x $RW && -x $LG ]] || die "build target/release/ringway and ringway-loadgen first"

WORK=$(mktemp -d /tmp/ringway-tls-compare.XXXXXX)
chmod 755 "$WORK" # nginx's worker runs as nobody and must reach its prefix
PIDS=()
AUTOGROUP_NICE=
finish() {
    local rc=$? p
    trap - EXIT
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    [[ -n $AUTOGROUP_NICE ]] && echo "$AUTOGROUP_NICE" >/proc/self/autogroup
    if ((KEEP)); then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
N=(nice -n "$NICE")
if [[ -w /proc/self/autogroup ]]; then
    before=$(awk '{ print $NF }' /proc/self/autogroup)
    if echo "$NICE" 2>/dev/null >/proc/self/autogroup; then AUTOGROUP_NICE=$before; fi
fi

# ------------------------------------------------------------ certificates

# A throwaway CA (ECDSA P-256) and two leaves it signs, both for localhost
# and 127.0.0.1: ECDSA P-256 and RSA 2048. Each server sends the leaf only;
# the client trusts the CA (`--ca`, `curl --cacert`).
make_certs() (
    cd "$WORK"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=ringway-bench-ca -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.pem
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=critical,CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' >leaf.ext
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout ecdsa.key -out ecdsa.csr
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout rsa.key -out rsa.csr
    for k in ecdsa rsa; do
        openssl x509 -req -in $k.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out $k.pem
    done
) >"$WORK/openssl.log" 2>&1
make_certs || { cat "$WORK/openssl.log" >&2; die "openssl could not make the certificates"; }

# ------------------------------------------------------------ servers

ORIGIN=$BASE
declare -A PORT=([ringway-ecdsa]=$((BASE + 11)) [nginx-ecdsa]=$((BASE + 12))
    [ringway-rsa]=$((BASE + 21)) [nginx-rsa]=$((BASE + 22)))
declare -A PID
for p in "$ORIGIN" $((BASE + 10)) $((BASE + 20)) "${PORT[@]}"; do
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || die "127.0.0.1:$p is in use (set BASE_PORT)"
done

"${N[@]}" taskset -c 1 "$LG" serve --listen "127.0.0.1:$ORIGIN" --cpus 1 >"$WORK/backend.log" 2>&1 &
PIDS+=("$!")

for k in ecdsa rsa; do
    plain=$((BASE + 10))
    if [[ $k == rsa ]]; then plain=$((BASE + 20)); fi
    cat >"$WORK/ringway-$k.toml" <<EOF
[server]
listen = "127.0.0.1:$plain"
tls_listen = "127.0.0.1:${PORT[ringway-$k]}"
workers = 1
cpus = [0]

[[tls.certificates]]
cert = "$WORK/$k.pem"
key = "$WORK/$k.key"
default = true

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:$ORIGIN"]
max_idle_per_shard = 64

[[routes]]
name = "all"
path_prefix = "/"
upstream = "origin"
EOF
    "$RW" check --config "$WORK/ringway-$k.toml" >/dev/null || die "ringway refused $WORK/ringway-$k.toml"
    "${N[@]}" taskset -c 0 "$RW" run --config "$WORK/ringway-$k.toml" >"$WORK/ringway-$k.log" 2>&1 &
    PIDS+=("$!") && PID[ringway-$k]=$!

    sed -e "s/@PORT@/${PORT[nginx-$k]}/" -e "s/@ORIGIN@/$ORIGIN/" -e "s#@CERT@#$WORK/$k.pem#" \
        -e "s#@KEY@#$WORK/$k.key#" -e "s#@PID@#nginx-$k.pid#" -e "s#error-tls.log#error-$k.log#" \
        "$ROOT/bench/nginx-tls.conf" >"$WORK/nginx-$k.conf"
    # env execs nginx: $! stays nginx's pid. Workers are forked from the
    # master, so OpenSSL's feature mask, read at start-up, carries over.
    "${N[@]}" taskset -c 0 env ${IA32CAP:+OPENSSL_ia32cap=$IA32CAP} nginx -p "$WORK/" -e "$WORK/nginx-$k.err" \
        -c "$WORK/nginx-$k.conf" -g 'daemon off;' \
        >"$WORK/nginx-$k.log" 2>&1 &
    PIDS+=("$!") && PID[nginx-$k]=$!
done
wait_ports "$ORIGIN" "${PORT[@]}" || die "a server is not listening (logs in $WORK; --keep keeps them)"
for s in "${!PORT[@]}"; do
    body=$(curl -sS --cacert "$WORK/ca.pem" "https://localhost:${PORT[$s]}/") || die "$s: curl failed"
    [[ $body == "hello, world" ]] || die "$s answered '$body', not the backend's body"
done

# ------------------------------------------------------------ runs

# shape -> certificate, loadgen flags, connections, unit counted
declare -A CERT=([full-ecdsa]=ecdsa [full-rsa]=rsa [resume]=ecdsa [keepalive]=ecdsa [full-ecdsa-12]=ecdsa [resume-12]=ecdsa)
declare -A FLAGS=(
    [full-ecdsa]="--conn-per-request --tls-version 1.3"
    [full-rsa]="--conn-per-request --tls-version 1.3"
    [resume]="--conn-per-request --tls-resume --tls-version 1.3"
    [keepalive]="--tls-version 1.3"
    [full-ecdsa-12]="--conn-per-request --tls-version 1.2"
    [resume-12]="--conn-per-request --tls-resume --tls-version 1.2"
)
declare -A CONNS=([full-ecdsa]=16 [full-rsa]=16 [resume]=16 [keepalive]=32 [full-ecdsa-12]=16 [resume-12]=16)
is_keepalive() { [[ $1 == keepalive ]]; }

RESULTS=() # "round shape server us_per_unit units_per_cpu_s wall_rate loadgen_cpu resumed_pct valid negotiated"
INVALID=0
COMMANDS=()
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

run_one() { # ROUND SHAPE SERVER
    local r=$1 shape=$2 srv=$3 name json cmd rc us per wall lcpu res valid why neg
    name=$srv-${CERT[$shape]}
    json=$WORK/r$r-$shape-$srv.json
    # shellcheck disable=SC2206 # FLAGS holds words
    cmd=("$LG" run "https://localhost:${PORT[$name]}/" --ca "$WORK/ca.pem" -c "${CONNS[$shape]}"
        -d "${DURATION}s" --warmup "${WARMUP}s" --cpus 1 --timeout 10s --server-pid "${PID[$name]}" --json "$json" ${FLAGS[$shape]})
    ((r == 1)) && COMMANDS+=("$(printf '%q ' taskset -c 1 "${cmd[@]}" |
        sed -e "s#$WORK#\$WORK#g" -e "s#$ROOT/##g" -e "s#--server-pid ${PID[$name]}#--server-pid \$PID_OF_${name//-/_}#")  # $shape, $srv")
    rc=0
    "${N[@]}" taskset -c 1 "${cmd[@]}" >"$WORK/r$r-$shape-$srv.out" 2>&1 || rc=$?
    [[ -s $json ]] || { cat "$WORK/r$r-$shape-$srv.out" >&2; die "loadgen wrote no report (exit $rc)"; }
    # Valid: no error of any kind, handshakes of the kind asked for, some
    # responses. The loadgen's own CPU bound is not a validity check here:
    # in the handshake shapes the client (certificate verification) is
    # often the slower side, which caps the rate but not the server's CPU
    # per handshake, the figure compared.
    why=$(jq -r '[ (if .result.errors.connect + .result.errors.timeout + .result.errors.read + .result.errors.write > 0 or (.result.errors.status | length) > 0 then "errors" else empty end),
                   (if .validity.tls_handshakes_ok == false then "handshakes not of the kind asked for" else empty end),
                   (if .result.responses == 0 then "no responses" else empty end) ] | join("; ")' "$json")
    if is_keepalive "$shape"; then
        us=$(jq -r '.result.server_cpu.us_per_response // "n/a"' "$json")
        per=$(jq -r '.result.server_cpu.responses_per_cpu_s // "n/a"' "$json")
    else
        us=$(jq -r '.result.server_cpu.us_per_handshake // "n/a"' "$json")
        per=$(jq -r '.result.server_cpu.handshakes_per_cpu_s // "n/a"' "$json")
        [[ $shape == resume* ]] || [[ $(jq -r '.result.tls.resumed' "$json") == 0 ]] || why+="${why:+; }resumed handshakes in a full run"
    fi
    wall=$(jq -r '.result.throughput_rps' "$json")
    lcpu=$(jq -r '.validity.loadgen_cpu * 100' "$json")
    res=$(jq -r '.result.tls.resumed_fraction * 100' "$json")
    neg=$(jq -r '.result.tls.negotiated // "none"' "$json" | tr ' ' '/')
    valid=yes
    [[ -z $why ]] || { valid=no; INVALID=1; log "round $r $shape $srv INVALID: $why"; }
    RESULTS+=("$r $shape $srv $us $per $wall $lcpu $res $valid $neg")
    log "round $r $shape $srv: $(printf '%.1f' "$us") us CPU per $(is_keepalive "$shape" && echo request || echo handshake), $(printf '%.0f' "$per") per CPU-second, $(printf '%.0f' "$wall")/s wall, loadgen CPU $(printf '%.0f' "$lcpu") %, resumed $(printf '%.1f' "$res") %${why:+ INVALID: $why}"
}

for ((r = 1; r <= ROUNDS; r++)); do
    for shape in "${SHAPES[@]}"; do
        if ((r % 2)); then order=(ringway nginx); else order=(nginx ringway); fi
        for srv in "${order[@]}"; do run_one "$r" "$shape" "$srv"; done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------ report

rows() { local x; for x in "${RESULTS[@]}"; do echo "$x"; done; }
col() { rows | awk -v s="$1" -v v="$2" -v c="$3" '$2 == s && $3 == v && $9 == "yes" { print $c }'; }
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.*f\n", d, v }'; }
# Per-round ratio of column C, A over B, rounds where both runs are valid.
ratios() { # SHAPE C A B
    rows | awk -v s="$1" -v c="$2" -v a="$3" -v b="$4" '
        $2 == s && $9 == "yes" { v[$1, $3] = $c; seen[$1] = 1 }
        END { for (r in seen) if (((r, a) in v) && ((r, b) in v) && v[r, b] > 0) printf "%d %.3f\n", r, v[r, a] / v[r, b] }' |
        sort -n | awk '{ print $2 }'
}

report() {
    local s unit rs target
    echo "# TLS: ringway (rustls, ring) and nginx (OpenSSL), side by side"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $ROUNDS rounds × ${DURATION} s measured (${WARMUP} s warm-up in the same loadgen process before each); servers on core 0, backend and loadgen on core 1; nice $NICE. Load average before $LOAD_BEFORE, after $LOAD_AFTER."
    echo
    echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; kernel \`$(uname -r)\`"
    echo "- nginx: \`$(nginx -v 2>&1 | sed 's/^nginx version: //')\`, $(nginx -V 2>&1 | grep -o 'running with OpenSSL [^ ]* [^)]*' || nginx -V 2>&1 | grep -o 'built with OpenSSL [0-9.a-z]*')"
    [[ -z $IA32CAP ]] || echo "- nginx ran with \`OPENSSL_ia32cap=$IA32CAP\` (OpenSSL's CPU features masked)"
    echo "- ringway: git \`$(git -C "$ROOT" rev-parse --short HEAD)\`$(git -C "$ROOT" diff --quiet HEAD -- src loadgen 2>/dev/null || echo ' (uncommitted changes)'), rustls $(awk '/^name = "rustls"$/ { getline; gsub(/"/, "", $3); print $3 }' "$ROOT/Cargo.lock"), ring $(awk '/^name = "ring"$/ { getline; gsub(/"/, "", $3); print $3 }' "$ROOT/Cargo.lock")"
    echo "- negotiated (the loadgen's view of each run's first handshake; \`-\`: no key exchange, a TLS 1.2 resumption):"
    for s in "${SHAPES[@]}"; do
        echo "  - $s: $(rows | awk -v s="$s" '$2 == s { print $3 " " $10 }' | sort -u | paste -sd';' | sed 's/;/; /g; s#/# #g')"
    done
    echo
    if ((INVALID)); then
        echo "**INVALID RUNS** (marked \`no\` below; left out of the medians)."
        echo
    fi
    echo "| shape | figure | ringway, median | nginx, median | ringway / nginx, median of per-round ratios | per round | target |"
    echo "|---|---|---:|---:|---:|---|---|"
    local c d
    for s in "${SHAPES[@]}"; do
        # keepalive: CPU µs per request (column 4); the rest: handshakes per CPU-second (5).
        if is_keepalive "$s"; then
            unit="server CPU µs per request" target="≤ 1.1" c=4 d=2
        else
            unit="handshakes per CPU-second" target="≥ 1" c=5 d=0
        fi
        rs=$(ratios "$s" "$c" ringway nginx)
        printf '| %s | %s | %s | %s | **%s** | %s | %s |\n' "$s" "$unit" \
            "$(fmt "$(col "$s" ringway "$c" | median)" "$d")" "$(fmt "$(col "$s" nginx "$c" | median)" "$d")" \
            "$(fmt "$(median <<<"$rs")" 3)" "$(paste -sd' ' <<<"$rs")" "$target"
    done
    echo
    echo "Handshakes per CPU-second = handshakes completed in the window / the server's on-CPU seconds in it (per core); each one includes its proxied request and the connection's accept and close."
    echo
    echo "## Every run"
    echo
    echo "| round | shape | server | server CPU µs per handshake (per request: keepalive) | per CPU-second | wall rate /s | loadgen CPU % | resumed % | valid |"
    echo "|---:|---|---|---:|---:|---:|---:|---:|---|"
    rows | while read -r r s v us per wall lcpu res valid _; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$s" "$v" "$(fmt "$us" 1)" "$(fmt "$per" 0)" \
            "$(fmt "$wall" 0)" "$(fmt "$lcpu" 0)" "$(fmt "$res" 1)" "$valid"
    done
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/tls-compare.sh --rounds $ROUNDS --duration $DURATION --warmup $WARMUP --shapes $(IFS=,; echo "${SHAPES[*]}")$( ((BUILD)) || echo ' --no-build')${IA32CAP:+ --openssl-ia32cap '$IA32CAP'}"
    echo "# servers (configs in \$WORK: ringway-{ecdsa,rsa}.toml, nginx-{ecdsa,rsa}.conf from bench/nginx-tls.conf):"
    echo "nice -n $NICE taskset -c 0 target/release/ringway run --config \$WORK/ringway-ecdsa.toml"
    echo "nice -n $NICE taskset -c 0 nginx -p \$WORK/ -c \$WORK/nginx-ecdsa.conf -g 'daemon off;'"
    echo "nice -n $NICE taskset -c 1 target/release/ringway-loadgen serve --listen 127.0.0.1:$ORIGIN --cpus 1"
    echo "# load, round 1 (every round the same):"
    for c in "${COMMANDS[@]}"; do echo "nice -n $NICE $c"; done
    echo '```'
}

REPORT=$(report)
echo "$REPORT"
if [[ -n $OUT ]]; then echo "$REPORT" >"$OUT" && log "report written to $OUT"; fi
((INVALID == 0)) || exit 3
