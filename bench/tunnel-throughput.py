#!/usr/bin/env python3
"""Throughput of an upgraded connection's tunnel, one round.

    bench/tunnel-throughput.py upstream             # prints its port, serves
    bench/tunnel-throughput.py client URL MIB [CAFILE]

`upstream` answers every upgrade with a 101 (Upgrade: websocket), reads
what comes through the tunnel until MIB MiB arrived, then sends as many
back and closes. It exits when its stdin closes. `client` connects to URL
(http://127.0.0.1:PORT/, or https://api.test:PORT/ with the name resolved
to 127.0.0.1 and checked against CAFILE), upgrades, sends MIB MiB, reads
MIB MiB back, and prints the MiB/s of the 2 x MIB MiB from its first byte
sent to its last byte read. The bytes are not WebSocket frames: the
gateway never reads them. Loopback only.
"""
import os
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit

CHUNK = 1 << 20
HEAD = (b"GET /%d HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n")
SWITCH = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            raise SystemExit("closed before a head")
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def recv_rest(s, got, total):
    """Reads (and drops) until `total` bytes, `got` of them already in."""
    buf = bytearray(CHUNK)
    while got < total:
        n = s.recv_into(buf)
        if n == 0:
            return False
        got += n
    return True


def serve(s):
    with s:
        head, rest = read_head(s)
        total = int(head.split(b" ")[1][1:])
        s.sendall(SWITCH)
        if not recv_rest(s, len(rest), total):
            return
        out = bytes(CHUNK)
        left = total
        while left > 0:
            k = min(left, CHUNK)
            s.sendall(out[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)
        s.recv(1)


def upstream():
    l = socket.create_server(("127.0.0.1", 0))
    print(l.getsockname()[1], flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    while True:
        s, _ = l.accept()
        threading.Thread(target=serve, args=(s,), daemon=True).start()


def client(url, mib, cafile):
    u = urlsplit(url)
    s = socket.create_connection(("127.0.0.1", u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        s = ctx.wrap_socket(s, server_hostname=u.hostname)
    total = mib * CHUNK
    # The upstream learns the size from the path.
    s.sendall(HEAD % total)
    head, rest = read_head(s)
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"not a 101: {head[:200]!r}")
    out = bytes(CHUNK)
    t0 = time.perf_counter()
    for _ in range(mib):
        s.sendall(out)
    if not recv_rest(s, len(rest), total):
        raise SystemExit(f"closed before {total} bytes")
    dt = time.perf_counter() - t0
    print(f"{u.scheme} mib={mib} seconds={dt:.3f} mib_per_s={2 * mib / dt:.1f}")
    s.close()


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        upstream()
    else:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
