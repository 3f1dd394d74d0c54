#!/usr/bin/env bash
# What a cache hit costs against a proxied miss (issue 16): gateway CPU per
# request on two routes of one ringway process (1 shard pinned to core 0),
# `/hit/` with `cache = { name = "c", default_ttl_s = 3600 }` (every request
# after the first is a hit) and `/miss/` without a cache (every request is
# proxied), both to the same nginx origin (config/nginx-origin.conf, 13-byte
# body) on core 1; `wrk -t1 -c32` on core 1. Rounds alternate the order.
# CPU = ringway's on-CPU ns from /proc/PID/task/*/schedstat over each run /
# requests wrk completed.
#
#   bench/cache-cpu.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds x 5 s)
#
# Needs nginx, wrk, curl and target/release/ringway. Only 127.0.0.1; every
# process it starts is stopped on exit. Exit 3 on a non-2xx or socket error.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $SECS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] [SECONDS]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
ORIGIN_PORT=${ORIGIN_PORT:-18400}
GW_PORT=${GW_PORT:-18480}
for t in nginx wrk taskset curl; do command -v "$t" >/dev/null || { echo "cache-cpu: $t not found" >&2; exit 1; }; done
[[ -x $BIN ]] || { echo "cache-cpu: build $BIN first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ringway-cache-cpu.XXXXXX)
chmod 755 "$WORK"
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all_and_remove "$WORK"' EXIT
trap 'exit 130' INT TERM

start_nginx_origin "$ROOT" "$WORK" "$ORIGIN_PORT"
cat >"$WORK/gw.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
workers = 1
cpus = [0]

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:$ORIGIN_PORT"]

[caches.c]
max_bytes = 67108864

[[routes]]
name = "hit"
path_prefix = "/hit/"
upstream = "origin"
cache = { name = "c", default_ttl_s = 3600 }

[[routes]]
name = "miss"
path_prefix = "/miss/"
upstream = "origin"
TOML
"$BIN" run --config "$WORK/gw.toml" 2>"$WORK/gw.err" &
GW=$!
PIDS+=("$GW")
wait_ports "$ORIGIN_PORT" "$GW_PORT" || { echo "cache-cpu: a server did not start" >&2; cat "$WORK/gw.err" >&2; exit 1; }
status=$(curl -s -o /dev/null -D - "http://127.0.0.1:$GW_PORT/hit/x" >/dev/null; curl -s -D - -o /dev/null "http://127.0.0.1:$GW_PORT/hit/x" | tr -d '\r' | awk -F': ' 'tolower($1) == "cache-status" { print $2 }')
[[ $status == *hit* ]] || { echo "cache-cpu: /hit/x is not a hit: $status" >&2; exit 1; }

declare -A US
for ((r = 0; r < ROUNDS; r++)); do
    order=(hit miss)
    ((r % 2)) && order=(miss hit)
    for v in "${order[@]}"; do
        wrk_cpu "$GW" 1 "$SECS" "http://127.0.0.1:$GW_PORT/$v/x"
        US[$v]+="$(awk -v ns="$WRK_CPU_NS" -v n="$WRK_REQS" 'BEGIN { printf "%.2f", ns / n / 1000 }') "
        echo "round $r $v: $WRK_REQS requests, $WRK_RPS/s" >&2
    done
done
median() { tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "hit  µs/request per round: ${US[hit]}(median $(median "${US[hit]}"))"
echo "miss µs/request per round: ${US[miss]}(median $(median "${US[miss]}"))"
echo "hit / miss per round:"
round_ratios "${US[miss]}" "${US[hit]}" | tr '\n' ' '
echo
