#!/usr/bin/env bash
# A rolling deploy under load through a `discovery = "registry"` upstream
# (issue 14): not a CPU figure but a count of the requests a deploy breaks.
# Three backends (`ringway-loadgen serve`, one thread each) are registered
# with ringway's built-in registry (ttl_s = TTL, a heartbeat for each every
# TTL/3 s) and `wrk -t1 -c32` runs through the gateway for the whole deploy.
# Each backend in turn is replaced by one on a new port, in one of two ways:
#   drain     DELETE its instance -> wait until it drains (its request count
#             stops moving and it has no connection open) -> stop it ->
#             start the new one -> register it -> wait until /upstreams
#             lists it. The way docs/discovery.md says a service should stop.
#   no-drain  stop it (its heartbeats stop, its entry is left to expire) ->
#             start the new one -> register it -> wait until /upstreams
#             lists it: the naive deploy, relying on the gateway's retries
#             (connect failures and resets of idempotent requests) and
#             outlier ejection (defaults: 5 failures in a row) to hide it.
# Each variant has its own gateway (2 shards, one per core: the default
# placement, so the set change is applied by two shards independently, the
# case where a shard could race a deregistration; nothing is pinned beyond
# that, since no CPU time is measured), started fresh, with default retry
# and outlier settings. Reported per variant: wrk's requests, non-2xx
# answers and socket errors, duration, the time of each phase of each step,
# requests the old backend answered after its DELETE was answered (those
# in flight then: at most 32), the gateway's retried requests, its own
# error answers by code and the ejections it logged, and the final
# registry listing.
#
#   bench/rolling-deploy.sh [drain|no-drain|both]      (default: both)
#
# Needs wrk, curl, python3 and target/release/ringway and
# target/release/ringway-loadgen (`cargo build --release -p ringway -p
# ringway-loadgen`). Only 127.0.0.1, ports BASE_PORT (18600) to
# BASE_PORT+29; every process it starts is stopped on exit. Environment:
# TTL (6 s), WARM (2 s of load before the first step), SETTLE (1 s between
# steps), TAIL (2 s after the last). Exit 3 if the drain variant saw a
# non-2xx answer or a socket error, or an old backend answered more
# requests after its DELETE than could have been in flight; the no-drain
# variant's errors are reported, not failed on (they are what it shows).
set -euo pipefail
WHICH=${1:-both}
case $WHICH in
    drain) VARIANTS=(drain) ;;
    no-drain) VARIANTS=(no-drain) ;;
    both) VARIANTS=(drain no-drain) ;;
    *) echo "usage: $0 [drain|no-drain|both]" >&2; exit 2 ;;
esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/ringway-loadgen}
BASE_PORT=${BASE_PORT:-18600} # variant k: gateway BASE+2k, admin BASE+2k+1, backends BASE+10(k+1) ..+5
TTL=${TTL:-6} WARM=${WARM:-2} SETTLE=${SETTLE:-1} TAIL=${TAIL:-2}
CONNS=32
for t in wrk curl python3; do command -v "$t" >/dev/null || { echo "rolling-deploy: $t not found" >&2; exit 1; }; done
for b in "$BIN" "$LOADGEN"; do [[ -x $b ]] || { echo "rolling-deploy: build $b first" >&2; exit 1; }; done
((TTL >= 3)) || { echo "rolling-deploy: TTL must be at least 3 s" >&2; exit 2; }
WORK=$(mktemp -d /tmp/ringway-rolling-deploy.XXXXXX)
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
trap 'stop_all_and_remove "$WORK"' EXIT
trap 'exit 130' INT TERM

