#!/usr/bin/env bash
# What scraping /metrics costs the requests in flight, with 1000 routes (so
# a scrape renders ~1000 x 29 series): wrk's latency percentiles and
# throughput through ringway with and without a concurrent scrape loop
# (GET /metrics every 100 ms), side by side, rounds rotating the variants:
#   plain    no loop
#   healthz  the same loop on GET /healthz: what the loop itself costs (on
#            core 1, beside wrk and nginx)
#   metrics  the loop on GET /metrics
# so metrics - healthz is what rendering and sending the scrape adds.
#
# Setup as bench/auth-cpu.sh: ringway 1 shard on core 0, started under
# `taskset -c 0` so its admin thread (which renders the scrape) shares core
# 0 with the shard: the worst case, a gateway with a shard on every core.
# The nginx origin, wrk (-t1 -c32) and the curl loop share core 1. Also
# reported: ringway's CPU time per request (utime + stime of /proc/PID/stat,
# which keeps the time of the admin's exited connection threads) and the
# scrape's own time and size.
# Must never: touch /etc or /var, listen beyond 127.0.0.1, or leave a process.
#
# Usage: bench/scrape-load.sh [--rounds N] [--duration S] [--no-build]
#        (defaults: 5 rounds x 10 s per variant, about 3 minutes)
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
ORIGIN_PORT=${ORIGIN_PORT:-18020} GW_PORT=${GW_PORT:-18095} ADMIN_PORT=${ADMIN_PORT:-18096}
cd "$(dirname "$0")/.."
for t in nginx wrk curl python3 taskset; do command -v $t >/dev/null || { echo "$t not found" >&2; exit 1; }; done
((BUILD)) && cargo build --release --bin ringway >&2

TMP=$(mktemp -d)
chmod 755 "$TMP"
PIDS=()
LOOP=
cleanup() {
    [[ -n $LOOP ]] && stop_pid "$LOOP"
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# shellcheck source=bench/lib.sh
source bench/lib.sh
start_nginx_origin "$PWD" "$TMP" "$ORIGIN_PORT"

{
    cat <<TOML
[server]
listen = "127.0.0.1:$GW_PORT"
admin_listen = "127.0.0.1:$ADMIN_PORT"
workers = 1
cpus = [0]

[[upstreams]]
name = "origin"
targets = ["127.0.0.1:$ORIGIN_PORT"]
max_idle_per_shard = 64
TOML
    for i in $(seq 0 999); do
        printf '\n[[routes]]\nname = "r%d"\npath_prefix = "/r%d/"\nupstream = "origin"\n' "$i" "$i"
    done
} >"$TMP/ringway.toml"
taskset -c 0 target/release/ringway run --config "$TMP/ringway.toml" 2>"$TMP/ringway.log" &
GW=$!
PIDS+=("$GW")
URL="http://127.0.0.1:$GW_PORT/r999/x"
METRICS="http://127.0.0.1:$ADMIN_PORT/metrics"
for _ in $(seq 100); do
    curl -fs "$URL" >/dev/null 2>&1 && break
    sleep 0.1
done
[[ $(curl -s -o /dev/null -w '%{http_code}' "$URL") == 200 ]] || { echo "route r999 broken" >&2; exit 1; }
SERIES=$(curl -fs "$METRICS" | grep -c '^ringway_requests_total{')
[[ $SERIES == $((1001 * 6)) ]] || { echo "expected 6006 request series, got $SERIES" >&2; exit 1; }

# wrk's "1.23ms" / "456.00us" / "1.01s" in µs.
to_us() { awk '{ v = $1 + 0; if ($1 ~ /us$/) print v; else if ($1 ~ /ms$/) print v * 1000; else if ($1 ~ /s$/) print v * 1e6; else print v }'; }

# Every 100 ms (start to start), one GET of admin endpoint $1 on core 1,
# from one long-lived python3 process (a curl per scrape would fork and exec
# ten times a second on wrk's core, and that, not the scrape, showed in
# wrk's p99); its time and size are appended to $TMP/$1.
SCRAPER='
import socket, sys, time
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
req = f"GET /{path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n".encode()
with open(out, "a") as f:
    due = time.monotonic()
    while True:
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(req)
            n = 0
            while b := s.recv(1 << 18):
                n += len(b)
        f.write(f"{time.monotonic() - t} {n}\n")
        f.flush()
        due += 0.1
        time.sleep(max(0.0, due - time.monotonic()))
'
scrape_loop() { # ENDPOINT
    exec taskset -c 1 python3 -c "$SCRAPER" "$ADMIN_PORT" "$1" "$TMP/$1"
}

# utime + stime of the whole process in ns: unlike schedstat over the live
# threads, it keeps the time of threads that exited (one per admin request).
proc_cpu_ns() {
    local ticks
    ticks=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")
    echo $((ticks * 1000000000 / $(getconf CLK_TCK)))
}

measure() { # VARIANT -> sets P50 P99 RPS CPU_NS (ringway CPU ns per request)
    local out before after reqs bad
    if [[ $1 != plain ]]; then
        (scrape_loop "$1") &
        LOOP=$!
    fi
    taskset -c 1 wrk -t1 -c32 -d1s "$URL" >/dev/null
    before=$(proc_cpu_ns "$GW")
    out=$(taskset -c 1 wrk -t1 -c32 -d"${DURATION}s" --latency "$URL")
    after=$(proc_cpu_ns "$GW")
    if [[ -n $LOOP ]]; then
        stop_pid "$LOOP"
        LOOP=
    fi
    bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    [[ -z $bad ]] || { echo "non-2xx responses: $bad" >&2; exit 3; }
    P50=$(awk '$1 == "50%" { print $2 }' <<<"$out" | to_us)
    P99=$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)
    RPS=$(awk '/^Requests\/sec/ { printf "%d\n", $2 }' <<<"$out")
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
    CPU_NS=$(((after - before) / reqs))
}

