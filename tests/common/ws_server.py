"""A real WebSocket server for the upgrade wire tests, on the `websockets`
package.

Usage: ws_server.py [CERT_PEM KEY_PEM]. Binds TCP on 127.0.0.1 with an
ephemeral port (TLS with that certificate when given: wss://, for the
upgrade to a TLS upstream), prints the port on stdout, and serves by path:
  /echo      every message back, text as text and binary as binary
  /headers   one text message: the handshake's request headers as JSON
             (lower-case names, lists of values), then echo
  /bye       one text message "bye", then a close with code 1000
  /refuse    no upgrade: 403 with the body "refused\\n"
  /silent    accepts, then never sends (the idle-timeout test)
It exits when its stdin closes (the test ended), so it never outlives the
test.
"""

import asyncio
import http
import json
import logging
import ssl
import sys

from websockets.asyncio.server import serve


def refuse(connection, request):
    if request.path == "/refuse":
        return connection.respond(http.HTTPStatus.FORBIDDEN, "refused\n")
    return None


async def handler(ws):
    path = ws.request.path
    if path == "/bye":
        await ws.send("bye")
        await ws.close(1000, "done")
        return
    if path == "/silent":
        await ws.wait_closed()
        return
    if path == "/headers":
        seen = {}
        for name, value in ws.request.headers.raw_items():
            seen.setdefault(name.lower(), []).append(value)
        await ws.send(json.dumps(seen))
    async for message in ws:
        await ws.send(message)


async def main():
    # Tests cut connections on purpose (idle timeout, shutdown): the
    # library's traceback for each would only bury a real failure's output.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.create_future()

    def on_stdin():
        if not sys.stdin.buffer.read1(4096):
            loop.remove_reader(sys.stdin.fileno())
            if not stdin_closed.done():
                stdin_closed.set_result(None)

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    tls = None
    if len(sys.argv) == 3:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[1], sys.argv[2])
    async with serve(
        handler,
        "127.0.0.1",
        0,
        process_request=refuse,
        max_size=None,
        ping_interval=None,
        compression=None,
        ssl=tls,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await stdin_closed


if __name__ == "__main__":
    asyncio.run(main())
