# Minimal keep-alive HTTP/1.1 origin for run.sh: answers every request head
# with a 13-byte 200. Loopback only.
import socket, threading, sys
port = int(sys.argv[1])
resp = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\ncontent-type: text/plain\r\n\r\nhello, world\n"
def handle(c):
    buf = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: return
            buf += d
            while b"\r\n\r\n" in buf:
                _, buf = buf.split(b"\r\n\r\n", 1)
                c.sendall(resp)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(1024)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
