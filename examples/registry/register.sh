#!/bin/sh
# Registers an instance with ringway's service registry, renews it every
# TTL/3 seconds, and deregisters it on SIGTERM or SIGINT (docs/discovery.md).
#
#   RINGWAY_REGISTRY_TOKEN=... SERVICE=users ADDR=10.0.0.5:8080 ./register.sh [COMMAND ARGS...]
#
# With a COMMAND, it runs it and, on SIGTERM, deregisters first and then
# stops it (so no new request is sent to it while it drains); it ends when
# the command ends. Without one it runs beside the service until signalled.
# Environment: REGISTRY (default http://127.0.0.1:9901), RINGWAY_REGISTRY_TOKEN,
# SERVICE, ADDR (IP:PORT), ID (default HOSTNAME-PID), WEIGHT (1), TTL (30, >= 3).
set -u
: "${REGISTRY:=http://127.0.0.1:9901}" "${RINGWAY_REGISTRY_TOKEN:?}" "${SERVICE:?}" "${ADDR:?}"
: "${ID:=$(hostname)-$$}" "${WEIGHT:=1}" "${TTL:=30}"
url="$REGISTRY/registry/services/$SERVICE/instances/$ID"
auth="Authorization: Bearer $RINGWAY_REGISTRY_TOKEN"
put() { curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "$auth" "$@"; }
register() { put -H 'content-type: application/json' \
  -d "{\"addr\":\"$ADDR\",\"weight\":$WEIGHT,\"ttl_s\":$TTL}" "$url"; }
child= sleeper=
stop() {
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  curl -sS -o /dev/null -X DELETE -H "$auth" "$url"   # 200, or 404 if it had expired
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child"
  exit 0
}
trap stop TERM INT
if [ $# -gt 0 ]; then "$@" & child=$!; fi
code=$(register); echo "register $SERVICE/$ID ($ADDR): $code" >&2
every=$((TTL / 3)); [ "$every" -ge 1 ] || every=1
while [ -z "$child" ] || kill -0 "$child" 2>/dev/null; do
  sleep "$every" & sleeper=$!; wait "$sleeper"; sleeper=
  case $(put "$url/heartbeat") in
    200) ;;
    404) code=$(register); echo "re-registered (it had expired): $code" >&2 ;;
    *) echo "heartbeat failed; retrying in ${every}s" >&2 ;;
  esac
done
stop
