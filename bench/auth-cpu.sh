#!/usr/bin/env bash
# Gateway CPU per request for the same route with and without JWT auth
# (cached path), measured side by side in one run: one ringway shard on
# core 0 in front of an nginx origin on core 1, `wrk -t1 -c32` on core 1,
# rotating the variants round by round. CPU is ringway's on-CPU time
# from /proc/PID/task/*/schedstat, divided by the requests wrk completed.
#
#   bench/auth-cpu.sh [ROUNDS] [SECONDS]      (defaults: 5 rounds x 5 s)
#
# Needs nginx, wrk, python3 (mints the HS256 token: the cached path costs
# the same whatever the algorithm) and target/release/ringway
# (`cargo build --release --bin ringway`). Only 127.0.0.1; every process it
# starts is stopped on exit.
set -euo pipefail
ROUNDS=${1:-5}
SECS=${2:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
ORIGIN_PORT=${ORIGIN_PORT:-18100}
GW_PORT=${GW_PORT:-18180}
WORK=$(mktemp -d /tmp/ringway-auth-cpu.XXXXXX)
chmod 755 "$WORK"
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all_and_remove "$WORK"' EXIT
[[ -x $BIN ]] || { echo "auth-cpu: build $BIN first" >&2; exit 1; }

start_nginx_origin "$ROOT" "$WORK" "$ORIGIN_PORT"

SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=' | head -c 48)
printf '%s' "$SECRET" >"$WORK/secret"
TOKEN=$(bench_jwt "$SECRET")

cat >"$WORK/ringway.toml" <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
workers = 1
cpus = [0]

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:$ORIGIN_PORT"]

$(bench_jwt_auth_toml main "file:$WORK/secret")

[[routes]]
name = "plain"
path = "/plain"
upstream = "origin"

[[routes]]
name = "jwt"
path = "/jwt"
upstream = "origin"
auth = ["main"]
require = { scopes = ["orders:read"] }
TOML
taskset -c 0 "$BIN" run --config "$WORK/ringway.toml" 2>"$WORK/ringway.err" &
GW=$!
PIDS+=("$GW")
wait_ports "$GW_PORT" "$ORIGIN_PORT" || { echo "gateway or origin not listening" >&2; exit 1; }
AUTH="Authorization: Bearer $TOKEN"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/plain") == 200 ]] || { echo "plain route broken" >&2; exit 1; }
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "http://127.0.0.1:$GW_PORT/jwt") == 200 ]] || { echo "jwt route broken" >&2; exit 1; }
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/jwt") == 401 ]] || { echo "jwt route open" >&2; exit 1; }

# Variants: `plain` (no auth, no token), `token` (the same no-auth route,
# but the request carries the token: same bytes on the wire as `jwt`), and
# `jwt` (auth + require + forward_claims, token cached after the warm-up).
measure() { # VARIANT -> sets NS (CPU ns per request) and REQS
    local path=plain
    local -a hdr=()
    [[ $1 != plain ]] && hdr=(-H "$AUTH")
    [[ $1 == jwt ]] && path=jwt
    wrk_cpu "$GW" 1 "$SECS" "http://127.0.0.1:$GW_PORT/$path" "${hdr[@]}"
    NS=$((WRK_CPU_NS / WRK_REQS)) REQS=$WRK_REQS
}
declare -A all
orders=("plain token jwt" "jwt plain token" "token jwt plain")
for r in $(seq "$ROUNDS"); do
    for v in ${orders[$((r % 3))]}; do
        measure "$v"
        all[$v]+="$NS "
        echo "round $r $v: $NS ns CPU/request ($REQS requests)" >&2
    done
done
col() { tr ' ' '\n' <<<"${all[$1]}" | grep .; }
# Load from other processes drifts between rounds; the ratio within a round
# (variants measured back to back) is steadier than a ratio of medians.
ratio() { # A B -> per-round B/A ratios and their median
    local rs m
    rs=$(round_ratios "${all[$1]}" "${all[$2]}")
    m=$(median <<<"$rs")
    awk -v r="$(tr '\n' ' ' <<<"$rs")" -v m="$m" -v a="$1" -v b="$2" \
        'BEGIN { printf "| %s / %s | %.3f (%+.1f%%) | %s|\n", b, a, m, (m - 1) * 100, r }'
}
echo "| variant | gateway CPU ns/request, median of $ROUNDS x ${SECS}s | all rounds |"
echo "|---|---:|---|"
echo "| plain: no auth, no token | $(col plain | median) | ${all[plain]}|"
echo "| token: no auth, request carries the token | $(col token | median) | ${all[token]}|"
echo "| jwt: auth (HS256, cached) + require + forward_claims | $(col jwt | median) | ${all[jwt]}|"
echo
echo "| ratio | median of per-round ratios | per round |"
echo "|---|---:|---|"
ratio token jwt
ratio plain jwt
ratio plain token