python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/registry.token"
AUTH="Authorization: Bearer $(cat "$WORK/registry.token")"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# A backend's "requests open" from GET /.loadgen/stats: requests answered
# (the stats request not counted) and connections open (the stats
# connection itself not counted).
backend_stats() { # PORT
    curl -fsS --max-time 2 "http://127.0.0.1:$1/.loadgen/stats" |
        python3 -c 'import json, sys; s = json.load(sys.stdin); print(s["requests"], s["open"] - 1)'
}
start_backend() { # PORT: sets BPID
    "$LOADGEN" serve --listen "127.0.0.1:$1" --threads 1 >>"$VDIR/backends.log" 2>&1 &
    BPID=$!
    PIDS+=("$BPID") VPIDS+=("$BPID")
}
registry() { # METHOD PATH [curl args...]: prints the status code, the body to $VDIR/last.json
    local m=$1 p=$2
    shift 2
    curl -sS --max-time 5 -o "$VDIR/last.json" -w '%{http_code}' -X "$m" -H "$AUTH" "$@" \
        "http://127.0.0.1:$ADMIN/registry/services/app$p"
}
register() { # ID PORT
    registry PUT "/instances/$1" -H 'content-type: application/json' \
        -d "{\"addr\": \"127.0.0.1:$2\", \"ttl_s\": $TTL}"
}
# Heartbeats every TTL/3 s for the ids listed in $VDIR/ids (rewritten
# atomically by the deploy); a non-200 is logged to $VDIR/heartbeats.bad.
heartbeats() {
    local id code s=
    trap '[[ -n $s ]] && kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
        sleep $((TTL / 3)) &
        s=$!
        wait "$s"
        s=
        for id in $(cat "$VDIR/ids"); do
            code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" \
                "http://127.0.0.1:$ADMIN/registry/services/app/instances/$id/heartbeat" || true)
            [[ $code == 200 ]] || echo "$(now_ms) $id $code" >>"$VDIR/heartbeats.bad"
        done
    done
}
set_ids() { printf '%s\n' "$@" >"$VDIR/ids.tmp" && mv "$VDIR/ids.tmp" "$VDIR/ids"; }
# Waits up to 10 s for /upstreams to list (WANT=1) or not list (WANT=0) ADDR.
wait_listed() { # ADDR WANT
    local i
    for ((i = 0; i < 200; i++)); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN/upstreams" |
            ADDR=$1 WANT=$2 python3 -c '
import json, os, sys
ts = json.load(sys.stdin)["upstreams"][0]["targets"]
listed = any(t["addr"] == os.environ["ADDR"] for t in ts)
sys.exit(0 if listed == (os.environ["WANT"] == "1") else 1)'; then return 0; fi
        sleep 0.05
    done
    return 1
}
metric() { # NAME_PREFIX: the sum of every series of the family whose line starts with it
    awk -v p="$1" 'index($1, p) == 1 { n += $2 } END { print n + 0 }' "$VDIR/metrics"
}

declare -A R_REQS R_NON2XX R_SOCK R_DUR R_RPS R_RETRIED R_GWERR R_EJECT R_P99 R_MAX
bad=0
for k in "${!VARIANTS[@]}"; do
    V=${VARIANTS[$k]}
    VDIR=$WORK/$V
    mkdir -p "$VDIR"
    VPIDS=()
    GW=$((BASE_PORT + 2 * k)) ADMIN=$((BASE_PORT + 2 * k + 1))
    PORTS=() # backend i's port, now
    for i in 0 1 2; do PORTS+=($((BASE_PORT + 10 * (k + 1) + i))); done
    NEXT_PORT=$((BASE_PORT + 10 * (k + 1) + 3))
    cat >"$VDIR/ringway.toml" <<TOML
[server]
listen = "127.0.0.1:$GW"
admin_listen = "127.0.0.1:$ADMIN"
workers = 2

[registry]
token = "file:$WORK/registry.token"

