#!/bin/bash
# One idle-memory run of a ringway binary (bench/RESULTS.md, 2026-12-06):
# a Python origin on 127.0.0.1:28000, the gateway with bench/ringway-bench.toml
# (1 shard on core 0) moved to 127.0.0.1:28080, then bench/idle-memory.py with
# N connections. Ports outside 18000-18600 so no bench script is disturbed.
#
#   bench/results/2026-12-06-idle/run.sh BIN N
set -u
BIN=$1; N=$2
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../../.." && pwd)
GW=28080; OR=28000; WORK=$(mktemp -d)
sed -e "s/18080/$GW/; s/18000/$OR/" "$ROOT/bench/ringway-bench.toml" > "$WORK/gw.toml"
python3 "$HERE/origin.py" $OR & OPID=$!
"$BIN" run --config "$WORK/gw.toml" > "$WORK/gw.log" 2>&1 & GPID=$!
# Ready when the port accepts; the probe's one byte is answered with a 400.
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$GW) 2>/dev/null && break; sleep 0.1; done
sleep 0.3
python3 "$ROOT/bench/idle-memory.py" $GW $GPID "$N"
kill $GPID $OPID; wait $GPID $OPID 2>/dev/null
rm -rf "$WORK"
