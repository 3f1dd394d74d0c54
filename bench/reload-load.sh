#!/usr/bin/env bash
# Config hot reload under load (the reload issue's acceptance): 10 reloads a
# second for 10 s, alternating two valid configs, while ringway-loadgen
# drives keep-alive traffic through the gateway, must show
#   - 0 failed requests (loadgen errors: connect, timeout, read, write, non-2xx),
#   - 0 client connections closed by the gateway (loadgen's closed_by_peer),
#   - p99 added latency changed by < 1 ms against the same run without reloads.
#
# Per round, one after the other, each with a fresh gateway (same binary):
#   direct  ringway-loadgen run straight to the backend: the reference the
#           added latency is counted from (via - direct, as `loadgen added`)
#   A       the same load through the gateway, no reload
#   B       the same load through the gateway; after the warm-up, RELOADS
#           reloads at RELOAD_HZ per second (so over the measured window):
#           each atomically replaces the config file (write a temporary file
#           beside it, rename over it) with the other config, then POST
#           /reload on the admin listener (Bearer admin_token); every answer
#           must be 200 with an empty restart_required.
# Rounds run A B A B ... (ROUNDS pairs); the report gives every run and the
# medians, and the p99 delta B - A per round (the round's direct run cancels
# out of it) and its median, which must stay under 1 ms in magnitude.
#
# The two configs route the measured path (GET /) to the same backend
# (`ringway-loadgen serve`, keep-alive) and differ in three real ways: the
# measured route's response header x-config ("a" / "b": checked on the wire
# before the runs, so a reload that applies nothing is caught), the limit of
# the rate limit on /extra/ (100 / 200 per second), and a route /other/ that
# only config B has.
#
# Before the runs, a throwaway gateway checks the reload interface: POST
# /reload with config B must answer 200 and switch x-config to "b"; an
# invalid file must answer 400 with error code config_invalid and leave "b"
# serving; /metrics must have ringway_config_generation{shard="i"} for every
# shard and ringway_config_reload_failures_total. A 404 there means the
# gateway has no /reload: exit 4. After each run B the generation of every
# shard must be its value before the run + the reloads answered 200, each
# 200 must name the generation one more than the one before, and the reload
# failures must be 0 (GEN_FIRST, when set, is also checked as the
# generation of a freshly started gateway: the numbering is not fixed yet).
#
# Placement as bench/scrape-load.sh: the gateway (SHARDS=1 shard) under
# `taskset -c 0` so its admin thread, which parses and builds each reload,
# shares core 0 with the shard (the worst case); the backend, the loadgen
# and the reloader on core 1. The reloader is one long-lived python3 process
# (a curl per reload would fork and exec ten times a second on the loadgen's
# core, which showed in wrk's p99 in scrape-load.sh) at nice 19, so that the
# loadgen preempts it: at the loadgen's nice it added 130-490 us to the p99
# of runs whose reloads all answered 404 at once (its own CPU time on the
# loadgen's core, not the gateway's), at nice 19 30-40 us (240 us once,
# at a load average of 13 from other builds); that rest includes the
# gateway's own cost of an admin request, which a reload pays anyway. With
# SHARDS > 1 the gateway is not pinned. As `loadgen compare` does (bench/README.md, items 6
# and 7): every process it starts runs at nice NICE (-10), and so does its
# session's autogroup (restored on exit), so other sessions' builds on a
# shared machine disturb the schedule less; and one SCHED_IDLE spinner on
# each of KEEP_AWAKE's CPUs (0,1; empty for none) keeps an idle vCPU from
# halting, whose wake-ups through the hypervisor broke every fixed-rate run
# on the 2-core VMs. Both apply to every run alike.
#
#   bench/reload-load.sh [--rounds N] [--duration S] [--rate R] [--baseline-only] [--no-build]
#
# --baseline-only runs direct and A only (no reload call at all): the load
# and the report on a gateway without /reload. Environment: RELOAD_HZ (10),
# WARMUP (2 s), CONNS (32), SHARDS (1), GEN_FIRST (unset), BASE_PORT
# (18900: backend, gateway, admin = BASE, BASE+1, BASE+2), MAX_DELTA_US
# (1000), MAX_SEND_DELAY_US (500, loadgen's validity bound), NICE (-10),
# KEEP_AWAKE (0,1), RINGWAY_BIN, LOADGEN_BIN. Only 127.0.0.1; every process
# it starts is stopped on exit, an interrupt included. Defaults: 3 rounds x
# 3 runs x (2 + 10 s), about 2 minutes. Builds ringway and the loadgen
# (release) first unless --no-build.
# Exit: 0 every condition met; 1 set-up failure; 2 bad arguments; 3 a run
# broke an acceptance condition or was INVALID (each said on its own line);
# 4 the gateway has no /reload.
set -euo pipefail
START_S=$(date +%s)