[[upstreams]]
name = "app"
discovery = "registry"

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
TOML
    "$BIN" check --config "$VDIR/ringway.toml" >/dev/null || { echo "rolling-deploy: config refused" >&2; exit 1; }
    "$BIN" run --config "$VDIR/ringway.toml" 2>"$VDIR/ringway.err" &
    PIDS+=("$!") VPIDS+=("$!")
    for i in 0 1 2; do start_backend "${PORTS[$i]}"; BP[$i]=$BPID; done
    wait_ports "$GW" "$ADMIN" "${PORTS[@]}" || { echo "rolling-deploy: the gateway or a backend is not listening" >&2; cat "$VDIR/ringway.err" >&2; exit 1; }
    IDS=()
    for i in 0 1 2; do
        IDS[$i]=app-${PORTS[$i]}
        code=$(register "${IDS[$i]}" "${PORTS[$i]}")
        [[ $code == 201 ]] || { echo "rolling-deploy: registering ${IDS[$i]} answered $code: $(cat "$VDIR/last.json")" >&2; exit 1; }
        wait_listed "127.0.0.1:${PORTS[$i]}" 1 || { echo "rolling-deploy: ${IDS[$i]} never listed" >&2; exit 1; }
    done
    set_ids "${IDS[@]}"
    heartbeats &
    PIDS+=("$!") VPIDS+=("$!")
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/")
    [[ $code == 200 ]] || { echo "rolling-deploy: the gateway answered $code" >&2; exit 1; }

    echo "== $V (gateway 127.0.0.1:$GW, load average $(loadavg))"
    wrk -t1 -c$CONNS -d600s --latency "http://127.0.0.1:$GW/" >"$VDIR/wrk.out" 2>&1 &
    WRK=$!
    PIDS+=("$WRK")
    sleep "$WARM"
    echo "| step | old -> new | deregister ms | drain ms | after DELETE | open at stop | stop ms | start ms | register ms | listed ms | step ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for i in 0 1 2; do
        old=${PORTS[$i]} new=$NEXT_PORT
        NEXT_PORT=$((NEXT_PORT + 1))
        t0=$(now_ms) dereg=- drain=- after=- open=-
        others=("${IDS[@]}")
        unset "others[$i]"
        set_ids "${others[@]}"
        if [[ $V == drain ]]; then
            code=$(registry DELETE "/instances/${IDS[$i]}")
            [[ $code == 200 ]] || { echo "rolling-deploy: DELETE ${IDS[$i]} answered $code" >&2; exit 1; }
            t1=$(now_ms)
            read -r r_del _ < <(backend_stats "$old")
            dereg=$((t1 - t0))
            # Drained: no request answered over the last 100 ms and no
            # connection from the gateway left open; at most 5 s.
            prev=-1
            while :; do
                read -r r open < <(backend_stats "$old")
                ((r == prev && open == 0)) && break
                (($(now_ms) - t1 < 5000)) || { echo "rolling-deploy: $old not drained after 5 s ($open connections open)" >&2; bad=1; break; }
                prev=$r
                sleep 0.05
            done
            t2=$(now_ms)
            drain=$((t2 - t1)) after=$((r - r_del))
            ((after <= CONNS)) || { echo "rolling-deploy: $old answered $after requests after its DELETE was answered (more than $CONNS in flight?)" >&2; bad=1; }
        else
            read -r _ open < <(backend_stats "$old")
            t2=$(now_ms)
        fi
        stop_pid "${BP[$i]}"
        t3=$(now_ms)
        start_backend "$new"
        BP[$i]=$BPID
        wait_ports "$new" || { echo "rolling-deploy: backend $new did not start" >&2; exit 1; }
        t4=$(now_ms)
        IDS[$i]=app-$new PORTS[$i]=$new
        code=$(register "${IDS[$i]}" "$new")
        [[ $code == 201 ]] || { echo "rolling-deploy: registering ${IDS[$i]} answered $code" >&2; exit 1; }
        set_ids "${IDS[@]}"
        t5=$(now_ms)
        wait_listed "127.0.0.1:$new" 1 || { echo "rolling-deploy: ${IDS[$i]} never listed" >&2; exit 1; }
        t6=$(now_ms)
        echo "| $((i + 1)) | $old -> $new | $dereg | $drain | $after | $open | $((t3 - t2)) | $((t4 - t3)) | $((t5 - t4)) | $((t6 - t5)) | $((t6 - t0)) |"
        ((i == 2)) || sleep "$SETTLE"
    done
    sleep "$TAIL"
    kill -INT "$WRK"
    wait "$WRK" || true
    curl -fsS "http://127.0.0.1:$ADMIN/metrics" >"$VDIR/metrics"
    out=$(cat "$VDIR/wrk.out")
    R_REQS[$V]=$(awk '/requests in/ { print $1 }' <<<"$out")
    R_DUR[$V]=$(awk '/requests in/ { sub(/,$/, "", $4); print $4 }' <<<"$out")
    R_RPS[$V]=$(awk '/^Requests\/sec/ { printf "%d", $2 }' <<<"$out")
    R_NON2XX[$V]=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    R_NON2XX[$V]=${R_NON2XX[$V]:-0}
    R_SOCK[$V]=$(awk '/Socket errors/ { for (i = 3; i <= NF; i++) n += $i; print n }' <<<"$out")
    R_SOCK[$V]=${R_SOCK[$V]:-0}
    R_P99[$V]=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    R_MAX[$V]=$(awk '$1 == "Latency" { print $4 }' <<<"$out")
    R_RETRIED[$V]=$(metric ringway_retried_requests_total)
    R_GWERR[$V]=$(awk '/^ringway_errors_total[{]/ && $2 > 0 { sub(/^ringway_errors_total[{]code="/, "", $1); sub(/"[}]$/, "", $1); s = s $1 "=" $2 " " } END { print s == "" ? "none" : s }' "$VDIR/metrics")
    R_EJECT[$V]=$(grep -c 'upstream target ejected' "$VDIR/ringway.err" || true)
    echo
    grep -E 'requests in|Socket errors|Non-2xx|Latency +[0-9]' "$VDIR/wrk.out" | sed 's/^ */    /'
    echo "    gateway: retried requests ${R_RETRIED[$V]}, error answers ${R_GWERR[$V]}, ejections logged ${R_EJECT[$V]}, load average $(loadavg)"
    [[ -s $VDIR/heartbeats.bad ]] && echo "    heartbeats not answered 200: $(awk '{ print $2 "=" $3 }' "$VDIR/heartbeats.bad" | tr '\n' ' ')"
    # Every new backend served; the registry lists exactly them (the
    # no-drain variant's old entries may still be waiting for their TTL).
    for i in 0 1 2; do
        read -r r _ < <(backend_stats "${PORTS[$i]}")
        ((r > 0)) || { echo "rolling-deploy: the new backend ${PORTS[$i]} served nothing" >&2; bad=1; }
    done
    registry GET "" >/dev/null
    echo "    registry now: $(python3 -c '
import json, sys
print(", ".join("%s %s (expires in %s ms)" % (i["id"], i["addr"], i["expires_in_ms"]) for i in json.load(open(sys.argv[1]))["instances"]))' "$VDIR/last.json")"
    echo
    if [[ $V == drain ]] && ((R_NON2XX[$V] + R_SOCK[$V] > 0)); then
        echo "rolling-deploy: drain: ${R_NON2XX[$V]} non-2xx answers and ${R_SOCK[$V]} socket errors (gateway log: $VDIR/ringway.err)" >&2
        bad=1
    fi
    for p in "${VPIDS[@]}"; do stop_pid "$p"; done
done

echo "| variant | requests | non-2xx | socket errors | duration | req/s | retried requests | gateway error answers | ejections | latency p99 / max |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
for V in "${VARIANTS[@]}"; do
    echo "| $V | ${R_REQS[$V]} | ${R_NON2XX[$V]} | ${R_SOCK[$V]} | ${R_DUR[$V]} | ${R_RPS[$V]} | ${R_RETRIED[$V]} | ${R_GWERR[$V]} | ${R_EJECT[$V]} | ${R_P99[$V]} / ${R_MAX[$V]} |"
done
((bad == 0)) || exit 3
