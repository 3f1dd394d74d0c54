#!/usr/bin/env bash
# Profiles the gateway under loadgen traffic and writes a flame graph SVG.
#
#   flamegraphs/profile.sh [OUT.svg] [SECONDS] [CONFIG]
#   # defaults: flamegraphs/ringway-main.svg, 8 s, bench/ringway-bench.toml
#
# Set-up (CONFIG, listening on 18080 with its upstream on 18000): reference upstream `ringway-loadgen serve`
# on core 1, ringway (1 shard) pinned to core 0, `ringway-loadgen run` closed
# loop with 32 connections on core 1. `perf record` samples ringway only, with
# DWARF call graphs (the release profile keeps line tables; no frame
# pointers), then inferno folds and renders the stacks. Needs `perf` (Debian
# linux-perf) and inferno (`cargo install inferno`); where perf is not
# permitted it says so and exits 1. Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-flamegraphs/ringway-main.svg}"
secs="${2:-8}"
config="${3:-bench/ringway-bench.toml}"

for tool in perf inferno-collapse-perf inferno-flamegraph; do
  command -v "$tool" >/dev/null || { echo "profile: $tool not found (apt-get install linux-perf; cargo install inferno)" >&2; exit 1; }
done
if ! perf record -o /dev/null -q -- true 2>/dev/null; then
  echo "profile: perf is not permitted here (kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid))" >&2
  exit 1
fi

cargo build --release --bin ringway -p ringway -q
cargo build --release -p ringway-loadgen -q
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

target/release/ringway-loadgen serve --listen 127.0.0.1:18000 --cpus 1 >"$tmp/serve.log" 2>&1 &
pids+=($!)
taskset -c 0 target/release/ringway run --config "$config" >"$tmp/ringway.log" 2>&1 &
rw=$!
pids+=($rw)
for _ in $(seq 100); do
  curl -fs -o /dev/null http://127.0.0.1:18080/ && break
  sleep 0.1
done

timeout $((secs + 20)) target/release/ringway-loadgen run http://127.0.0.1:18080/ \
  -c 32 --cpus 1 --warmup 1s --duration "$((secs + 2))s" >"$tmp/load.txt" 2>&1 &
load=$!
pids+=($load)
sleep 1
timeout $((secs + 30)) perf record -F 499 --call-graph dwarf,16384 -p "$rw" -o "$tmp/perf.data" -q -- sleep "$secs"
wait "$load" || true
perf script -i "$tmp/perf.data" 2>/dev/null | inferno-collapse-perf >"$tmp/folded"
inferno-flamegraph --title "ringway $(git rev-parse --short HEAD), $(basename "$config"), under ringway-loadgen (closed loop, 32 conns, ${secs}s)" \
  <"$tmp/folded" >"$out"
grep -E "throughput|VALID" "$tmp/load.txt" || true
echo "profile: wrote $out ($(wc -l <"$tmp/folded") distinct stacks)"
