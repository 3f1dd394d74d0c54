#!/usr/bin/env bash
# What observability costs (issue 13): gateway CPU per proxied request with
# the access log, metrics and trace context on, against the same gateway
# with all three off, side by side in one run. Variants:
#   off      the gateway as it was before them (BASE_REV, default 47e1a10:
#            process-wide counters only, no histograms, no per-route rows,
#            no traceparent handling, no access log). Metrics and trace
#            context have no switch, so "off" is that build.
#   metrics  this build, no access log: per-route and per-upstream
#            histograms and counters, traceparent read and rewritten
#   full     this build with [access_log] format = "json" to a file,
#            sample = 1.0 (one line per request), plus everything above
#
# Each variant is its own ringway process (1 shard pinned to core 0, all
# threads counted: the access-log writer thread too); all three run for the
# whole script, only the one under load is measured. One nginx origin
# (config/nginx-origin.conf) on core 1; `wrk -t1 -c32` on core 1 sends the
# same request to each, with a `traceparent` header (the gateway joins the
# trace). Rounds rotate the variant order; the access log is truncated
# between runs so the disk never fills. CPU = ringway's on-CPU ns from
# /proc/PID/task/*/schedstat over each wrk run / requests wrk completed.
#
#   bench/observe-cpu.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds x 5 s)
#
# BASE_BIN=path uses that binary as "off"; otherwise BASE_REV is checked out
# in a temporary worktree and built into target/observe-base (a few
# minutes, once). Needs nginx, wrk, curl, git and target/release/ringway
# (`cargo build --release --bin ringway`). Only 127.0.0.1; every process it
# starts is stopped on exit. Exit 3 if a run saw a non-2xx answer or a
# socket error, or the access log did not get one line per request.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $SECS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] [SECONDS]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
BASE_REV=${BASE_REV:-47e1a10}
ORIGIN_PORT=${ORIGIN_PORT:-18300}
GW_PORT=${GW_PORT:-18380} # variant i (0-2) listens on GW_PORT+i
for t in nginx wrk taskset curl git; do command -v "$t" >/dev/null || { echo "observe-cpu: $t not found" >&2; exit 1; }; done
[[ -x $BIN ]] || { echo "observe-cpu: build $BIN first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ringway-observe-cpu.XXXXXX)
chmod 755 "$WORK" # nginx's worker runs as nobody and must reach its prefix
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all_and_remove "$WORK"; git -C "$ROOT" worktree remove --force "$WORK/base" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

if [[ -z ${BASE_BIN:-} ]]; then
    BASE_BIN=$ROOT/target/observe-base/release/ringway
    if [[ ! -x $BASE_BIN ]]; then
        echo "observe-cpu: building $BASE_REV as the baseline" >&2
        git -C "$ROOT" worktree add --detach "$WORK/base" "$BASE_REV" >/dev/null
        CARGO_TARGET_DIR=$ROOT/target/observe-base cargo build -q --release --bin ringway \
            --manifest-path "$WORK/base/Cargo.toml"
    fi
fi

start_nginx_origin "$ROOT" "$WORK" "$ORIGIN_PORT"

VARIANTS=(off metrics full)
declare -A DESC=(
    [off]="all off ($BASE_REV)"
    [metrics]='metrics + traceparent'
    [full]='metrics + traceparent + JSON access log to a file'
)
declare -A GW PORT
for i in "${!VARIANTS[@]}"; do
    v=${VARIANTS[$i]}
    PORT[$v]=$((GW_PORT + i))
    {
        printf '[server]\nlisten = "127.0.0.1:%s"\nworkers = 1\ncpus = [0]\n\n' "${PORT[$v]}"
        printf '[[upstreams]]\nname = "origin"\ntargets = ["127.0.0.1:%s"]\n\n' "$ORIGIN_PORT"
        printf '[[routes]]\nname = "all"\npath_prefix = "/"\nupstream = "origin"\n'
        [[ $v == full ]] && printf '\n[access_log]\noutput = "file:%s"\nformat = "json"\nsample = 1.0\n' "$WORK/access.log"
    } >"$WORK/$v.toml"
    bin=$BIN
    [[ $v == off ]] && bin=$BASE_BIN
    "$bin" check --config "$WORK/$v.toml" >/dev/null || { echo "observe-cpu: $v config refused" >&2; exit 1; }
    taskset -c 0 "$bin" run --config "$WORK/$v.toml" 2>"$WORK/$v.err" &
    GW[$v]=$!
    PIDS+=("$!")
done
wait_ports "$ORIGIN_PORT" "${PORT[@]}" || { echo "observe-cpu: a gateway or the origin is not listening" >&2; exit 1; }
TP='traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
for v in "${VARIANTS[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "$TP" "http://127.0.0.1:${PORT[$v]}/")
    [[ $code == 200 ]] || { echo "observe-cpu: $v answered $code" >&2; cat "$WORK/$v.err" >&2; exit 1; }
done
sleep 0.3
grep -q '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"' "$WORK/access.log" ||
    { echo "observe-cpu: the access log has no line for the check request" >&2; exit 1; }

declare -A US RPS # variant -> per-round figures, space-separated
lines_ok=1
for r in $(seq "$ROUNDS"); do
    for k in "${!VARIANTS[@]}"; do
        v=${VARIANTS[$(((k + r - 1) % ${#VARIANTS[@]}))]}
        : >"$WORK/access.log"
        wrk_cpu "${GW[$v]}" 1 "$SECS" "http://127.0.0.1:${PORT[$v]}/" -H "$TP"
        us=$(awk -v c="$WRK_CPU_NS" -v n="$WRK_REQS" 'BEGIN { printf "%.2f", c / n / 1000 }')
        US[$v]+="$us " RPS[$v]+="${WRK_RPS%.*} "
        extra=""
        if [[ $v == full ]]; then
            # Flushed every 100 ms; the file holds the warm-up's lines and
            # the run's, so at least one per measured request.
            sleep 0.3
            n=$(wc -l <"$WORK/access.log")
            extra=", $n log lines"
            ((n >= WRK_REQS)) || lines_ok=0
        fi
        echo "round $r $v: $us µs CPU/request, ${WRK_RPS%.*} req/s ($WRK_REQS requests$extra)" >&2
    done
done

variant_table off "$ROUNDS" "$SECS"
((lines_ok)) || { echo "observe-cpu: the access log missed lines (see above)" >&2; exit 3; }
