#!/usr/bin/env bash
# bench/matrix.sh: CPU per request for ringway, nginx, HAProxy and Envoy over
# several traffic shapes, side by side in one run on one machine.
#
# Owns: the shapes (response bodies of 0 B/4 KiB/64 KiB/1 MiB, 64 KiB
# uploads, Connection: close on every request, "all features on"), starting
# an nginx origin and every proxy from the configs in config/ and
# bench/ringway-bench.toml, wrk on loopback, CPU time from /proc, and the
# Markdown report. With --latency it then runs `bench/compare.sh` (open-loop
# latency at 50 % of each proxy's own max, idle memory) into the same folder.
# Must never: listen on anything but 127.0.0.1, touch a process it did not
# start, or run unbounded (a watchdog ends it).
#
# Method (bench/README.md): every proxy has one worker pinned to core 0; the
# origin and wrk (1 thread, 32 connections) share core 1. Per round, every
# proxy runs every shape, in a rotated order; CPU µs per request is the
# proxy's on-CPU time (schedstat, all threads and children) over the
# measured wrk run divided by the responses. Each ratio is taken per round
# against the better of nginx and HAProxy in that round, then the median.
set -Eeuo pipefail

usage() {
    cat <<'EOF'
usage: bench/matrix.sh [options]

  --rounds N       rounds (default 3); each runs every proxy on every shape
  --duration S     seconds per measured wrk run (default 5)
  --warmup S       seconds of wrk before each measured run (default 1)
  --only LIST      proxies, comma-separated: ringway,nginx,haproxy,envoy,ringway-base
                   (default: all found but ringway-base); ringway-base is the binary
                   in $RINGWAY_BASE_BIN (e.g. a build before a change), same config
  --shapes LIST    comma-separated subset of: small,b0,b4k,b64k,b1m,upload,close,features
  --latency        afterwards run bench/compare.sh (latency at 50 % of own max, idle memory)
  --profile DIR    after the rounds, a flame graph of ringway per shape into DIR
                   (perf + inferno, as flamegraphs/profile.sh; not during measured runs)
  --no-build       use target/release/ringway as it is
  --out DIR        report folder (default bench/results/<UTC date-time>-matrix)
  -h, --help       this text

Exit: 0 all runs valid; 1 setup failure; 2 bad arguments;
      3 report written but some run was INVALID (errors, non-2xx, wrong length).
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
ROUNDS=3 DURATION=5 WARMUP=1 ONLY="" SHAPES="small,b0,b4k,b64k,b1m,upload,close,features"
LATENCY=0 BUILD=1 OUT="" PROFILE=""
PROXY_CPU=0 LOAD_CPU=1 CONNS=32
# Ports (env); the checked-in configs use 18000 (origin) and 18080-18083, and
# the copies this script starts are rendered with these.
ORIGIN_PORT=${ORIGIN_PORT:-18000}
declare -A PORT=([ringway]=${RINGWAY_PORT:-18080} [nginx]=${NGINX_PORT:-18081}
    [haproxy]=${HAPROXY_PORT:-18082} [envoy]=${ENVOY_PORT:-18083} [ringway-base]=${RINGWAY_BASE_PORT:-18084})
# The bench-only HS256 secret; config/haproxy.cfg and config/envoy.yaml carry
# the same string for the "features" shape.
SECRET=ringway-bench-hs256-secret-not-for-production

die() { echo "matrix: $*" >&2; exit 1; }
bad() { echo "matrix: $*" >&2; usage >&2; exit 2; }
log() { echo "matrix: $*" >&2; }

while (($#)); do
    case $1 in
        --rounds) ROUNDS=${2:-}; shift 2 ;;
        --duration) DURATION=${2:-}; shift 2 ;;
        --warmup) WARMUP=${2:-}; shift 2 ;;
        --only) ONLY=${2:-}; shift 2 ;;
        --shapes) SHAPES=${2:-}; shift 2 ;;
        --latency) LATENCY=1; shift ;;
        --profile) PROFILE=${2:-}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT=${2:-}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) bad "unknown argument: $1" ;;
    esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || bad "--rounds must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || bad "--duration must be a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || bad "--warmup must be a non-negative integer"

