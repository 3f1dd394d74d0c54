#!/usr/bin/env bash
# The upgrade tunnel, plain and TLS (docs/websocket.md): throughput through
# the plain tunnel of two builds side by side, and RSS per open WebSocket
# over ws:// and wss://. One shard on core 0; clients and upstreams on
# core 1. Ephemeral ports; everything started here is stopped on exit.
#
#   bash bench/ws-tunnel.sh throughput BASE_BIN NEW_BIN [MIB] [ROUNDS]
#   bash bench/ws-tunnel.sh memory BIN [N]
#
# throughput: per round, each binary in turn (order alternating) copies
# MIB MiB (default 256) each way through a plain tunnel
# (bench/tunnel-throughput.py) and then through a TLS one (NEW_BIN only
# when BASE_BIN has no TLS tunnel); prints every round, the medians of
# MiB/s and of the gateway's on-CPU time per MiB moved (schedstat), and the
# per-round CPU ratios (the wall-clock rate is the clients' on a busy box).
# memory: N (default 1000) WebSockets over ws:// then over wss:// to the
# echo server (tests/common/ws_server.py), each a fresh gateway
# (bench/ws-memory.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
WORK=$(mktemp -d)
PIDS=()
trap 'stop_all_and_remove "$WORK"' EXIT

certs() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=api.test \
        -keyout "$WORK/key.pem" -out "$WORK/leaf.csr" 2>/dev/null
    printf 'subjectAltName=DNS:api.test\n' >"$WORK/ext"
    openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -CAcreateserial -days 2 -extfile "$WORK/ext" -out "$WORK/cert.pem" 2>/dev/null
}

# Starts a python server (script and args) on core 1 with stdin held open;
# sets PORT to the port it prints.
start_py() {
    PY_N=$((${PY_N:-0} + 1))
    local fifo=$WORK/in.$PY_N out=$WORK/port.$PY_N
    mkfifo "$fifo"
    taskset -c 1 python3 "$@" <"$fifo" >"$out" &
    PIDS+=($!)
    exec {hold}>"$fifo"
    for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
    PORT=$(head -1 "$out")
}

# Starts BIN with one shard on core 0 in front of 127.0.0.1:$1; sets GW_PID,
# HTTP_PORT and TLS_PORT from its "listening" line.
start_gw() {
    local bin=$1 up=$2 tls=${3:-yes}
    {
        printf '[server]\nlisten = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n'
        printf 'workers = 1\ncpus = [0]\nmax_connections = 100000\n'
        [ "$tls" = yes ] && printf 'tls_listen = "127.0.0.1:0"\n'
        printf '\n[[upstreams]]\nname = "u"\ntargets = ["127.0.0.1:%s"]\n\n' "$up"
        printf '[[routes]]\nname = "ws"\npath_prefix = "/"\nupstream = "u"\nupgrade = ["websocket"]\n\n'
        [ "$tls" = yes ] && printf '[tls]\n[[tls.certificates]]\ncert = "%s"\nkey = "%s"\n' \
            "$WORK/cert.pem" "$WORK/key.pem"
    } >"$WORK/gw.toml"
    : >"$WORK/gw.log"
    "$bin" run --config "$WORK/gw.toml" 2>"$WORK/gw.log" &
    GW_PID=$!
    PIDS+=("$GW_PID")
    for _ in $(seq 100); do grep -q '"listening"' "$WORK/gw.log" && break; sleep 0.05; done
    local line
    line=$(grep '"listening"' "$WORK/gw.log")
    HTTP_PORT=$(sed -E 's/.*"addr":"127\.0\.0\.1:([0-9]+)".*/\1/' <<<"$line")
    TLS_PORT=$(sed -nE 's/.*"tls_addr":"127\.0\.0\.1:([0-9]+)".*/\1/p' <<<"$line")
}

stop_gw() { stop_pid "$GW_PID"; }

throughput() {
    local base=$1 new=$2 mib=${3:-256} rounds=${4:-5}
    certs
    start_py bench/tunnel-throughput.py upstream
    local up=$PORT r
    for r in $(seq "$rounds"); do
        local order=(base new)
        [ $((r % 2)) = 0 ] && order=(new base)
        for which in "${order[@]}"; do
            local bin=$base
            [ "$which" = new ] && bin=$new
            start_gw "$bin" "$up"
            one_run "$r $which plain" "http://127.0.0.1:$HTTP_PORT/" "$mib"
            [ "$which" = new ] &&
                one_run "$r $which tls" "https://api.test:$TLS_PORT/" "$mib" "$WORK/ca.pem"
            stop_gw
        done
    done
    field() { grep "^round=[0-9]* $1 " "$WORK/results" | sed -E "s/.* $2=([0-9.]+).*/\\1/"; }
    for k in "base plain" "new plain" "new tls"; do
        printf '%s: median MiB/s %s, median gateway CPU us/MiB %s\n' "$k" \
            "$(field "$k" mib_per_s | median)" "$(field "$k" gw_cpu_us_per_mib | median)"
    done
    local ratios
    ratios=$(round_ratios "$(field "base plain" gw_cpu_us_per_mib | tr '\n' ' ')" \
        "$(field "new plain" gw_cpu_us_per_mib | tr '\n' ' ')")
    printf 'gateway CPU per MiB, new/base plain, per round: %s; median %s\n' \
        "$(tr '\n' ' ' <<<"$ratios")" "$(median <<<"$ratios")"
}

# One client run against the gateway started last: LABEL URL MIB [CAFILE];
# appends its line, with the gateway's on-CPU time per MiB moved, to the
# results.
one_run() {
    local label=$1 before after line
    shift
    before=$(cpu_ns "$GW_PID")
    line=$(taskset -c 1 python3 bench/tunnel-throughput.py client "$@")
    after=$(cpu_ns "$GW_PID")
    printf 'round=%s %s gw_cpu_us_per_mib=%s\n' "$label" "$line" \
        "$(awk -v ns=$((after - before)) -v m="$2" 'BEGIN { printf "%.1f", ns / 1000 / (2 * m) }')" |
        tee -a "$WORK/results"
}

memory() {
    local bin=$1 n=${2:-1000}
    certs
    [ "$(ulimit -n)" -gt $((4 * n + 100)) ] || ulimit -n $((4 * n + 100))
    start_py tests/common/ws_server.py
    local up=$PORT
    start_gw "$bin" "$up"
    taskset -c 1 python3 bench/ws-memory.py "ws://127.0.0.1:$HTTP_PORT/echo" "$GW_PID" "$n"
    stop_gw
    start_gw "$bin" "$up"
    taskset -c 1 python3 bench/ws-memory.py "wss://api.test:$TLS_PORT/echo" "$GW_PID" "$n" \
        "$WORK/ca.pem"
    stop_gw
}

case "${1:-}" in
throughput) shift && throughput "$@" ;;
memory) shift && memory "$@" ;;
*) sed -n '2,17p' "$0" && exit 2 ;;
esac
