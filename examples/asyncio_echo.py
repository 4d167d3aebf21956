"""An echo server on asyncio streams: the same loop as socket_echo.py.

``python examples/asyncio_echo.py [--port 9000]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request

RECEIVE_SIZE = 65536
LINGER_SECONDS = 2.0


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr."""
    host, port = writer.get_extra_info("peername")[:2]
    try:
        problem = await handle(reader, writer)
    except OSError as error:  # most often the client reset the connection
        problem = f"connection lost: {error}"
    finally:
        writer.close()
    if problem:
        print(f"client {host}:{port}: {problem}", file=sys.stderr, flush=True)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    conn = Connection(Role.SERVER)
    problem = ""
    while not conn.should_close_transport:
        data = await reader.read(RECEIVE_SIZE)
        try:
            conn.receive_data(data)
        except RemoteProtocolError as error:
            problem = f"bad handshake, answered {error.status_code}: {error}"
            writer.write(conn.send(Reject(error.status_code or 400, headers=error.headers)))
            break
        out = b""  # one write per read: asyncio warns about repeated writes to a lost connection
        for event in conn.events():
            if isinstance(event, Request):
                out += conn.send(Accept())
            elif isinstance(event, Message):
                out += conn.send(event)  # send the same message back
            elif isinstance(event, Close) and not event.by_peer:
                problem = f"closed with {event.code}: {event.reason}"
        writer.write(out + conn.data_to_send())
        await writer.drain()  # back-pressure: wait while the peer is slow to read
    # The server closes first (RFC 6455, 7.1.1); wait briefly for the peer's FIN.
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(LINGER_SECONDS):
            await writer.drain()
            writer.write_eof()
            while await reader.read(RECEIVE_SIZE):
                pass
    return problem


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(serve_client, host, port)
    print(f"echo server on ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