# ---------------------------------------------------------------- shapes

# shape -> "path body-bytes description" (body: of the response).
declare -A SHAPE=(
    [small]="/ 13 13-byte body, keep-alive"
    [b0]="/b/0 0 0 B body"
    [b4k]="/b/4k 4096 4 KiB body"
    [b64k]="/b/64k 65536 64 KiB body"
    [b1m]="/b/1m 1048576 1 MiB body"
    [upload]="/upload 13 64 KiB upload (POST), 13-byte answer"
    [close]="/ 13 13-byte body, \`Connection: close\` on every request"
    [features]="/f/ 13 all features: JWT (HS256, cached where the proxy caches) + one rate limit + metrics"
)
# text SHAPE: its description.
text() { local _p _b t; read -r _p _b t <<<"${SHAPE[$1]}"; echo "$t"; }
IFS=, read -r -a SHAPE_LIST <<<"$SHAPES"
for s in "${SHAPE_LIST[@]}"; do [[ -n ${SHAPE[$s]:-} ]] || bad "--shapes: unknown shape '$s'"; done

ENVOY="$ROOT/target/envoy-venv/bin/envoy"
PROXIES=()
if [[ -n $ONLY ]]; then
    IFS=, read -r -a PROXIES <<<"$ONLY"
    for p in "${PROXIES[@]}"; do [[ -n ${PORT[$p]:-} ]] || bad "--only: unknown proxy '$p'"; done
else
    PROXIES=(ringway nginx)
    command -v haproxy >/dev/null && PROXIES+=(haproxy)
    [[ -x $ENVOY ]] && PROXIES+=(envoy)
fi
if [[ " ${PROXIES[*]} " == *" ringway-base "* ]]; then
    [[ -x ${RINGWAY_BASE_BIN:-} ]] || die "ringway-base needs RINGWAY_BASE_BIN=/path/to/ringway"
fi
for tool in nginx wrk taskset curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found (bench/setup.sh)"
done
(($(nproc) >= 2)) || die "needs at least 2 cores"

# ---------------------------------------------------------------- processes

WORK=$(mktemp -d /tmp/ringway-matrix.XXXXXX)
chmod 755 "$WORK" # nginx workers run as nobody and must reach their prefix
STARTED=() WATCHDOG=""
declare -A PID
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    [[ -n $WATCHDOG ]] && kill "$WATCHDOG" 2>/dev/null
    for p in "${STARTED[@]}"; do stop_pid "$p"; done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# start NAME PORT CMD...: CMD in the background on the proxies' core (the
# origin passes its own taskset), ready when PORT accepts within 15 s.
start() {
    local name=$1 port=$2 i
    shift 2
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "127.0.0.1:$port ($name) is already in use"
    "$@" >"$WORK/$name.out" 2>&1 &
    STARTED+=("$!") PID[$name]=$!
    for ((i = 0; i < 150; i++)); do
        kill -0 "${PID[$name]}" 2>/dev/null || { tail -20 "$WORK/$name.out" >&2; die "$name exited during start-up"; }
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$name not ready on 127.0.0.1:$port after 15 s"
}

# render FILE: a config with this run's ports, into $WORK under its own name.
render() {
    sed -e "s/127\.0\.0\.1:18000/127.0.0.1:$ORIGIN_PORT/g; s/port_value: 18000/port_value: $ORIGIN_PORT/" \
        -e "s/127\.0\.0\.1:18080/127.0.0.1:${PORT[ringway]}/; s/127\.0\.0\.1:18081/127.0.0.1:${PORT[nginx]}/" \
        -e "s/127\.0\.0\.1:18082/127.0.0.1:${PORT[haproxy]}/; s/port_value: 18083/port_value: ${PORT[envoy]}/" \
        "$1" >"$WORK/$(basename "$1")"
    echo "$WORK/$(basename "$1")"
}

