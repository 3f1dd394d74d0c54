#!/usr/bin/env bash
# The p99.9 investigation's A/B harness: the reference upstream on core 1,
# ringway (1 shard) and HAProxy (1 thread) on core 0, SCHED_IDLE spinners on
# both cores (as compare's keep_awake_cpus), everything at nice -10, then
# ROUNDS × (direct, ringway, haproxy) open-loop runs at RATE, interleaved.
#
#   bench/results/2026-11-30-tail/run.sh OUTDIR [RATE] [DURATION] [ROUNDS] [RING_SETUP] [AWAKE]
#
# RING_SETUP (auto, coop_taskrun, plain, epoll) picks ringway's ring mode;
# AWAKE=0 leaves the spinners off. Extra ringway [server] lines can come in
# env RW_EXTRA. AG=-10 sets this session's autogroup nice for the run (put
# back on exit): with sched_autogroup_enabled the task nice alone does not
# weigh against other sessions' builds. Each run writes OUTDIR/<round>-<target>.json; ringway's
# /metrics before and after every ringway run go to OUTDIR/<round>-metrics-*.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="$1"; rate="${2:-5000}"; dur="${3:-30s}"; rounds="${4:-3}"; ring="${5:-auto}"; awake="${6:-1}"
mkdir -p "$out"
ag0=$(awk '{print $3}' /proc/self/autogroup)
if [ -n "${AG:-}" ]; then echo "$AG" >/proc/self/autogroup; fi
cat /proc/self/autogroup >"$out/autogroup"
lg=target/release/ringway-loadgen
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; echo "$ag0" >/proc/self/autogroup; }
trap cleanup EXIT
if [ "$ring" = epoll ]; then io='io = "epoll"'; else io="io = \"io_uring\"
ring_setup = \"$ring\""; fi
sed -e "s/^io = \"auto\"/$(printf '%s' "$io" | sed -z 's/\n/\\n/g')\nadmin_listen = \"127.0.0.1:18090\"\n${RW_EXTRA:-}/" \
  bench/ringway-bench.toml >"$out/ringway.toml"
nice -n -10 $lg serve --listen 127.0.0.1:18000 --cpus 1 >"$out/serve.log" 2>&1 & pids+=($!)
nice -n -10 taskset -c 0 target/release/ringway run --config "$out/ringway.toml" >"$out/ringway.log" 2>&1 & pids+=($!)
nice -n -10 taskset -c 0 haproxy -db -f config/haproxy.cfg >"$out/haproxy.log" 2>&1 & pids+=($!)
if [ "$awake" = 1 ]; then
  for c in 0 1; do taskset -c $c chrt -i 0 sh -c 'while :; do :; done' & pids+=($!); done
fi
sleep 1
metrics() { curl -s http://127.0.0.1:18090/metrics | grep -E '^ringway_(upstream|connections_accepted|timeouts)' >"$1" || true; }
for r in $(seq 1 "$rounds"); do
  for t in direct:18000 ringway:18080 haproxy:18082; do
    name=${t%%:*}; port=${t##*:}
    if [ "$name" = ringway ]; then metrics "$out/$r-metrics-before"; fi
    echo "$(date +%T) round $r $name load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/log"
    nice -n -10 $lg run "http://127.0.0.1:$port/" --rate "$rate" -c 32 -d "$dur" --warmup 2s --cpus 1 \
      --json "$out/$r-$name.json" >"$out/$r-$name.txt" 2>&1 || true
    if [ "$name" = ringway ]; then metrics "$out/$r-metrics-after"; fi
  done
done
