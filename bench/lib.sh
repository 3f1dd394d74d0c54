# shellcheck shell=bash
# Shell helpers the side-by-side CPU scripts share (bench/compare-nginx.sh, bench/matrix.sh,
# bench/auth-cpu.sh, bench/ratelimit-cpu.sh, bench/balance-cpu.sh, bench/observe-cpu.sh;
# bench/rolling-deploy.sh uses wait_ports and the stopping helpers).
# Sourced, never run.
# Must never: start or kill processes of its own accord, or write outside
# the directories its callers pass in.

# On-CPU nanoseconds from schedstat over every thread of PIDS: a finer
# measure than the tick count of /proc/PID/stat (1/CLK_TCK resolution).
cpu_ns() {
    local total=0 p t v
    for p in "$@"; do
        for t in /proc/"$p"/task/*/schedstat; do
            read -r v _ <"$t" 2>/dev/null || continue
            total=$((total + v))
        done
    done
    echo "$total"
}

# Median of the numbers on stdin, one per line (blank lines ignored); n/a if none.
median() { sort -g | awk 'NF { v[++n] = $1 } END { if (n == 0) print "n/a"; else if (n % 2) print v[(n + 1) / 2]; else print (v[n / 2] + v[n / 2 + 1]) / 2 }'; }

# Starts the nginx origin of config/nginx-origin.conf on core 1, listening on
# PORT (and on every further PORT: one worker serving them all), with its
# files in DIR; appends its pid to the caller's PIDS.
start_nginx_origin() { # ROOT DIR PORT [PORT...]
    local root=$1 dir=$2 p listen=""
    shift 2
    for p in "$@"; do listen+="listen 127.0.0.1:$p\1; "; done
    sed -e "s/listen 127\.0\.0\.1:18000\([^;]*\);/$listen/" "$root/config/nginx-origin.conf" >"$dir/origin.conf"
    taskset -c 1 nginx -p "$dir/" -e "$dir/origin.err" -c "$dir/origin.conf" -g 'daemon off;' &
    PIDS+=("$!")
}

# Waits up to 10 s for each PORT on 127.0.0.1 to accept a connection;
# returns 1 as soon as one never does.
wait_ports() { # PORT...
    local p i
    for p in "$@"; do
        for ((i = 0; i < 100; i++)); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue 2
            sleep 0.1
        done
        return 1
    done
}

# One measured wrk run (`wrk -t1 -c32` on core 1) after a discarded warm-up:
# sets WRK_CPU_NS (on-CPU ns of PID's threads over the run), WRK_REQS and
# WRK_RPS (wrk's Requests/sec). Runs in the caller's shell, so a run with
# non-2xx answers or socket errors (connect, read, write, timeout) ends the
# script.
# shellcheck disable=SC2034 # the WRK_* variables are for the caller
wrk_cpu() { # PID WARMUP_S SECS URL [wrk args...]
    local pid=$1 warm=$2 secs=$3 url=$4 before after out bad
    shift 4
    taskset -c 1 wrk -t1 -c32 -d"${warm}s" "$@" "$url" >/dev/null
    before=$(cpu_ns "$pid")
    out=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" "$@" "$url")
    after=$(cpu_ns "$pid")
    bad=$(awk '/Non-2xx/ { print $NF } /Socket errors/ { print }' <<<"$out")
    [[ -z $bad ]] || { echo "errors on $url: $bad" >&2; exit 3; }
    WRK_REQS=$(awk '/requests in/ { print $1 }' <<<"$out")
    WRK_RPS=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    WRK_CPU_NS=$((after - before))
}

# stop_pid PID: TERM, up to 5 s for a clean exit, then KILL it and its children
# (an nginx master killed hard would leave its worker behind).
stop_pid() {
    local pid=$1 kids k i
    kids=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    fi
    wait "$pid" 2>/dev/null || true
}

# The EXIT trap of the wrk scripts: stop_pid on every pid in the caller's
# PIDS, then removes DIR (the script's own mktemp directory).
stop_all_and_remove() { # DIR
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    rm -rf "$1"
}

# Per-round ratios B/A (3 decimals, one a line) of two lists of per-round
# figures, whitespace-separated, the same rounds in the same order.
round_ratios() { # "A1 A2 ..." "B1 B2 ..."
    paste -d' ' <(tr -s ' ' '\n' <<<"$1" | grep .) <(tr -s ' ' '\n' <<<"$2" | grep .) |
        awk '{ printf "%.3f\n", $2 / $1 }'
}

# The JWT both auth benchmarks send (bench/auth-cpu.sh, bench/matrix.sh):
# HS256 over SECRET, with the claims bench_jwt_auth_toml checks and the
# scope auth-cpu.sh's route requires, valid for an hour.
bench_jwt() { # SECRET
    SECRET=$1 python3 -c '
import base64, hmac, hashlib, json, os, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
p = b(json.dumps({"sub": "user-12345", "iss": "https://issuer.example", "aud": "api",
    "exp": int(time.time()) + 3600, "scope": "orders:read orders:write", "jti": "bench-1"}).encode())
s = hmac.new(os.environ["SECRET"].encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
print(f"{h}.{p}.{b(s)}")'
}

# ringway's [auth.NAME] table that verifies bench_jwt's tokens, with the
# secret given as SPEC ("file:PATH" or "env:VAR"); `sub` goes upstream as
# x-user-id.
bench_jwt_auth_toml() { # NAME SPEC
    cat <<TOML
[auth.$1]
kind = "jwt"
algorithms = ["HS256"]
secret = "$2"
issuer = "https://issuer.example"
audience = ["api"]
forward_claims = { "sub" = "x-user-id" }
TOML
}

# The Markdown table of the one-gateway-per-variant scripts (balance-cpu.sh,
# observe-cpu.sh), from the caller's arrays VARIANTS, DESC, US and RPS
# (variant -> per-round figures, space-separated). Ratios are per round,
# not a ratio of medians: load from other processes drifts between rounds,
# and the variants of one round ran back to back.
variant_table() { # BASE_VARIANT ROUNDS SECS
    local base=$1 v rs m
    echo "| variant | gateway CPU µs/request, median of $2 x ${3}s | req/s, median | / $base, median of per-round ratios | per-round ratios | µs/request, all rounds |"
    echo "|---|---:|---:|---:|---|---|"
    for v in "${VARIANTS[@]}"; do
        rs=$(round_ratios "${US[$base]}" "${US[$v]}")
        m=$(median <<<"$rs")
        printf '| %s: %s | %s | %s | %.3f (%+.1f %%) | %s| %s|\n' "$v" "${DESC[$v]}" \
            "$(tr ' ' '\n' <<<"${US[$v]}" | median)" "$(tr ' ' '\n' <<<"${RPS[$v]}" | median)" \
            "$m" "$(awk -v m="$m" 'BEGIN { print (m - 1) * 100 }')" "$(tr '\n' ' ' <<<"$rs")" "${US[$v]}"
    done
}