start_origin() {
    mkdir -p "$WORK/www/b"
    head -c 4096 /dev/zero | tr '\0' 'a' >"$WORK/www/b/4k"
    head -c 65536 /dev/zero | tr '\0' 'b' >"$WORK/www/b/64k"
    head -c 1048576 /dev/zero | tr '\0' 'c' >"$WORK/www/b/1m"
    chmod -R a+rX "$WORK/www"
    start origin "$ORIGIN_PORT" taskset -c "$LOAD_CPU" nginx -p "$WORK/" -e "$WORK/origin.err" \
        -c "$(render "$ROOT/config/nginx-origin.conf")" -g 'daemon off;'
}
# ringway: the benchmark config plus the "features" route (JWT + rate limit).
start_ringway() { start_ringway_as ringway "$ROOT/target/release/ringway"; }
start_ringway-base() { start_ringway_as ringway-base "$RINGWAY_BASE_BIN"; }
# start_ringway_as NAME BIN: BIN on NAME's port.
start_ringway_as() {
    local name=$1 bin=$2
    {
        sed -e "s/127\.0\.0\.1:${PORT[ringway]}/127.0.0.1:${PORT[$name]}/" "$(render "$ROOT/bench/ringway-bench.toml")"
        printf '\n# %s\n' "bench/matrix.sh's \"features\" shape."
        bench_jwt_auth_toml bench "env:RINGWAY_BENCH_JWT_SECRET"
        cat <<'TOML'

# The burst matters: with none, GCRA spaces requests strictly and the coarse
# clock (one tick, 1-4 ms) admits one request per tick; nginx's limit_req
# behaves the same, hence its burst too.
[rate_limits.bench]
key = "ip"
limit = 100000000
period = "1s"
burst = 1000000

[[routes]]
name = "features"
path_prefix = "/f/"
upstream = "origin"
auth = ["bench"]
rate_limit = ["bench"]
TOML
    } >"$WORK/$name.toml"
    RINGWAY_BENCH_JWT_SECRET=$SECRET start "$name" "${PORT[$name]}" \
        taskset -c "$PROXY_CPU" "$bin" run --config "$WORK/$name.toml"
}
start_nginx() {
    start nginx "${PORT[nginx]}" taskset -c "$PROXY_CPU" nginx -p "$WORK/" -e "$WORK/nginx.err" \
        -c "$(render "$ROOT/config/nginx.conf")" -g 'daemon off;'
}
start_haproxy() { start haproxy "${PORT[haproxy]}" taskset -c "$PROXY_CPU" haproxy -db -f "$(render "$ROOT/config/haproxy.cfg")"; }
start_envoy() {
    start envoy "${PORT[envoy]}" taskset -c "$PROXY_CPU" "$ENVOY" -c "$(render "$ROOT/config/envoy.yaml")" \
        --concurrency 1 --disable-hot-restart --log-level warn
}

TOKEN=$(bench_jwt "$SECRET")
printf 'wrk.method = "POST"\nwrk.body = string.rep("u", 65536)\nwrk.headers["Content-Type"] = "application/octet-stream"\n' >"$WORK/upload.lua"

# wrk_args SHAPE -> WRK_ARGS: the extra wrk arguments of a shape.
wrk_args() {
    WRK_ARGS=()
    case $1 in
        upload) WRK_ARGS=(-s "$WORK/upload.lua") ;;
        close) WRK_ARGS=(-H "Connection: close") ;;
        features) WRK_ARGS=(-H "Authorization: Bearer $TOKEN") ;;
    esac
}

# check PROXY SHAPE: one request answered 200 with the shape's body length.
check() {
    local path bytes got args=()
    read -r path bytes _ <<<"${SHAPE[$2]}"
    case $2 in
        upload) args=(-X POST --data-binary @"$WORK/www/b/64k") ;;
        features) args=(-H "Authorization: Bearer $TOKEN") ;;
    esac
    got=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' "${args[@]}" \
        "http://127.0.0.1:${PORT[$1]}$path") || got="curl failed"
    [[ $got == "200 $bytes" ]] || { log "$1 $2: expected '200 $bytes', got '$got'"; return 1; }
}