declare -A p50 p99 rps cpu
orders=("plain healthz metrics" "metrics plain healthz" "healthz metrics plain")
for r in $(seq "$ROUNDS"); do
    for v in ${orders[$((r % 3))]}; do
        measure "$v"
        p50[$v]+="$P50 " p99[$v]+="$P99 " rps[$v]+="$RPS " cpu[$v]+="$CPU_NS "
        echo "round $r $v: p50 ${P50} us, p99 ${P99} us, ${RPS} req/s, ${CPU_NS} ns CPU/request" >&2
    done
done

col() { tr ' ' '\n' <<<"$1" | grep .; }
# Per-round differences: load from other processes drifts between rounds, the
# variants of one round ran back to back.
diffs() { paste -d' ' <(col "$1") <(col "$2") | awk '{ printf "%.0f\n", $2 - $1 }'; }
added() { # WHAT A B
    local d
    d=$(diffs "$2" "$3")
    echo "| $1 | $(median <<<"$d") | $(tr '\n' ' ' <<<"$d")|"
}
echo "| variant (median of $ROUNDS x ${DURATION}s) | p50 µs | p99 µs | req/s | ringway CPU ns/request |"
echo "|---|---:|---:|---:|---:|"
for v in plain healthz metrics; do
    case $v in
        plain) label="no loop" ;;
        healthz) label="GET /healthz every 100 ms (the loop's own cost)" ;;
        metrics) label="GET /metrics every 100 ms" ;;
    esac
    echo "| $label | $(col "${p50[$v]}" | median) | $(col "${p99[$v]}" | median) | $(col "${rps[$v]}" | median) | $(col "${cpu[$v]}" | median) |"
done
echo
echo "| added, per round | median | rounds |"
echo "|---|---:|---|"
added "p99 µs, metrics - plain" "${p99[plain]}" "${p99[metrics]}"
added "p99 µs, metrics - healthz" "${p99[healthz]}" "${p99[metrics]}"
added "p50 µs, metrics - healthz" "${p50[healthz]}" "${p50[metrics]}"
added "CPU ns/request, metrics - healthz" "${cpu[healthz]}" "${cpu[metrics]}"
echo
ms() { awk '{ print $1 * 1000 }' "$TMP/$1"; }
for e in healthz metrics; do
    echo "/$e: $(wc -l <"$TMP/$e") requests, time median $(ms "$e" | median) ms, max $(ms "$e" | sort -g | tail -1) ms, $(awk '{ print $2 }' "$TMP/$e" | median) bytes received"
done
echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
