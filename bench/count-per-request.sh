#!/usr/bin/env bash
# Counts what the gateway does per proxied request on warm keep-alive
# connections: heap allocations (uprobes on mimalloc's entry points) and
# system calls (raw_syscalls:sys_enter), with perf, over a wrk run.
#
# Allocations made once per connection (its buffers, its task) show up as
# (allocations / connections); anything per request would show as a multiple
# of the request count. Needs: perf (linux-perf), nginx, wrk, root for uprobes.
#
#   bench/count-per-request.sh [--connections N] [--duration S]
set -euo pipefail
cd "$(dirname "$0")/.."

conns=32
secs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) conns=$2; shift 2 ;;
    --duration) secs=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

bin=target/release/ringway
[ -x "$bin" ] || cargo build --release --bin ringway
work=$(mktemp -d /tmp/ringway-count.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  perf probe -q -d 'probe_ringway:*' 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

probes=()
for f in mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned; do
  perf probe -q -x "$bin" "$f" >/dev/null 2>&1 || true
  probes+=("probe_ringway:$f")
done

cp config/nginx-origin.conf "$work/"
nginx -p "$work/" -e "$work/origin.err" -c "$work/nginx-origin.conf" -g 'daemon off;' &
pids+=($!)
taskset -c 0 "$bin" run --config bench/ringway-bench.toml 2>"$work/ringway.log" &
rw=$!
pids+=("$rw")
for _ in $(seq 50); do
  curl -fs -o /dev/null http://127.0.0.1:18080/ && break
  sleep 0.1
done

# Warm-up on other connections: pools, buffers and the date cache are filled.
taskset -c 1 wrk -t1 -c"$conns" -d1s http://127.0.0.1:18080/ >/dev/null

events=raw_syscalls:sys_enter
for p in "${probes[@]}"; do events="$events,$p"; done
perf stat -x, -e "$events" -p "$rw" -- sleep $((secs + 1)) 2>"$work/stat.csv" &
ps=$!
sleep 0.3
taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" http://127.0.0.1:18080/ >"$work/wrk.txt"
wait "$ps"

reqs=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
count() { awk -F, -v e="$1" '$3 == e {print $1}' "$work/stat.csv"; }
sys=$(count raw_syscalls:sys_enter)
allocs=0
for p in "${probes[@]}"; do allocs=$((allocs + $(count "$p"))); done
echo "requests:            $reqs over $conns new keep-alive connections"
echo "syscalls:            $sys ($(awk -v a="$sys" -v b="$reqs" 'BEGIN {printf "%.3f", a / b}') per request)"
echo "heap allocations:    $allocs ($(awk -v a="$allocs" -v b="$conns" 'BEGIN {printf "%.1f", a / b}') per connection, $(awk -v a="$allocs" -v b="$reqs" 'BEGIN {printf "%.5f", a / b}') per request)"
