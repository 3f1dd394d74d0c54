#!/usr/bin/env bash
# Gateway CPU per proxied request by load-balancing algorithm (issue 12),
# for one upstream of 3 targets, side by side in one run. Variants:
#   rr          balance = "round_robin", no health checks (the baseline)
#   rr-health   balance = "round_robin", [upstreams.health] on
#   lr-health   balance = "least_request", health checks on
#   ewma-health balance = "ewma", health checks on
#   hash-health balance = "hash", hash_key = "header:x-user", health checks on
# Health checks: GET /healthz (the origin answers 200) every 1000 ms per target.
#
# Each variant is its own ringway process (1 shard pinned to core 0, its
# own port), so the health checker's thread is charged to the variants that
# have one; all five run for the whole script, only the one under load is
# measured. The 3 targets are one nginx origin (config/nginx-origin.conf, one
# worker on core 1) listening on 3 ports; `wrk -t1 -c32` on core 1 sends
# every request with an `x-user` header, 64 users in turn, to every variant
# (the same bytes on the wire everywhere; only `hash` reads it). Rounds
# rotate the variant order. CPU = ringway's on-CPU ns from
# /proc/PID/task/*/schedstat over each wrk run / requests wrk completed.
#
#   bench/balance-cpu.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds x 5 s)
#
# Needs nginx, wrk, curl, python3 and target/release/ringway
# (`cargo build --release --bin ringway`). Only 127.0.0.1; every process it
# starts is stopped on exit. Exit 3 if a run saw a non-2xx answer or a
# socket error, or a target's traffic or health checks look wrong at the end.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $SECS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] [SECONDS]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
ORIGIN_PORT=${ORIGIN_PORT:-18200} # and the next two
GW_PORT=${GW_PORT:-18280}         # variant i (0-4) listens on GW_PORT+i ...
ADMIN_PORT=${ADMIN_PORT:-18290}   # ... and has its admin API on ADMIN_PORT+i
for t in nginx wrk taskset curl python3; do command -v "$t" >/dev/null || { echo "balance-cpu: $t not found" >&2; exit 1; }; done
WORK=$(mktemp -d /tmp/ringway-balance-cpu.XXXXXX)
chmod 755 "$WORK" # nginx's worker runs as nobody and must reach its prefix
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all_and_remove "$WORK"' EXIT
trap 'exit 130' INT TERM
[[ -x $BIN ]] || { echo "balance-cpu: build $BIN first" >&2; exit 1; }

TARGETS=("$ORIGIN_PORT" $((ORIGIN_PORT + 1)) $((ORIGIN_PORT + 2)))
start_nginx_origin "$ROOT" "$WORK" "${TARGETS[@]}"

VARIANTS=(rr rr-health lr-health ewma-health hash-health)
declare -A DESC=(
    [rr]='round_robin, no health checks'
    [rr-health]='round_robin + health checks'
    [lr-health]='least_request + health checks'
    [ewma-health]='ewma + health checks'
    [hash-health]='hash (header:x-user) + health checks'
)
declare -A GW PORT ADMIN
gateway_toml() { # VARIANT PORT ADMIN_PORT
    local balance=round_robin extra=""
    case $1 in
        lr-*) balance=least_request ;;
        ewma-*) balance=ewma ;;
        hash-*) balance=hash extra='hash_key = "header:x-user"' ;;
    esac
    cat <<TOML
[server]
listen = "127.0.0.1:$2"
admin_listen = "127.0.0.1:$3"
workers = 1
cpus = [0]

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:${TARGETS[0]}", "127.0.0.1:${TARGETS[1]}", "127.0.0.1:${TARGETS[2]}"]
balance = "$balance"
$extra
TOML
    [[ $1 == *-health ]] && printf '\n[upstreams.health]\npath = "/healthz"\ninterval_ms = 1000\n'
    printf '\n[[routes]]\nname = "all"\npath_prefix = "/"\nupstream = "origin"\n'
}
for i in "${!VARIANTS[@]}"; do
    v=${VARIANTS[$i]}
    PORT[$v]=$((GW_PORT + i)) ADMIN[$v]=$((ADMIN_PORT + i))
    gateway_toml "$v" "${PORT[$v]}" "${ADMIN[$v]}" >"$WORK/$v.toml"
    "$BIN" check --config "$WORK/$v.toml" >/dev/null || { echo "balance-cpu: $v config refused" >&2; exit 1; }
    taskset -c 0 "$BIN" run --config "$WORK/$v.toml" 2>"$WORK/$v.err" &
    GW[$v]=$!
    PIDS+=("$!")
