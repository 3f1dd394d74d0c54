#!/usr/bin/env python3
"""Register with ringway's registry, heartbeat every TTL/3, deregister on
SIGTERM/SIGINT; standard library only (docs/discovery.md). Environment as
register.sh: REGISTRY, RINGWAY_REGISTRY_TOKEN, SERVICE, ADDR, ID, WEIGHT, TTL."""
import json, os, signal, socket, sys, threading, urllib.error, urllib.request

env = os.environ.get
TTL, TOKEN = int(env("TTL", "30")), os.environ["RINGWAY_REGISTRY_TOKEN"]
ID = env("ID", f"{socket.gethostname()}-{os.getpid()}")
URL = f"{env('REGISTRY', 'http://127.0.0.1:9901')}/registry/services/{os.environ['SERVICE']}/instances/{ID}"
BODY = {"addr": os.environ["ADDR"], "weight": int(env("WEIGHT", "1")), "ttl_s": TTL}

def call(method, url, body=None):
    data = json.dumps(body).encode() if body else None
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        print(f"{method} {url}: {e}", file=sys.stderr)

stop = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: stop.set())
print("register:", call("PUT", URL, BODY), file=sys.stderr)
while not stop.wait(max(TTL / 3, 1)):
    if call("PUT", URL + "/heartbeat") == 404:  # expired meanwhile: register again
        print("re-register:", call("PUT", URL, BODY), file=sys.stderr)
print("deregister:", call("DELETE", URL), file=sys.stderr)
