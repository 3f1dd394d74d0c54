#!/usr/bin/env bash
# Gateway CPU per request with one active rate limit versus the same route
# without it, side by side in one gateway: routes /plain and /limited differ
# only by `rate_limit` (GCRA keyed on ip, a quota never exhausted, so every
# request runs the full check and its CAS). Rounds alternate the two paths.
#
# Setup as bench/compare-nginx.sh: ringway 1 shard on core 0; the nginx
# origin (config/nginx-origin.conf) and wrk share core 1. CPU = on-CPU ns of
# every ringway thread from /proc/PID/task/*/schedstat over each wrk run.
# Must never: touch /etc or /var, listen beyond 127.0.0.1, or leave a process.
#
# Usage: bench/ratelimit-cpu.sh [--rounds N] [--duration S] [--no-build]
set -euo pipefail

ROUNDS=5 DURATION=10 BUILD=1
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        *) echo "usage: $0 [--rounds N] [--duration S] [--no-build]" >&2; exit 2 ;;
    esac
done
ORIGIN_PORT=${ORIGIN_PORT:-18010} RINGWAY_PORT=${RINGWAY_PORT:-18090}
cd "$(dirname "$0")/.."
for t in nginx wrk taskset; do command -v $t >/dev/null || { echo "$t not found" >&2; exit 1; }; done
((BUILD)) && cargo build --release --bin ringway >&2

TMP=$(mktemp -d)
PIDS=()
# shellcheck source=bench/lib.sh
source bench/lib.sh
trap 'stop_all_and_remove "$TMP"' EXIT
trap 'exit 130' INT TERM
start_nginx_origin "$PWD" "$TMP" "$ORIGIN_PORT"

cat >"$TMP/ringway.toml" <<TOML
[server]
listen = "127.0.0.1:$RINGWAY_PORT"
workers = 1
cpus = [0]

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:$ORIGIN_PORT"]
max_idle_per_shard = 64

[rate_limits.lim]
key = "ip"
limit = 1000000000
period = "1s"
burst = 1000000000

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "origin"

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "origin"
rate_limit = "lim"
TOML
target/release/ringway run --config "$TMP/ringway.toml" 2>"$TMP/ringway.log" &
RPID=$!
PIDS+=("$RPID")
wait_ports "$RINGWAY_PORT" "$ORIGIN_PORT" || { echo "ringway or origin not listening" >&2; exit 1; }
curl -fsi "http://127.0.0.1:$RINGWAY_PORT/limited" | grep -qi '^ratelimit:' || { echo "ringway not answering with RateLimit" >&2; exit 1; }

measure() { # path -> sets US (CPU µs per request) and REQS
    wrk_cpu "$RPID" 2 "$DURATION" "http://127.0.0.1:$RINGWAY_PORT/$1"
    US=$(awk -v c="$WRK_CPU_NS" -v r="$WRK_REQS" 'BEGIN { printf "%.2f", c / r / 1000 }') REQS=$WRK_REQS
}

declare -a P L R
echo "| round | /plain µs/req | /limited µs/req | ratio |"
echo "|---:|---:|---:|---:|"
for i in $(seq "$ROUNDS"); do
    measure plain
    p=$US pr=$REQS
    measure limited
    l=$US lr=$REQS
    P+=("$p") L+=("$l")
    R+=("$(awk -v p="$p" -v l="$l" 'BEGIN { printf "%.4f", l / p }')")
    awk -v i="$i" -v p="$p" -v l="$l" -v pr="$pr" -v lr="$lr" \
        'BEGIN { printf "| %d | %.2f (%d req) | %.2f (%d req) | %.3f |\n", i, p, pr, l, lr, l / p }'
done
mp=$(printf '%s\n' "${P[@]}" | median) ml=$(printf '%s\n' "${L[@]}" | median) mr=$(printf '%s\n' "${R[@]}" | median)
awk -v p="$mp" -v l="$ml" -v r="$mr" \
    'BEGIN { printf "| **median** | **%.2f** | **%.2f** | **%.3f** (of medians); **%.3f** (median of per-round ratios) |\n", p, l, l / p, r }'
