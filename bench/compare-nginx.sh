#!/usr/bin/env bash
# bench/compare-nginx.sh: side-by-side CPU time per proxied request, ringway
# vs nginx (and HAProxy when installed), on one machine in one run.
#
# Owns: starting an nginx origin, the proxies under test and wrk on loopback,
# reading each proxy's CPU time from /proc, and printing a markdown report.
# Must never: touch /etc, /var/log or any process it did not start, listen on
# anything but 127.0.0.1, or run unbounded (every wait has a deadline and a
# watchdog ends the run).
#
# Method (bench/README.md): proxy pinned to core 0; origin and wrk pinned to
# core 1; CPU µs per request = (utime+stime delta of the proxy's processes
# over the wrk run) / requests wrk completed. Rounds alternate the proxies;
# the report gives per-proxy medians and the median of per-round ratios.
set -Eeuo pipefail

usage() {
    cat <<'EOF'
usage: bench/compare-nginx.sh [options]

  --rounds N         measured rounds per proxy (default 5, minimum 1)
  --duration S       seconds per measured wrk run (default 10)
  --warmup S         seconds of wrk before each measured run (default 2)
  --connections N    wrk connections (default 32; wrk always uses 1 thread)
  --only LIST        comma-separated subset of: ringway,nginx,haproxy, and
                     ringway-defer, ringway-coop, ringway-plain (ringway
                     with that server.ring_setup; plain "ringway" is "auto"),
                     ringway-base (the binary in $RINGWAY_BASE_BIN, e.g. an
                     older commit's build, to measure a change side by side)
                     (default: ringway,nginx,haproxy; haproxy only when installed)
  --no-build         do not run cargo build (use target/release/ringway as is)
  --no-origin-ref    skip the "origin direct" reference run
  --out FILE         also write the markdown report to FILE
  --keep             keep the work directory (rendered configs, wrk output, logs)
  -h, --help         this text

Ports (env): ORIGIN_PORT=18000 RINGWAY_PORT=18080 NGINX_PORT=18081
             HAPROXY_PORT=18082 ORIGIN_REF_PORT=18001 RINGWAY_DEFER_PORT=18083
             RINGWAY_COOP_PORT=18084 RINGWAY_PLAIN_PORT=18085
             RINGWAY_BASE_PORT=18086
Exit: 0 all runs valid; 1 setup failure; 2 bad arguments;
      3 report written but some run was INVALID (errors, non-2xx, bad body).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# cpu_ns (on-CPU ns from schedstat, the cross-check of the tick count) and
# median.
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ROUNDS=5 DURATION=10 WARMUP=2 CONNS=32 ONLY="" OUT="" BUILD=1 ORIGIN_REF=1 KEEP=0
ORIGIN_PORT=${ORIGIN_PORT:-18000} ORIGIN_REF_PORT=${ORIGIN_REF_PORT:-18001}
RINGWAY_PORT=${RINGWAY_PORT:-18080} NGINX_PORT=${NGINX_PORT:-18081}
HAPROXY_PORT=${HAPROXY_PORT:-18082}
RINGWAY_DEFER_PORT=${RINGWAY_DEFER_PORT:-18083} RINGWAY_COOP_PORT=${RINGWAY_COOP_PORT:-18084}
RINGWAY_PLAIN_PORT=${RINGWAY_PLAIN_PORT:-18085} RINGWAY_BASE_PORT=${RINGWAY_BASE_PORT:-18086}
PROXY_CPU=0 LOAD_CPU=1
BODY=$'hello, world\n'

die() { echo "compare-nginx: $*" >&2; exit 1; }
bad() { echo "compare-nginx: $*" >&2; usage >&2; exit 2; }
log() { echo "compare-nginx: $*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while (($#)); do
    case $1 in
        --rounds) ROUNDS=${2:-}; shift 2 ;;
        --duration) DURATION=${2:-}; shift 2 ;;
        --warmup) WARMUP=${2:-}; shift 2 ;;
        --connections) CONNS=${2:-}; shift 2 ;;
        --only) ONLY=${2:-}; shift 2 ;;
        --out) OUT=${2:-}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-origin-ref) ORIGIN_REF=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) bad "unknown argument: $1" ;;
    esac