ROUNDS=3 DURATION=10 RATE=5000 BASELINE_ONLY=0 BUILD=1
usage() { echo "usage: $0 [--rounds N] [--duration S] [--rate R] [--baseline-only] [--no-build]" >&2; exit 2; }
while (($#)); do
    case $1 in
        --rounds) ROUNDS=${2:-}; shift 2 || usage ;;
        --duration) DURATION=${2:-}; shift 2 || usage ;;
        --rate) RATE=${2:-}; shift 2 || usage ;;
        --baseline-only) BASELINE_ONLY=1; shift ;;
        --no-build) BUILD=0; shift ;;
        *) usage ;;
    esac
done
RELOAD_HZ=${RELOAD_HZ:-10} WARMUP=${WARMUP:-2} CONNS=${CONNS:-32} SHARDS=${SHARDS:-1}
BASE_PORT=${BASE_PORT:-18900} MAX_DELTA_US=${MAX_DELTA_US:-1000} MAX_SEND_DELAY_US=${MAX_SEND_DELAY_US:-500}
GEN_FIRST=${GEN_FIRST:-} NICE=${NICE:--10} KEEP_AWAKE=${KEEP_AWAKE-0,1}
[[ $NICE =~ ^-?[0-9]+$ ]] || { echo "reload-load: NICE must be an integer" >&2; exit 2; }
[[ -z $KEEP_AWAKE || $KEEP_AWAKE =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "reload-load: KEEP_AWAKE is a list of CPUs: 0,1" >&2; exit 2; }
for v in ROUNDS DURATION RATE RELOAD_HZ WARMUP CONNS SHARDS BASE_PORT MAX_DELTA_US MAX_SEND_DELAY_US; do
    { [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} > 0)); } || { echo "reload-load: $v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
[[ -z $GEN_FIRST || $GEN_FIRST =~ ^[0-9]+$ ]] || { echo "reload-load: GEN_FIRST must be an integer" >&2; exit 2; }
RELOADS=$((RELOAD_HZ * DURATION))
BACKEND=$BASE_PORT GW=$((BASE_PORT + 1)) ADMIN=$((BASE_PORT + 2))

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${RINGWAY_BIN:-$ROOT/target/release/ringway}
LOADGEN=${LOADGEN_BIN:-$ROOT/target/release/ringway-loadgen}
for t in curl python3 taskset; do command -v "$t" >/dev/null || { echo "reload-load: $t not found" >&2; exit 1; }; done
if ((BUILD)); then
    cargo build --release --bin ringway >&2
    cargo build --release -p ringway-loadgen >&2
fi
for b in "$BIN" "$LOADGEN"; do [[ -x $b ]] || { echo "reload-load: build $b first" >&2; exit 1; }; done
for p in "$BACKEND" "$GW" "$ADMIN"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        echo "reload-load: 127.0.0.1:$p is in use (ports BASE_PORT=$BASE_PORT to BASE_PORT+2)" >&2
        exit 1
    fi
done

# On tmpfs, so that a reload never waits on a disk: with /tmp on ext4
# (presumably its flush of a file renamed over another, auto_da_alloc) and
# the keep-awake spinners on, writing and renaming the config took up to
# 4.8 s now and then (kernel 6.18); on /dev/shm no reload, from the write
# to the answer, took over 12 ms in several hundred.
SCRATCH=/dev/shm
[[ -d $SCRATCH && -w $SCRATCH ]] || SCRATCH=${TMPDIR:-/tmp}
WORK=$(mktemp -d "$SCRATCH/ringway-reload-load.XXXXXX")
PIDS=()
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
AUTOGROUP_NICE=
finish() {
    local rc=$?
    stop_all_and_remove "$WORK"
    [[ -n $AUTOGROUP_NICE ]] && echo "$AUTOGROUP_NICE" >/proc/self/autogroup
    echo "reload-load: total $(($(date +%s) - START_S)) s" >&2
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
# Drops PID from PIDS once it has been waited for (its number may be reused).
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# Every process started below runs at nice NICE; the session's autogroup too.
N=(nice -n "$NICE")
if [[ -w /proc/self/autogroup ]]; then
    before=$(awk '{ print $NF }' /proc/self/autogroup)
    if echo "$NICE" 2>/dev/null >/proc/self/autogroup; then
        AUTOGROUP_NICE=$before
    else
        echo "reload-load: could not set the autogroup nice to $NICE (kept $before)" >&2
    fi
fi
for c in ${KEEP_AWAKE//,/ }; do
    chrt --idle 0 taskset -c "$c" bash -c 'while :; do :; done' &
    PIDS+=("$!")
done

python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/admin.token"
TOKEN=$(cat "$WORK/admin.token")
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# The two configs: $WORK/a.toml and $WORK/b.toml (see the head comment).
write_config() { # VARIANT(a|b) OUT
    local v=$1 limit=100 pin=""
    [[ $v == b ]] && limit=200
    ((SHARDS == 1)) && pin="cpus = [0]"
    cat >"$2" <<TOML
# bench/reload-load.sh, config $v
[server]
listen = "127.0.0.1:$GW"
admin_listen = "127.0.0.1:$ADMIN"
admin_token = "file:$WORK/admin.token"
workers = $SHARDS
$pin

[[upstreams]]
name = "backend"
targets = ["127.0.0.1:$BACKEND"]
max_idle_per_shard = 64

[rate_limits.extra]
key = "ip"
limit = $limit
period = "1s"

[[routes]]
name = "measured"
path_prefix = "/"
upstream = "backend"
response_headers = { set = { "x-config" = "$v" } }

[[routes]]
name = "extra"
path_prefix = "/extra/"
upstream = "backend"
rate_limit = "extra"
TOML
    if [[ $v == b ]]; then
        cat >>"$2" <<TOML

[[routes]]
name = "other"
path_prefix = "/other/"
upstream = "backend"
TOML
    fi
}
write_config a "$WORK/a.toml"
write_config b "$WORK/b.toml"
for v in a b; do
    "$BIN" check --config "$WORK/$v.toml" >/dev/null || { echo "reload-load: config $v refused" >&2; exit 1; }
done
# Not TOML: what the 400 check of the probe sends.
printf '[server\nlisten = \n' >"$WORK/invalid.toml"

# The file the gateway runs from, replaced atomically (a temporary file in
# the same directory, renamed over it).
CONFIG=$WORK/ringway.toml
install_config() { cp "$1" "$CONFIG.tmp" && mv -f "$CONFIG.tmp" "$CONFIG"; }

# POST /reload: prints the status code, the body to $WORK/reload.json.
post_reload() {
    curl -sS --max-time 10 -o "$WORK/reload.json" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/reload"
}
metrics() { curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/metrics"; }
# "SHARD GENERATION" per line, from ringway_config_generation{shard="i"} N;
# nothing when /metrics has no such series (or does not answer).
generations() {
    { metrics || true; } | awk '/^ringway_config_generation[{]/ { s = $1; sub(/.*shard="/, "", s); sub(/".*/, "", s); print s, $2 }' | sort -n
}
reload_failures() {
    { metrics || true; } | awk '/^ringway_config_reload_failures_total([{ ])/ { n += $2; seen = 1 } END { if (seen) print n + 0; else print "absent" }'
}
# The x-config header of GET / through the gateway.
served_config() {
    curl -sS --max-time 5 -D - -o /dev/null "http://127.0.0.1:$GW/" | awk -F': *' 'tolower($1) == "x-config" { sub(/\r$/, "", $2); print $2 }'
}

start_gateway() { # LOG: a fresh gateway on config a; sets GWPID
    install_config "$WORK/a.toml"
    local pin=(taskset -c 0)
    ((SHARDS == 1)) || pin=()
    "${N[@]}" "${pin[@]}" "$BIN" run --config "$CONFIG" 2>"$1" &
    GWPID=$!
    PIDS+=("$GWPID")
    { wait_ports "$GW" "$ADMIN" && kill -0 "$GWPID" 2>/dev/null; } || { echo "reload-load: the gateway is not listening" >&2; cat "$1" >&2; exit 1; }
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW/")
    [[ $code == 200 && $(served_config) == a ]] || { echo "reload-load: GET / through the gateway answered $code, x-config '$(served_config)' (want 200, a)" >&2; exit 1; }
}
stop_gateway() {
    kill -0 "$GWPID" 2>/dev/null || { echo "reload-load: the gateway exited during the run" >&2; exit 1; }
    stop_pid "$GWPID"
    forget "$GWPID"
}

# The backend, for every run: one thread on core 1.
"${N[@]}" "$LOADGEN" serve --listen "127.0.0.1:$BACKEND" --threads 1 --cpus 1 >"$WORK/backend.log" 2>&1 &
BACKEND_PID=$!
PIDS+=("$BACKEND_PID")
{ wait_ports "$BACKEND" && kill -0 "$BACKEND_PID" 2>/dev/null; } || { echo "reload-load: the backend is not listening" >&2; cat "$WORK/backend.log" >&2; exit 1; }

# The reload interface, on a throwaway gateway.
if ((!BASELINE_ONLY)); then
    start_gateway "$WORK/probe.log"
    install_config "$WORK/b.toml"
    code=$(post_reload)
    if [[ $code == 404 ]]; then
        echo "reload-load: this gateway has no /reload (POST /reload answered 404); --baseline-only runs the load without reloads" >&2
        exit 4
    fi
    [[ $code == 200 ]] || { echo "reload-load: POST /reload of a valid config answered $code: $(cat "$WORK/reload.json")" >&2; exit 1; }
    python3 - "$WORK/reload.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
if not isinstance(r.get("generation"), int) or r.get("restart_required") != []:
    sys.exit(f"reload-load: want {{\"generation\": N, \"restart_required\": []}} from POST /reload, got {r}")
PY
    # The generation counts in the answer are applied by the shards on their own; allow a moment.
    for _ in $(seq 50); do [[ $(served_config) == b ]] && break; sleep 0.02; done
    [[ $(served_config) == b ]] || { echo "reload-load: after a 200 from /reload GET / still says x-config '$(served_config)', not b" >&2; exit 1; }
    fails0=$(reload_failures)
    [[ $fails0 != absent ]] || { echo "reload-load: no ringway_config_reload_failures_total on /metrics" >&2; exit 1; }
    [[ $(generations | wc -l) == "$SHARDS" ]] || { echo "reload-load: want ringway_config_generation{shard=\"i\"} for $SHARDS shard(s) on /metrics, got: $(generations | tr '\n' ' ')" >&2; exit 1; }
    install_config "$WORK/invalid.toml"
    code=$(post_reload)
    python3 - "$WORK/reload.json" "$code" <<'PY' || exit 1
import json, sys
try:
    e = json.load(open(sys.argv[1]))["error"]
    ok = sys.argv[2] == "400" and e["status"] == 400 and e["code"] == "config_invalid" and "ringway.toml:" in e["message"]
except (ValueError, KeyError, TypeError):
    ok = False
if not ok:
    sys.exit(f"reload-load: POST /reload of an invalid file answered {sys.argv[2]} {open(sys.argv[1]).read()!r}, want 400 config_invalid naming the file")
PY
    [[ $(served_config) == b ]] || { echo "reload-load: a refused reload changed what is served (x-config '$(served_config)')" >&2; exit 1; }
    fails1=$(reload_failures)
    ((fails1 == fails0 + 1)) || { echo "reload-load: ringway_config_reload_failures_total went $fails0 -> $fails1 on one refused reload" >&2; exit 1; }
    stop_gateway
    echo "reload interface: POST /reload 200 and applied, invalid file 400 config_invalid, generation per shard and failures on /metrics" >&2
fi

# RELOADS reloads, one every 1/RELOAD_HZ s (start to start), alternating
# b, a, b, ... (ends on a when RELOADS is even). One line per reload in OUT:
# index, start (ms since the first), status (0: no answer), ms taken, and
# for a 200 the generation and the number of restart_required entries (-
# otherwise), for another status the error code (- for a 200).
RELOADER='
import http.client, json, os, sys, time
admin, token, config, a, b, n, hz, out = sys.argv[1:9]
n, period = int(n), 1.0 / float(hz)
srcs = [open(b, "rb").read(), open(a, "rb").read()]
hdrs = {"Authorization": "Bearer " + token, "Content-Length": "0", "Connection": "close"}
with open(out, "w") as f:
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i * period
        time.sleep(max(0.0, due - time.monotonic()))
        t = time.monotonic()
        with open(config + ".tmp", "wb") as c:
            c.write(srcs[i % 2])
        os.replace(config + ".tmp", config)
        try:
            h = http.client.HTTPConnection("127.0.0.1", int(admin), timeout=10)
            h.request("POST", "/reload", headers=hdrs)
            r = h.getresponse()
            status, body = r.status, r.read()
            h.close()
        except OSError as e:
            status, body = 0, str(e).encode()
        gen, rr, code = "-", "-", "-"
        try:
            j = json.loads(body)
            if status == 200:
                gen, rr = j.get("generation", "-"), len(j.get("restart_required", ["absent"]))
            else:
                code = j["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "unparsed"
        f.write(f"{i} {(t - t0) * 1000:.1f} {status} {(time.monotonic() - t) * 1000:.1f} {gen} {rr} {code}\n")
        f.flush()
'

# One loadgen run of WARMUP + DURATION s at RATE on core 1, JSON to OUT:
# load_start starts it in the background (LOADPID, in PIDS so that an
# interrupted script stops it), load_wait waits for it. Its exit status
# (3: INVALID) is not fatal; a run without its JSON is.
load_start() { # URL OUT
    "${N[@]}" "$LOADGEN" run "$1" --rate "$RATE" -c "$CONNS" -d "${DURATION}s" --warmup "${WARMUP}s" --cpus 1 \
        --max-send-delay-us "$MAX_SEND_DELAY_US" --json "$2" >"${2%.json}.out" 2>&1 &
    LOADPID=$!
    PIDS+=("$LOADPID")
}
load_wait() { # OUT
    local rc=0
    wait "$LOADPID" || rc=$?
    forget "$LOADPID"
    [[ -s $1 ]] || { echo "reload-load: loadgen wrote no result ($rc): $(cat "${1%.json}.out")" >&2; exit 1; }
}
# "requests failed closed_by_peer p50 p99 valid connects reasons" of a run's JSON.
figures() {
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
r, v = j["result"], j["validity"]
e = r["errors"]
failed = e["connect"] + e["timeout"] + e["read"] + e["write"] + sum(e["status"].values())
reasons = "; ".join(v["failures"]).replace(" ", "_") or "-"
print(r["requests"], failed, r["closed_by_peer"], r["latency_us"]["p50"], r["latency_us"]["p99"],
      "valid" if v["valid"] else "INVALID", r["connects"], reasons)' "$1"
}

declare -A REQ FAIL CLOSED P50 P99 ADD50 ADD99 VALID WHY CONNECTS RELOAD_OK RELOAD_BAD GEN
bad=0
fail() { echo "reload-load: FAIL: $*"; bad=1; }
VARIANTS=(A B)
((BASELINE_ONLY)) && VARIANTS=(A)
what="B: $RELOADS reloads at $RELOAD_HZ/s"
((BASELINE_ONLY)) && what="no reload (--baseline-only)"
echo "== $ROUNDS round(s): direct, then ${VARIANTS[*]} through a fresh gateway each; $RATE req/s, $CONNS connections, ${WARMUP} s warm-up + ${DURATION} s; $what; config files in $WORK; nice $NICE, keep-awake CPUs ${KEEP_AWAKE:-none}; load average $(loadavg)"
for r in $(seq "$ROUNDS"); do
    RD=$WORK/round$r
    mkdir -p "$RD"
    load_start "http://127.0.0.1:$BACKEND/" "$RD/direct.json"
    load_wait "$RD/direct.json"
    read -r _ dfail _ d50 d99 dvalid _ dwhy < <(figures "$RD/direct.json")
    ((dfail == 0)) || fail "round $r direct: $dfail failed requests to the backend itself"
    [[ $dvalid == valid ]] || fail "round $r direct: INVALID: ${dwhy//_/ }"
    echo "round $r direct: p50 $d50 us, p99 $d99 us, $dvalid"
    for V in "${VARIANTS[@]}"; do
        k=$V$r bad_before=$bad
        start_gateway "$RD/$V.log"
        gen0=$(generations | awk '{ print $2 }' | sort -u | tr '\n' ' ')
        gen0=${gen0% }
        if [[ -n $GEN_FIRST && $V == B && $gen0 != "$GEN_FIRST" ]]; then
            fail "run $k: a fresh gateway is at generation '$gen0', GEN_FIRST=$GEN_FIRST"
        fi
        load_start "http://127.0.0.1:$GW/" "$RD/$V.json"
        if [[ $V == B ]]; then
            sleep "$WARMUP"
            nice -n 19 taskset -c 1 python3 -c "$RELOADER" "$ADMIN" "$TOKEN" "$CONFIG" "$WORK/a.toml" "$WORK/b.toml" \
                "$RELOADS" "$RELOAD_HZ" "$RD/reloads.txt" &
            RELOADER_PID=$!
            PIDS+=("$RELOADER_PID")
            wait "$RELOADER_PID" || { echo "reload-load: the reloader failed" >&2; exit 1; }
            forget "$RELOADER_PID"
        fi
        load_wait "$RD/$V.json"
        read -r req failed closed p50 p99 valid connects why < <(figures "$RD/$V.json")
        REQ[$k]=$req FAIL[$k]=$failed CLOSED[$k]=$closed P50[$k]=$p50 P99[$k]=$p99 VALID[$k]=$valid CONNECTS[$k]=$connects WHY[$k]=$why
        ADD50[$k]=$(awk -v v="${P50[$k]}" -v d="$d50" 'BEGIN { printf "%.0f", v - d }')
        ADD99[$k]=$(awk -v v="${P99[$k]}" -v d="$d99" 'BEGIN { printf "%.0f", v - d }')
        ((FAIL[$k] == 0)) || fail "run $k: ${FAIL[$k]} failed requests ($(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["result"]["errors"])' "$RD/$V.json"))"
        ((CLOSED[$k] == 0)) || fail "run $k: ${CLOSED[$k]} client connections closed by the gateway (${CONNECTS[$k]} connects for $CONNS connections)"
        [[ ${VALID[$k]} == valid ]] || fail "run $k: INVALID: ${WHY[$k]//_/ }"
        line="round $r $V: ${REQ[$k]} requests, ${FAIL[$k]} failed, ${CLOSED[$k]} closed by the gateway, p50 ${P50[$k]} us (+${ADD50[$k]}), p99 ${P99[$k]} us (+${ADD99[$k]}), ${VALID[$k]}"
        if [[ $V == B ]]; then
            RELOAD_OK[$k]=$(awk '$3 == 200 && $6 == 0' "$RD/reloads.txt" | wc -l)
            RELOAD_BAD[$k]=$((RELOADS - RELOAD_OK[$k]))
            late=$(awk -v p=$((1000 / RELOAD_HZ)) '{ if ($2 - $1 * p > p) n++ } END { print n + 0 }' "$RD/reloads.txt")
            slow=$(awk '{ print $4 }' "$RD/reloads.txt" | sort -g | tail -1)
            ((RELOAD_BAD[$k] == 0)) || fail "run $k: ${RELOAD_BAD[$k]} of $RELOADS reloads not answered 200 with restart_required empty: $(awk '$3 != 200 || $6 != 0 { printf "#%s %s %s (restart_required %s) ", $1, $3, $7, $6 }' "$RD/reloads.txt" | head -c 400)"
            # Each 200 answer names the generation it made: one more than the last.
            steps=$(awk '$3 == 200 && $5 != "-" { if (seen && $5 != prev + 1) n++; prev = $5; seen = 1 } END { print n + 0 }' "$RD/reloads.txt")
            ((steps == 0)) || fail "run $k: $steps reload answers whose generation is not the previous one + 1"
            ((late == 0)) || fail "run $k: $late reloads started over one period behind the ${RELOAD_HZ}/s schedule (reloads too slow: not the rate asked for)"
            want=""
            for g in $gen0; do want+="$((g + RELOAD_OK[$k])) "; done
            want=${want% }
            got=
            for _ in $(seq 100); do
                got=$(generations | awk '{ print $2 }' | sort -u | tr '\n' ' ')
                got=${got% }
                [[ $got == "$want" ]] && break
                sleep 0.02
            done
            GEN[$k]="$gen0 -> $got"
            [[ $got == "$want" ]] || fail "run $k: ringway_config_generation went $gen0 -> '$(generations | tr '\n' ' ')' on every shard, want $want after ${RELOAD_OK[$k]} reloads"
            f=$(reload_failures)
            [[ $f == 0 ]] || fail "run $k: ringway_config_reload_failures_total is $f"
            line+=", reloads ${RELOAD_OK[$k]}/$RELOADS ok (slowest $slow ms), generation ${GEN[$k]}"
        fi
        echo "$line"
        if ((bad > bad_before)); then
            echo "    gateway log, last lines:"
            tail -n 8 "$RD/$V.log" | sed 's/^/    /'
        fi
        stop_gateway
    done
done

sum() { awk '{ n += $1 } END { print n + 0 }'; }
col() { # ARRAY_NAME VARIANT: the variant's per-round values, one a line
    local -n a=$1
    local i
    for i in $(seq "$ROUNDS"); do echo "${a[$2$i]}"; done
}
echo
echo "| run (median of $ROUNDS) | requests | failed | closed by gateway | p50 µs | p99 µs | added p50 µs | added p99 µs | per-round added p99 µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for V in "${VARIANTS[@]}"; do
    label="A: no reload"
    [[ $V == B ]] && label="B: $RELOADS reloads at $RELOAD_HZ/s"
    echo "| $label | $(col REQ "$V" | median) | $(col FAIL "$V" | sum) (all runs) | $(col CLOSED "$V" | sum) (all runs) | $(col P50 "$V" | median) | $(col P99 "$V" | median) | $(col ADD50 "$V" | median) | $(col ADD99 "$V" | median) | $(col ADD99 "$V" | tr '\n' ' ')|"
done
if ((!BASELINE_ONLY)); then
    deltas=$(paste -d' ' <(col ADD99 A) <(col ADD99 B) | awk '{ print $2 - $1 }')
    dmed=$(median <<<"$deltas")
    echo
    echo "p99 added latency B - A: median $dmed µs (bound ±$MAX_DELTA_US), per round: $(tr '\n' ' ' <<<"$deltas")"
    echo "reloads answered 200: $(col RELOAD_OK B | tr '\n' ' ')of $RELOADS per run; generation per run B: $(for i in $(seq "$ROUNDS"); do printf '%s; ' "${GEN[B$i]}"; done)"
    awk -v d="$dmed" -v m="$MAX_DELTA_US" 'BEGIN { exit !(d < m && d > -m) }' ||
        fail "p99 added latency changed by $dmed µs with reloads (median of per-round B - A), bound $MAX_DELTA_US"
else
    echo
    echo "baseline only: no reload was made"
fi
echo "machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'), $(nproc) CPUs, kernel $(uname -r), load average $(loadavg)"
if ((bad)); then
    echo "reload-load: acceptance NOT met (the FAIL lines above)"
    exit 3
fi
((BASELINE_ONLY)) || echo "reload-load: acceptance met"
