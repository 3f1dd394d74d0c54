#!/usr/bin/env bash
# One fixed-rate run through ringway with perf attached to the gateway:
# io_uring opcodes submitted, syscalls, madvise (mimalloc purges), and the
# scheduler events of both cores (wake-up to run delay per thread), for SECS
# seconds in the middle of the run. TARGET direct or haproxy sends the load
# there instead (ringway still runs, idle; its counters then show nothing).
#
#   bench/results/2026-11-30-tail/trace.sh OUTDIR [RATE] [SECS] [RING_SETUP] [TARGET]
#
# Env RW_ENV (e.g. MIMALLOC_PURGE_DELAY=-1) goes to ringway's environment.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="$1"; rate="${2:-5000}"; secs="${3:-10}"; ring="${4:-auto}"; target="${5:-ringway}"
case "$target" in ringway) port=18080;; direct) port=18000;; haproxy) port=18082;; esac
mkdir -p "$out"
lg=target/release/ringway-loadgen
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
sed -e "s/^io = \"auto\"/io = \"io_uring\"\nring_setup = \"$ring\"\nadmin_listen = \"127.0.0.1:18090\"/" \
  bench/ringway-bench.toml >"$out/ringway.toml"
nice -n -10 $lg serve --listen 127.0.0.1:18000 --cpus 1 >"$out/serve.log" 2>&1 & pids+=($!)
env ${RW_ENV:-} nice -n -10 taskset -c 0 target/release/ringway run --config "$out/ringway.toml" >"$out/ringway.log" 2>&1 & rw=$!; pids+=($rw)
nice -n -10 taskset -c 0 haproxy -db -f config/haproxy.cfg >"$out/haproxy.log" 2>&1 & pids+=($!)
for c in 0 1; do taskset -c $c chrt -i 0 sh -c 'while :; do :; done' & pids+=($!); done
sleep 1
nice -n -10 $lg run "http://127.0.0.1:$port/" --rate "$rate" -c 32 -d "$((secs + 4))s" --warmup 2s --cpus 1 \
  --json "$out/run.json" >"$out/run.txt" 2>&1 & lgp=$!
sleep 3
perf stat -x, -o "$out/stat.csv" -p "$rw" \
  -e io_uring:io_uring_submit_req,io_uring:io_uring_cqring_wait,io_uring:io_uring_local_work_run,io_uring:io_uring_task_work_run \
  -e syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_madvise,syscalls:sys_enter_munmap,syscalls:sys_enter_mmap,raw_syscalls:sys_enter \
  -e page-faults,context-switches,cpu-migrations -- sleep "$secs" & p1=$!
perf record -q -o "$out/uring.data" -e io_uring:io_uring_submit_req -p "$rw" -- sleep "$secs" 2>/dev/null & p2=$!
perf sched record -q -o "$out/sched.data" -a -- sleep "$secs" >/dev/null 2>&1 & p3=$!
wait $p1 $p2 $p3 2>/dev/null || true
wait $lgp || true
perf script -i "$out/uring.data" 2>/dev/null | grep -o 'opcode [A-Z_0-9]*' | sort | uniq -c | sort -rn >"$out/opcodes.txt"
perf sched latency -i "$out/sched.data" --sort max 2>/dev/null | head -30 >"$out/sched-latency.txt"
perf sched timehist -i "$out/sched.data" 2>/dev/null | sort -k5 -n -r | head -40 >"$out/sched-timehist-worst.txt"
rm -f "$out/uring.data" "$out/sched.data"