done
is_pos() { is_uint "$1" && (($1 >= 1)); }
is_pos "$ROUNDS" || bad "--rounds must be a positive integer"
is_pos "$DURATION" || bad "--duration must be a positive integer"
is_uint "$WARMUP" || bad "--warmup must be a non-negative integer"
is_pos "$CONNS" || bad "--connections must be a positive integer"
[[ -z $OUT || -d $(dirname "$OUT") ]] || bad "--out: directory $(dirname "$OUT") does not exist"

PROXIES=()
if [[ -n $ONLY ]]; then
    IFS=, read -r -a want <<<"$ONLY"
    for p in "${want[@]}"; do
        case $p in
            ringway|ringway-defer|ringway-coop|ringway-plain|ringway-base|nginx|haproxy) PROXIES+=("$p") ;;
            *) bad "--only: unknown proxy '$p'" ;;
        esac
    done
else
    PROXIES=(ringway nginx)
    command -v haproxy >/dev/null && PROXIES+=(haproxy)
fi
((${#PROXIES[@]})) || bad "--only: no proxy given"
has() { local x; for x in "${PROXIES[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }
has_ringway() { local x; for x in "${PROXIES[@]}"; do [[ $x == ringway* ]] && return 0; done; return 1; }

for tool in nginx wrk taskset curl awk pgrep ss; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y nginx-light wrk util-linux curl procps iproute2)"
done
has haproxy && { command -v haproxy >/dev/null || die "haproxy not found (apt-get install -y haproxy)"; }
(($(nproc) >= 2)) || die "needs at least 2 cores (proxy on core $PROXY_CPU, load on core $LOAD_CPU)"
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- processes

WORK=$(mktemp -d /tmp/ringway-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers run as nobody and must reach their prefix
STARTED=()        # pids this script started; the only ones it ever signals
declare -A PID    # server name -> pid of the process it started
WATCHDOG=""
COMMANDS=()       # every command that matters, in order, for the report

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    [[ -n $WATCHDOG ]] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
    for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
    if ((KEEP)); then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready NAME PID PORT [LOGFILE PATTERN]: port accepting (and pattern seen
# in the log when given) within 15 s, the process still alive.
wait_ready() {
    local name=$1 pid=$2 port=$3 logf=${4:-} pat=${5:-} i
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || { tail -20 "$WORK/$name.stderr" >&2 || true; die "$name exited during start-up"; }
        if port_open "$port" && { [[ -z $pat ]] || grep -q -- "$pat" "$logf" 2>/dev/null; }; then
            return 0
        fi
        sleep 0.1
    done
    tail -20 "$WORK/$name.stderr" >&2 || true
    die "$name not ready on 127.0.0.1:$port after 15 s"
}

# spawn NAME CMD...: start CMD in the background, stderr to $WORK/NAME.stderr.
# taskset execs its command, so $! is the server's own pid.
spawn() {
    local name=$1; shift
    port_in_use_check "$name"
    COMMANDS+=("$(printf '%q ' "$@")")
    "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
    STARTED+=("$!")
    PID[$name]=$!
}
port_in_use_check() {
    local port
    port=$(port_of "$1")
    ! port_open "$port" || die "127.0.0.1:$port ($1) is already in use; set $(tr a-z- A-Z_ <<<"$1")_PORT"
}
port_of() {
    case $1 in
        origin) echo "$ORIGIN_PORT" ;;
        origin-ref) echo "$ORIGIN_REF_PORT" ;;
        ringway) echo "$RINGWAY_PORT" ;;
        ringway-defer) echo "$RINGWAY_DEFER_PORT" ;;
        ringway-coop) echo "$RINGWAY_COOP_PORT" ;;
        ringway-plain) echo "$RINGWAY_PLAIN_PORT" ;;
        ringway-base) echo "$RINGWAY_BASE_PORT" ;;
        nginx) echo "$NGINX_PORT" ;;
        haproxy) echo "$HAPROXY_PORT" ;;
    esac
}