# ---------------------------------------------------------------- runs

RESULTS=() # "round proxy shape requests cpu_ns valid"
INVALID=0

measure() { # ROUND PROXY SHAPE
    local path bytes out valid=yes before after req pids
    read -r path bytes _ <<<"${SHAPE[$3]}"
    read -r -a pids <<<"${PID[$2]} $(pgrep -P "${PID[$2]}" | paste -sd' ' || true)"
    wrk_args "$3"
    local url="http://127.0.0.1:${PORT[$2]}$path"
    check "$2" "$3" || valid=no
    ((WARMUP == 0)) || timeout $((WARMUP + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${WRK_ARGS[@]}" "$url" >/dev/null 2>&1 || true
    out="$WORK/wrk-$1-$2-$3.txt"
    before=$(cpu_ns "${pids[@]}")
    timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${WRK_ARGS[@]}" "$url" >"$out" 2>&1 || valid=no
    after=$(cpu_ns "${pids[@]}")
    req=$(awk '/ requests in / { print $1 }' "$out")
    grep -q -e 'Non-2xx' -e 'Socket errors' "$out" && valid=no
    ((${req:-0} > 0)) || valid=no
    [[ $valid == yes ]] || { INVALID=1; log "round $1 $2 $3 INVALID"; sed 's/^/    /' "$out" >&2; }
    RESULTS+=("$1 $2 $3 ${req:-0} $((after - before)) $valid")
    log "round $1 $2 $3: ${req:-0} requests, $(awk -v n=$((after - before)) -v r="${req:-0}" 'BEGIN { printf "%.2f", r ? n / 1e3 / r : 0 }') µs/req, valid=$valid"
}

if ((BUILD)) && [[ " ${PROXIES[*]} " == *" ringway "* ]]; then
    log "cargo build --release --bin ringway"
    (cd "$ROOT" && timeout 1800 cargo build --release --bin ringway) >&2 || die "cargo build failed"
fi
BUDGET=$(((ROUNDS * ${#PROXIES[@]} + 2) * ${#SHAPE_LIST[@]} * (DURATION + WARMUP + 4) + 120))
(sleep "$BUDGET" && log "watchdog: over $BUDGET s, stopping" && kill -TERM $$) 2>/dev/null &
WATCHDOG=$!

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# The tree as measured: read now, not when the report is written.
GIT_AT_START="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
RINGWAY_VERSION=$("$ROOT/target/release/ringway" --version 2>&1 | head -1)
START_TIME=$(date -u '+%Y-%m-%d %H:%M UTC')
start_origin
for p in "${PROXIES[@]}"; do "start_$p"; done
for p in "${PROXIES[@]}"; do for s in "${SHAPE_LIST[@]}"; do check "$p" "$s" || die "$p does not answer the $s shape"; done; done

n=${#PROXIES[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${SHAPE_LIST[@]}"; do
        for ((i = 0; i < n; i++)); do measure "$r" "${PROXIES[$(((i + r - 1) % n))]}" "$s"; done
    done
done

# profile SHAPE: ringway under the shape's load, sampled with DWARF stacks at
# 499 Hz for DURATION s, folded and rendered to $PROFILE/ringway-SHAPE.svg.
profile() {
    local path bytes
    read -r path bytes _ <<<"${SHAPE[$1]}"
    wrk_args "$1"
    timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" "${WRK_ARGS[@]}" \
        "http://127.0.0.1:${PORT[ringway]}$path" >"$WORK/profile-$1.txt" 2>&1 &
    local load=$!
    sleep 1
    timeout $((DURATION + 30)) perf record -F 499 --call-graph dwarf,16384 -p "${PID[ringway]}" \
        -o "$WORK/perf.data" -q -- sleep "$DURATION" 2>/dev/null || log "perf record failed for $1"
    wait "$load" || true
    perf script -i "$WORK/perf.data" 2>/dev/null | inferno-collapse-perf >"$WORK/folded"
    inferno-flamegraph --title "ringway $(git -C "$ROOT" rev-parse --short HEAD), shape $1: $(text "$1" | tr -d '`') (wrk -t1 -c$CONNS, ${DURATION}s)" \
        <"$WORK/folded" >"$PROFILE/ringway-$1.svg"
    log "profile: $PROFILE/ringway-$1.svg ($(wc -l <"$WORK/folded") distinct stacks; $(awk '/ requests in / { print $1 }' "$WORK/profile-$1.txt") requests)"
}
if [[ -n $PROFILE && " ${PROXIES[*]} " == *" ringway "* ]]; then
    for tool in perf inferno-collapse-perf inferno-flamegraph; do
        command -v "$tool" >/dev/null || die "--profile: $tool not found (apt-get install linux-perf; cargo install inferno)"
    done
    mkdir -p "$PROFILE"
    for s in "${SHAPE_LIST[@]}"; do profile "$s"; done
fi

# ---------------------------------------------------------------- report

rows() { printf '%s\n' "${RESULTS[@]}"; }
# cpu PROXY SHAPE: µs/request of each valid round, one per line.
cpu() { rows | awk -v p="$1" -v s="$2" '$2 == p && $3 == s && $6 == "yes" { printf "%.3f\n", $5 / 1e3 / $4 }'; }
# ratios PROXY SHAPE: per round, PROXY's µs/request over the better of nginx
# and HAProxy in that round (either alone when only one ran).
ratios() {
    rows | awk -v p="$1" -v s="$2" '
        $3 == s && $6 == "yes" { c[$1, $2] = $5 / 1e3 / $4; rounds[$1] = 1 }
        END {
            for (r in rounds) {
                best = -1
                if ((r, "nginx") in c) best = c[r, "nginx"]
                if (((r, "haproxy") in c) && (best < 0 || c[r, "haproxy"] < best)) best = c[r, "haproxy"]
                if (best > 0 && ((r, p) in c)) printf "%.3f\n", c[r, p] / best
            }
        }'
}
fmt() { awk -v v="$1" -v d="${2:-2}" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.*f\n", d, v }'; }
have_ref() { [[ " ${PROXIES[*]} " == *" nginx "* || " ${PROXIES[*]} " == *" haproxy "* ]]; }

report() {
    local s p path bytes med line
    echo "# Traffic-shape matrix: ${PROXIES[*]}"
    echo
    echo "$START_TIME; $ROUNDS rounds × ${DURATION} s per proxy and shape (warm-up ${WARMUP} s before each), \`wrk -t1 -c$CONNS\`; every proxy one worker on core $PROXY_CPU, nginx origin and wrk on core $LOAD_CPU. Load average before: $LOAD_BEFORE."
    echo
    echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores; kernel \`$(uname -r)\`"
    [[ " ${PROXIES[*]} " == *" ringway-base "* ]] && echo "- ringway-base: \`RINGWAY_BASE_BIN=$RINGWAY_BASE_BIN\` ($("$RINGWAY_BASE_BIN" --version 2>&1 | head -1))"
    echo "- ringway \`$RINGWAY_VERSION\` git \`$GIT_AT_START\`; \`$(nginx -v 2>&1)\`; \`$(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3)\`; $([[ -x $ENVOY ]] && echo "envoy \`$("$ENVOY" --version 2>/dev/null | grep -o 'version: [^ ]*' | head -1)\`" || echo "envoy not installed")"
    echo
    ((INVALID)) && echo "**INVALID RUN**: some runs had errors (marked below); medians use valid runs only." && echo
    echo "CPU µs per request (median over rounds); in brackets, the median of per-round ratios to the better of nginx and HAProxy in that round (below 1: ringway uses less CPU)."
    echo
    printf '| shape |'; for p in "${PROXIES[@]}"; do printf ' %s |' "$p"; done; echo
    printf '|---|'; for p in "${PROXIES[@]}"; do printf -- '---:|'; done; echo
    for s in "${SHAPE_LIST[@]}"; do
        printf '| %s |' "$(text "$s")"
        for p in "${PROXIES[@]}"; do
            med=$(cpu "$p" "$s" | median)
            if have_ref && [[ $p != nginx && $p != haproxy ]]; then
                printf ' %s (%s) |' "$(fmt "$med")" "$(fmt "$(ratios "$p" "$s" | median)" 2)"
            else
                printf ' %s |' "$(fmt "$med")"
            fi
        done
        echo
    done
    echo
    echo "CPU ms per GiB of response body, for the body shapes (µs/request × 2^30 / body bytes / 1000):"
    echo
    printf '| shape |'; for p in "${PROXIES[@]}"; do printf ' %s |' "$p"; done; echo
    printf '|---|'; for p in "${PROXIES[@]}"; do printf -- '---:|'; done; echo
    for s in b4k b64k b1m; do
        [[ " ${SHAPE_LIST[*]} " == *" $s "* ]] || continue
        read -r path bytes _ <<<"${SHAPE[$s]}"
        printf '| %s |' "$(text "$s")"
        for p in "${PROXIES[@]}"; do
            printf ' %s |' "$(fmt "$(awk -v v="$(cpu "$p" "$s" | median)" -v b="$bytes" 'BEGIN { if (v == "n/a") print "n/a"; else print v * 1073741824 / b / 1000 }')" 0)"
        done
        echo
    done
    echo
    echo "## Every run"
    echo
    echo "| round | proxy | shape | requests | CPU µs/request | valid |"
    echo "|---:|---|---|---:|---:|---|"
    for line in "${RESULTS[@]}"; do
        read -r r p s req ns valid <<<"$line"
        printf '| %s | %s | %s | %s | %s | %s |\n' "$r" "$p" "$s" "$req" "$(awk -v n="$ns" -v q="$req" 'BEGIN { printf "%.3f", q ? n / 1e3 / q : 0 }')" "$valid"
    done
    echo
    echo "## Commands"
    echo
    echo '```sh'
    echo "bench/matrix.sh --rounds $ROUNDS --duration $DURATION --warmup $WARMUP --only $(IFS=,; echo "${PROXIES[*]}") --shapes $SHAPES$( ((BUILD)) || echo ' --no-build')$( ((LATENCY)) && echo ' --latency')"
    echo "# per run: taskset -c $LOAD_CPU wrk -t1 -c$CONNS -d${DURATION}s [shape args] http://127.0.0.1:PORT/PATH"
    echo "#   upload: -s upload.lua (POST, 64 KiB body); close: -H 'Connection: close'; features: -H 'Authorization: Bearer <HS256 JWT>'"
    echo '```'
    echo
    echo "Configs: \`config/nginx-origin.conf\` (origin), \`config/nginx.conf\`, \`config/haproxy.cfg\`, \`config/envoy.yaml\`, \`bench/ringway-bench.toml\` plus the features route in \`bench/matrix.sh\`. nginx OSS cannot verify a JWT: in the features shape it does the rate limit and the header work only."
}

[[ -n $OUT ]] || OUT="$ROOT/bench/results/$(date -u +%Y-%m-%d-%H%M)-matrix"
mkdir -p "$OUT"
report >"$OUT/matrix.md"
cat "$OUT/matrix.md"
log "report written to $OUT/matrix.md"
for p in "${STARTED[@]}"; do stop_pid "$p"; done
STARTED=()
if ((LATENCY)); then
    log "bench/compare.sh: latency at 50 % of each proxy's own max, idle memory"
    (cd "$ROOT" && bash bench/compare.sh --only "$(IFS=,; echo "${PROXIES[*]}")" --out "$OUT/compare") || INVALID=1
fi
((INVALID == 0)) || exit 3
