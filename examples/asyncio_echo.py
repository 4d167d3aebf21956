"""An echo server on asyncio streams: the same loop as socket_echo.py.

``python examples/asyncio_echo.py [--port 9000]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Message, Reject, Request

RECEIVE_SIZE = 65536
LINGER_SECONDS = 2.0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one WebSocket connection until it is closed."""
    conn = Connection(Role.SERVER)
    try:
        while not conn.should_close_transport:
            data = await reader.read(RECEIVE_SIZE)
            try:
                conn.receive_data(data)
            except RemoteProtocolError as error:
                writer.write(conn.send(Reject(error.status_code or 400, headers=error.headers)))
                break
            for event in conn.events():
                if isinstance(event, Request):
                    writer.write(conn.send(Accept()))
                elif isinstance(event, Message):
                    writer.write(conn.send(event))  # send the same message back
            writer.write(conn.data_to_send())
            await writer.drain()  # back-pressure: wait while the peer is slow to read
        # The server closes first (RFC 6455, 7.1.1); wait briefly for the peer's FIN.
        await writer.drain()
        writer.write_eof()
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(LINGER_SECONDS):
                while await reader.read(RECEIVE_SIZE):
                    pass
    finally:
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port)
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