# Renders a config template: the checked-in files use the default ports; the
# copy in $WORK gets the ports of this run.
render() {
    sed -e "s/127\.0\.0\.1:18000/127.0.0.1:$ORIGIN_PORT/g" \
        -e "s/127\.0\.0\.1:18080/127.0.0.1:$RINGWAY_PORT/g" \
        -e "s/127\.0\.0\.1:18081/127.0.0.1:$NGINX_PORT/g" \
        -e "s/127\.0\.0\.1:18082/127.0.0.1:$HAPROXY_PORT/g" "$1"
}

start_nginx_conf() { # NAME CONF CPU
    spawn "$1" taskset -c "$3" nginx -p "$WORK/" -e "$WORK/$1.error.log" -c "$2" -g 'daemon off;'
    wait_ready "$1" "${PID[$1]}" "$(port_of "$1")"
}
start_origin() {
    render "$ROOT/config/nginx-origin.conf" >"$WORK/nginx-origin.conf"
    start_nginx_conf origin "$WORK/nginx-origin.conf" "$LOAD_CPU"
}
start_origin_ref() {
    # The same origin, but on the proxies' core, so its CPU per request is
    # measured under the same conditions as theirs.
    render "$ROOT/config/nginx-origin.conf" |
        sed -e "s/127\.0\.0\.1:$ORIGIN_PORT/127.0.0.1:$ORIGIN_REF_PORT/" \
            -e "s/^worker_cpu_affinity .*/worker_cpu_affinity 01;/" \
            -e "s/nginx-origin\.pid/nginx-origin-ref.pid/" \
            -e "s/error-origin\.log/error-origin-ref.log/" >"$WORK/nginx-origin-ref.conf"
    start_nginx_conf origin-ref "$WORK/nginx-origin-ref.conf" "$PROXY_CPU"
}
start_nginx() {
    render "$ROOT/config/nginx.conf" >"$WORK/nginx.conf"
    start_nginx_conf nginx "$WORK/nginx.conf" "$PROXY_CPU"
}
start_haproxy() {
    render "$ROOT/config/haproxy.cfg" >"$WORK/haproxy.cfg"
    spawn haproxy taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg"
    wait_ready haproxy "${PID[haproxy]}" "$HAPROXY_PORT"
}
start_ringway_as() { # NAME RING_SETUP [BINARY]
    local port ring=""
    port=$(port_of "$1")
    # An older build may not know ring_setup: leave it out for "auto".
    [[ $2 == auto ]] || ring="ring_setup = \"$2\""
    render "$ROOT/bench/ringway-bench.toml" |
        sed -e "s/127\.0\.0\.1:$RINGWAY_PORT/127.0.0.1:$port/" \
            -e "s/^io = .*/&\n$ring/" >"$WORK/$1.toml"
    spawn "$1" taskset -c "$PROXY_CPU" "${3:-$RINGWAY_BIN}" run --config "$WORK/$1.toml"
    wait_ready "$1" "${PID[$1]}" "$port" "$WORK/$1.stderr" '"msg":"listening"'
}
start_ringway() { start_ringway_as ringway auto; }
start_ringway-defer() { start_ringway_as ringway-defer defer_taskrun; }
start_ringway-coop() { start_ringway_as ringway-coop coop_taskrun; }
start_ringway-plain() { start_ringway_as ringway-plain plain; }
start_ringway-base() { start_ringway_as ringway-base auto "$RINGWAY_BASE_BIN"; }

