#!/usr/bin/env bash
# On-CPU profile of ringway at a fixed rate (flamegraphs/profile.sh is the
# closed-loop one): same set-up as trace.sh, `perf record -g` (DWARF) on the
# gateway for SECS seconds mid-run; writes OUTDIR/report.txt (flat, by symbol,
# kernel included) and OUTDIR/ringway-rate.svg when inferno is installed.
#
#   bench/results/2026-11-30-tail/profile-rate.sh OUTDIR [RATE] [SECS] [RING_SETUP]
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="$1"; rate="${2:-5000}"; secs="${3:-5}"; ring="${4:-auto}"
mkdir -p "$out"
lg=target/release/ringway-loadgen
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
sed -e "s/^io = \"auto\"/io = \"io_uring\"\nring_setup = \"$ring\"/" bench/ringway-bench.toml >"$out/ringway.toml"
nice -n -10 $lg serve --listen 127.0.0.1:18000 --cpus 1 >"$out/serve.log" 2>&1 & pids+=($!)
nice -n -10 taskset -c 0 target/release/ringway run --config "$out/ringway.toml" >"$out/ringway.log" 2>&1 & rw=$!; pids+=($rw)
for c in 0 1; do taskset -c $c chrt -i 0 sh -c 'while :; do :; done' & pids+=($!); done
sleep 1
nice -n -10 $lg run http://127.0.0.1:18080/ --rate "$rate" -c 32 -d "$((secs + 4))s" --warmup 2s --cpus 1 >"$out/run.txt" 2>&1 & lgp=$!
sleep 3
perf record -q -F 4000 --call-graph dwarf,16384 -o "$out/perf.data" -p "$rw" -- sleep "$secs" 2>/dev/null
wait $lgp || true
perf report -i "$out/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^$' | grep '%' | head -60 >"$out/report.txt"
if command -v inferno-collapse-perf >/dev/null; then
  perf script -i "$out/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph >"$out/ringway-rate.svg"
fi
rm -f "$out/perf.data"
