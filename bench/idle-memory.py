#!/usr/bin/env python3
"""RSS per idle keep-alive connection of a running proxy.

    bench/idle-memory.py PORT PID [N] [PACE_S] [PATH]

Opens N connections to 127.0.0.1:PORT (default 8000), sends one GET PATH
(default /small) on each and reads its 200, keeps them all open and idle,
and prints the growth of PID's VmRSS per connection 0.2 s, 1.5 s and 3 s
after the last one opened (`compare`'s idle phase reads at about 0.2 s).
PACE_S (default 0) waits between two connections. Loopback only; every
socket is reset on exit. Raise `ulimit -n` above N first.
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 8000
    pace = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    path = sys.argv[5] if len(sys.argv) > 5 else "/small"
    req = f"GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
    before = rss_kib(pid)
    conns = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            head = s.recv(4096)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit(f"not a 200: {head[:100]!r}")
            conns.append(s)
            if pace:
                time.sleep(pace)
        t0 = time.time()
        for wait in (0.2, 1.5, 3.0):
            time.sleep(max(0.0, t0 + wait - time.time()))
            now = rss_kib(pid)
            print(f"after {wait:.1f} s: VmRSS {before} -> {now} KiB, "
                  f"{(now - before) * 1024 / n:.0f} B per idle connection")
    finally:
        for s in conns:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()


if __name__ == "__main__":
    main()