# Every proxy must answer exactly like the origin before it is measured.
check_body() { # NAME
    local port got code
    port=$(port_of "$1")
    got=$(curl -sS --max-time 5 -o "$WORK/$1.body" -w '%{http_code}' "http://127.0.0.1:$port/") || got=curl-failed
    code=$got
    if [[ $code != 200 ]] || [[ $(<"$WORK/$1.body")$'\n' != "$BODY" ]] || (($(wc -c <"$WORK/$1.body") != ${#BODY})); then
        log "$1: GET / gave status $code and body '$(head -c 120 "$WORK/$1.body" 2>/dev/null | tr -c '[:print:]' '.')'"
        return 1
    fi
}

# ---------------------------------------------------------------- CPU time

# All pids whose CPU counts for a server: the process and its children
# (nginx: master + worker; ringway and haproxy: one process).
tree_pids() { echo "$1" "$(pgrep -P "$1" 2>/dev/null | paste -sd' ' || true)"; }

# utime+stime in clock ticks, summed over PIDS (fields 14 and 15 of stat;
# the comm field may hold spaces, so count from after its closing paren).
cpu_ticks() {
    local total=0 p s f
    for p in "$@"; do
        s=$(<"/proc/$p/stat") || die "process $p vanished during a run"
        s=${s##*) }
        read -r -a f <<<"$s"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
# Established connections from PIDS to the origin: shows the proxy pools its
# upstream connections (a handful, steady) rather than opening one per request.
upstream_conns() {
    local p n=0 c
    for p in "$@"; do
        c=$(ss -tnpH state established "( dport = :$ORIGIN_PORT )" 2>/dev/null | grep -c "pid=$p," || true)
        n=$((n + c))
    done
    echo "$n"
}
# "busy total" ticks of one core from /proc/stat: busy counts user, nice,
# system, irq, softirq and steal; total adds idle and iowait.
core_ticks() {
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
affinity() { # PIDS -> "comm:cpus" per thread
    local p t
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            printf '%s/%s:%s ' "$(<"$t/comm")" "${t##*/}" "$(awk '/^Cpus_allowed_list/{print $2}' "$t/status")"
        done
    done
}

# ---------------------------------------------------------------- wrk

wrk_cmd() { # PORT SECONDS -> the command in WRK[]
    WRK=(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$2"s --latency "http://127.0.0.1:$1/")
}

# Parses wrk output into "requests rps p50_us p99_us non2xx sockerr".
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /m$/) return v * 60e6
            if (v ~ /s$/) return v * 1e6
            return v + 0
        }
        / requests in /            { req = $1 }
        /^Requests\/sec:/          { rps = $2 }
        /^ +50%/                   { p50 = us($2) }
        /^ +99%/                   { p99 = us($2) }
        /Non-2xx or 3xx responses/ { non2xx = $NF }
        /Socket errors:/           { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
        END { printf "%d %.0f %.0f %.0f %d %d\n", req, rps, p50, p99, non2xx, err }
    ' "$1"
}

RESULTS=() # "round name requests rps ticks ns p50 p99 non2xx sockerr valid upstream_conns core_other_pct"
INVALID=0

# measure ROUND NAME: warm up, then one timed wrk run against NAME.
measure() {
    local round=$1 name=$2 port pids t0 t1 n0 n1 out parsed valid=yes req rps p50 p99 non2xx err
    port=$(port_of "$name")
    read -r -a pids <<<"$(tree_pids "${PID[$name]}")"
    check_body "$name" || valid=no
    if ((WARMUP > 0)); then
        wrk_cmd "$port" "$WARMUP"
        timeout $((WARMUP + 30)) "${WRK[@]}" >/dev/null 2>&1 || true
    fi
    out="$WORK/wrk-$round-$name.txt"
    read -r b0 w0 <<<"$(core_ticks "$PROXY_CPU")"
    t0=$(cpu_ticks "${pids[@]}") n0=$(cpu_ns "${pids[@]}")
    wrk_cmd "$port" "$DURATION"
    timeout $((DURATION + 30)) "${WRK[@]}" >"$out" 2>&1 || valid=no
    t1=$(cpu_ticks "${pids[@]}") n1=$(cpu_ns "${pids[@]}")
    read -r b1 w1 <<<"$(core_ticks "$PROXY_CPU")"
    up=$(upstream_conns "${pids[@]}")
    # Share of the proxy's core used by anything but the proxy (other
    # processes, hypervisor steal): high values mark a disturbed run.
    other=$(awk -v b=$((b1 - b0 - (t1 - t0))) -v w=$((w1 - w0)) 'BEGIN { printf "%.0f", (w > 0 && b > 0) ? 100 * b / w : 0 }')
    parsed=$(parse_wrk "$out")
    read -r req rps p50 p99 non2xx err <<<"$parsed"
    ((req > 0 && non2xx == 0 && err == 0)) || valid=no
    [[ $valid == yes ]] || { INVALID=1; log "round $round $name INVALID (see below)"; sed 's/^/    /' "$out" >&2; }
    RESULTS+=("$round $name $req $rps $((t1 - t0)) $((n1 - n0)) $p50 $p99 $non2xx $err $valid $up $other")
    log "round $round $name: $req requests, $rps req/s, $((t1 - t0)) ticks, valid=$valid"
}

# ---------------------------------------------------------------- run

RINGWAY_BIN="$ROOT/target/release/ringway"
if has_ringway; then
    if ((BUILD)); then
        log "building ringway (cargo build --release --bin ringway)"
        COMMANDS+=("cargo build --release --bin ringway")
        (cd "$ROOT" && timeout 1800 cargo build --release --bin ringway) >&2 || die "cargo build failed"
    fi
    [[ -x $RINGWAY_BIN ]] || die "$RINGWAY_BIN not found (build it or drop ringway with --only nginx)"
    if has ringway-base; then
        [[ -x ${RINGWAY_BASE_BIN:-} ]] || die "ringway-base needs RINGWAY_BASE_BIN=/path/to/ringway"
        COMMANDS+=("RINGWAY_BASE_BIN=$RINGWAY_BASE_BIN ($("$RINGWAY_BASE_BIN" --version 2>&1 | head -1))")
    fi
fi

# Bounded: every wrk run plus slack for start-up and checks.
BUDGET=$(((ROUNDS * ${#PROXIES[@]} + 1) * (DURATION + WARMUP + 10) + 120))
# The watchdog takes its sleep down with it when cleanup ends it early.
(
    trap 'kill "$sp" 2>/dev/null; exit 0' TERM
    sleep "$BUDGET" &
    sp=$!
    wait "$sp" && log "watchdog: over $BUDGET s, stopping" && kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_origin
check_body origin || die "origin does not answer 200 \"hello, world\\n\""

ORIGIN_REF_RESULT="" ORIGIN_REF_AFFINITY=""
if ((ORIGIN_REF)); then
    start_origin_ref
    measure 0 origin-ref
    ORIGIN_REF_RESULT=${RESULTS[-1]}
    unset 'RESULTS[-1]'
    read -r -a pids <<<"$(tree_pids "${PID[origin-ref]}")"
    ORIGIN_REF_AFFINITY="origin direct: $(affinity "${pids[@]}")"
    stop_pid "${PID[origin-ref]}" # core 0 belongs to the proxies from here on
fi

for p in "${PROXIES[@]}"; do "start_$p"; done
AFFINITY=(${ORIGIN_REF_AFFINITY:+"$ORIGIN_REF_AFFINITY"})
for p in origin "${PROXIES[@]}"; do
    read -r -a pids <<<"$(tree_pids "${PID[$p]}")"
    AFFINITY+=("$p: $(affinity "${pids[@]}")")
done

n=${#PROXIES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    # Rotate the order each round so no proxy always runs first or last.
    for ((i = 0; i < n; i++)); do
        measure "$r" "${PROXIES[$(((i + r - 1) % n))]}"
    done
done

# ---------------------------------------------------------------- report

fmt() { awk -v v="$1" -v d="${2:-2}" 'BEGIN { if (v == "n/a") print v; else printf "%.*f\n", d, v }'; }
us_per_req() { awk -v t="$1" -v hz="$CLK_TCK" -v r="$2" 'BEGIN { if (r > 0) printf "%.3f\n", t * 1e6 / hz / r; else print "n/a" }'; }
ns_per_req() { awk -v n="$1" -v r="$2" 'BEGIN { if (r > 0) printf "%.3f\n", n / 1e3 / r; else print "n/a" }'; }

# field NAME COLUMN: that column of NAME's valid rows, one per line, round order.
rows() { local x; for x in "${RESULTS[@]}"; do echo "$x"; done; }
col_cpu() { rows | awk -v n="$1" -v hz="$CLK_TCK" '$2 == n && $11 == "yes" { printf "%.3f\n", $5 * 1e6 / hz / $3 }'; }
col() { rows | awk -v n="$1" -v c="$2" '$2 == n && $11 == "yes" { print $c }'; }
ratio_list() { # A B -> per-round CPU ratio A/B, rounds where both valid
    rows | awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" '
        $11 == "yes" { cpu[$1, $2] = $5 * 1e6 / hz / $3; rounds[$1] = 1 }
        END { for (r in rounds) if (((r, a) in cpu) && ((r, b) in cpu) && cpu[r, b] > 0) printf "%d %.3f\n", r, cpu[r, a] / cpu[r, b] }' | sort -n | awk '{ print $2 }'
}

report() {
    local p cpus rps p99 line
    echo "# CPU time per proxied request: ${PROXIES[*]}"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $ROUNDS rounds × ${DURATION} s per proxy (warmup ${WARMUP} s before each), \`wrk -t1 -c$CONNS\`; proxy on core $PROXY_CPU, nginx origin and wrk on core $LOAD_CPU; 13-byte body. Load average before the run: $LOAD_BEFORE."
    echo
    if ((INVALID)); then
        echo "**INVALID RUN**: at least one run had socket errors, non-2xx responses, a wrong body or a wrk failure (marked \`no\` below); medians use valid runs only."
    else
        # shellcheck disable=SC2016,SC2028 # literal markdown, nothing to expand
        echo 'All runs valid: no socket errors, no non-2xx responses, every proxy answered 200 `hello, world\n` before each run.'
    fi
    echo
    echo "## Summary (median over valid rounds)"
    echo
    echo "| proxy | CPU µs/request | min – max | requests/s | p99 latency µs | valid rounds |"
    echo "|---|---:|---:|---:|---:|---:|"
    for p in "${PROXIES[@]}"; do
        cpus=$(col_cpu "$p")
        printf '| %s | **%s** | %s – %s | %s | %s | %s/%s |\n' "$p" \
            "$(fmt "$(median <<<"$cpus")")" "$(fmt "$(median <<<"$(sort -g <<<"$cpus" | head -1)")")" \
            "$(fmt "$(median <<<"$(sort -g <<<"$cpus" | tail -1)")")" \
            "$(fmt "$(col "$p" 4 | median)" 0)" "$(fmt "$(col "$p" 8 | median)" 0)" \
            "$(grep -c . <<<"$cpus" || true)" "$ROUNDS"
    done
    if [[ -n $ORIGIN_REF_RESULT ]]; then
        read -r _ _ req rps ticks _ _ p99 _ _ valid _ <<<"$ORIGIN_REF_RESULT"
        # shellcheck disable=SC2016 # literal markdown
        printf '| origin direct (nginx %s on core %s, no proxy; 1 run, reference) | %s | | %s | %s | %s |\n' \
            '`return 200`' "$PROXY_CPU" "$(us_per_req "$ticks" "$req")" "$rps" "$p99" "$([[ $valid == yes ]] && echo 1/1 || echo 0/1)"
    fi
    echo
    if has nginx && ((${#PROXIES[@]} > 1)); then
        echo "## CPU ratios to nginx (per round, then the median)"
        echo
        echo "| ratio | median | per round |"
        echo "|---|---:|---|"
        for p in "${PROXIES[@]}"; do
            [[ $p == nginx ]] && continue
            line=$(ratio_list "$p" nginx)
            printf '| %s / nginx | **%s** | %s |\n' "$p" "$(fmt "$(median <<<"$line")" 3)" "$(paste -sd' ' <<<"$line" | sed 's/ /, /g')"
        done
        echo
        echo "Below 1 means less CPU per request than nginx."
        echo
    fi
    echo "## Every run"
    echo
    echo "| round | proxy | requests | req/s | CPU ticks | CPU µs/req (stat) | CPU µs/req (schedstat) | p50 µs | p99 µs | non-2xx | socket errors | upstream conns | other load on core $PROXY_CPU | valid |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for line in ${ORIGIN_REF_RESULT:+"$ORIGIN_REF_RESULT"} "${RESULTS[@]}"; do
        read -r r p req rps ticks ns p50 p99 non2xx err valid up other <<<"$line"
        [[ $p == origin-ref ]] && p="origin direct" r=ref up=-
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s |\n' \
            "$r" "$p" "$req" "$rps" "$ticks" "$(us_per_req "$ticks" "$req")" "$(ns_per_req "$ns" "$req")" \
            "$p50" "$p99" "$non2xx" "$err" "$up" "$other" "$valid"
    done
    echo
    echo "CPU ticks: utime+stime of the proxy's processes (all threads; nginx master+worker) from \`/proc/PID/stat\`, CLK_TCK=$CLK_TCK; the schedstat column is the same quantity from \`/proc/PID/task/*/schedstat\` in ns, as a resolution check. Upstream conns: connections from the proxy to the origin still established after the run (its keep-alive pool). Other load on core $PROXY_CPU: busy time of that core (from \`/proc/stat\`, steal included) not spent in the proxy, as a share of the run; more than a few % means another process or the hypervisor took part of the core and that run is less trustworthy."
    echo
    echo "## Environment"
    echo
    echo "- kernel: \`$(uname -r)\`"
    echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
    echo "- nginx: \`$(nginx -v 2>&1)\`"
    command -v haproxy >/dev/null && echo "- haproxy: \`$(haproxy -v 2>&1 | head -1)\`"
    echo "- wrk: \`$(wrk -v 2>&1 | head -1)\`"
    if has_ringway; then
        echo "- ringway: \`$("$RINGWAY_BIN" --version 2>&1 | head -1)\`, git \`$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no commit')\`$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
    fi
    echo "- thread affinity (name/tid:cpus):"
    for line in "${AFFINITY[@]}"; do echo "  - $line"; done
    echo
    echo "## Commands"
    echo
    echo "Configs are rendered from \`config/nginx-origin.conf\`, \`config/nginx.conf\`, \`config/haproxy.cfg\` and \`bench/ringway-bench.toml\` with this run's ports into a temporary directory (\`$WORK\`)."
    echo
    echo '```sh'
    echo "bench/compare-nginx.sh --rounds $ROUNDS --duration $DURATION --warmup $WARMUP --connections $CONNS --only $(IFS=,; echo "${PROXIES[*]}")$( ((BUILD)) || echo ' --no-build')$( ((ORIGIN_REF)) || echo ' --no-origin-ref')"
    for line in "${COMMANDS[@]}"; do echo "$line"; done
    local servers=("${PROXIES[@]}")
    ((ORIGIN_REF)) && servers=(origin-ref "${servers[@]}")
    for p in "${servers[@]}"; do
        wrk_cmd "$(port_of "$p")" "$WARMUP"
        echo "${WRK[*]}   # $p warm-up"
        wrk_cmd "$(port_of "$p")" "$DURATION"
        echo "${WRK[*]}   # $p measured; CPU from /proc/${PID[$p]}/stat (+ children) before and after"
    done
    echo '```'
}

REPORT=$(report)
echo "$REPORT"
if [[ -n $OUT ]]; then
    echo "$REPORT" >"$OUT"
    log "report written to $OUT"
fi
((INVALID == 0)) || exit 3
