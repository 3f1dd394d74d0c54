#!/usr/bin/env python3
"""RSS per open WebSocket of a running gateway, over ws:// or wss://.

    bench/ws-memory.py URL PID [N] [CAFILE]

Opens N WebSocket connections to URL (for example ws://127.0.0.1:18080/echo
or wss://api.test:18443/echo, the name resolved to 127.0.0.1 and checked
against CAFILE), sends one 100-byte message on each and reads its echo,
keeps them all open, then sends and reads one more message on every one
(open and exchanging small messages, not idle), and prints the growth of
PID's VmRSS per connection. Needs the Python `websockets` package (>= 13).
Loopback only; raise `ulimit -n` above N first.
"""
import asyncio
import importlib.util
import os
import ssl
import sys
from urllib.parse import urlsplit

from websockets.asyncio.client import connect


def rss_kib(pid):
    """VmRSS of `pid`, as bench/idle-memory.py reads it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "idle-memory.py")
    spec = importlib.util.spec_from_file_location("idle_memory", path)
    idle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(idle)
    return idle.rss_kib(pid)


async def main():
    url, pid = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    cafile = sys.argv[4] if len(sys.argv) > 4 else None
    u = urlsplit(url)
    opts = {"compression": None, "ping_interval": None, "max_size": None}
    if u.scheme == "wss":
        opts["ssl"] = ssl.create_default_context(cafile=cafile)
        opts["server_hostname"] = u.hostname
        opts["host"] = "127.0.0.1"
        opts["port"] = u.port
    msg = b"m" * 100
    before = rss_kib(pid)
    conns = []
    for _ in range(n):
        ws = await connect(url, **opts)
        await ws.send(msg)
        assert await ws.recv() == msg
        conns.append(ws)
    await asyncio.sleep(0.5)
    for ws in conns:
        await ws.send(msg)
    for ws in conns:
        assert await ws.recv() == msg
    await asyncio.sleep(0.5)
    after = rss_kib(pid)
    print(f"{u.scheme} n={n} rss_before_kib={before} rss_after_kib={after} "
          f"per_connection_kib={(after - before) / n:.1f}")
    for ws in conns:
        await ws.close()


if __name__ == "__main__":
    asyncio.run(main())
