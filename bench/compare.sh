#!/usr/bin/env bash
# The one entry point for the proxy comparison: builds ringway and the loadgen
# (release), then runs `ringway-loadgen compare --config bench/compare.toml`.
# Extra arguments go to compare (e.g. --only ringway,nginx --duration 3s
# --rounds 1 --no-idle --out DIR). Needs nginx/haproxy/envoy from
# bench/setup.sh; a proxy that is not installed is reported as skipped.
# A watchdog bounds the whole run (COMPARE_TIMEOUT seconds, default 1800).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ringway-loadgen --bin ringway-loadgen
exec timeout --kill-after=10 "${COMPARE_TIMEOUT:-1800}" \
  target/release/ringway-loadgen compare --config bench/compare.toml "$@"