done
wait_ports "${TARGETS[@]}" "${PORT[@]}" "${ADMIN[@]}" || { echo "balance-cpu: a gateway or the origin is not listening" >&2; exit 1; }
for v in "${VARIANTS[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'x-user: user-1' "http://127.0.0.1:${PORT[$v]}/")
    [[ $code == 200 ]] || { echo "balance-cpu: $v answered $code" >&2; cat "$WORK/$v.err" >&2; exit 1; }
done

# 64 prepared requests, one per user, sent in turn on each connection.
cat >"$WORK/users.lua" <<'LUA'
local reqs, i = {}, 0
function init(args)
    for u = 1, 64 do reqs[u] = wrk.format(nil, nil, { ["x-user"] = "user-" .. u }) end
end
function request()
    i = i % #reqs + 1
    return reqs[i]
end
LUA

declare -A US RPS # variant -> per-round figures, space-separated
for r in $(seq "$ROUNDS"); do
    for k in "${!VARIANTS[@]}"; do
        v=${VARIANTS[$(((k + r - 1) % ${#VARIANTS[@]}))]}
        wrk_cpu "${GW[$v]}" 1 "$SECS" "http://127.0.0.1:${PORT[$v]}/" -s "$WORK/users.lua"
        us=$(awk -v c="$WRK_CPU_NS" -v n="$WRK_REQS" 'BEGIN { printf "%.2f", c / n / 1000 }')
        US[$v]+="$us " RPS[$v]+="${WRK_RPS%.*} "
        echo "round $r $v: $us µs CPU/request, ${WRK_RPS%.*} req/s ($WRK_REQS requests)" >&2
    done
done

variant_table rr "$ROUNDS" "$SECS"

# What each gateway did, from its admin API: every target served, no
# failure, retry or non-2xx, health checks ran and passed.
echo
echo "| variant | 2xx per target | non-2xx + failures + ejections + retries | health checks per target (failed) | upstream connects / reused |"
echo "|---|---|---:|---|---:|"
bad=0
for v in "${VARIANTS[@]}"; do
    curl -fs "http://127.0.0.1:${ADMIN[$v]}/upstreams" >"$WORK/$v.upstreams.json"
    curl -fs "http://127.0.0.1:${ADMIN[$v]}/metrics" >"$WORK/$v.metrics"
    conns=$(awk '$1 == "ringway_upstream_connects_total" { c = $2 } $1 == "ringway_upstream_reused_total" { r = $2 } END { print c " / " r }' "$WORK/$v.metrics")
    retries=$(awk '/^ringway_upstream_retries_total[{]/ { n += $2 } END { print n + 0 }' "$WORK/$v.metrics")
    HEALTH=$([[ $v == *-health ]] && echo 1 || echo 0) CONNS=$conns RETRIES=$retries V=$v python3 - "$WORK/$v.upstreams.json" <<'PY' || bad=1
import json, os, sys
ts = json.load(open(sys.argv[1]))["upstreams"][0]["targets"]
ok2 = [t["responses"]["2xx"] for t in ts]
other = int(os.environ["RETRIES"]) + sum(
    t["responses"]["4xx"] + t["responses"]["5xx"] + t["failures"] + t["ejections"] for t in ts)
checks = [t["health"]["checks"] for t in ts]
failed = sum(t["health"]["failed_checks"] for t in ts)
want_checks = os.environ["HEALTH"] == "1"
print(f'| {os.environ["V"]} | {" ".join(map(str, ok2))} | {other} | '
      f'{" ".join(map(str, checks))} ({failed}) | {os.environ["CONNS"]} |')
wrong = min(ok2) == 0 or other or failed or not all(t["healthy"] for t in ts)
wrong = wrong or (min(checks) == 0 if want_checks else max(checks) > 0)
sys.exit(1 if wrong else 0)
PY
done
((bad == 0)) || { echo "balance-cpu: a gateway left a target idle, failed, or its health checks did not run as configured" >&2; exit 3; }
