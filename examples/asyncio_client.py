"""A client on asyncio streams: connect, send each argument, print the echo.

``python examples/asyncio_client.py wss://127.0.0.1:9000/ hello --cafile ca.pem``

socket_client.py's loop on asyncio: the read waits until the connection's
next deadline and ``drain()`` waits after each write, both bounded as in
asyncio_echo.py (whose two functions it uses); after the closing handshake
the wait for the server to close TCP first is bounded by the connection's
``--close-timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from asyncio_echo import drain, step
from shared import Dialogue, StoppedReading, Target, client_arguments, options
from wsproto_lite import Connection, Role
from wsproto_lite.events import Request
from wsproto_lite.extensions import PerMessageDeflate


async def run(args: argparse.Namespace, target: Target) -> None:
    loop = asyncio.get_running_loop()
    conn = Connection(Role.CLIENT, **options(args))
    dialogue = Dialogue(target, args.messages)
    request = Request(host=target.authority, target=target.resource, extensions=[PerMessageDeflate()])
    async with asyncio.timeout(args.open_timeout or None):
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=target.tls, server_hostname=target.host if target.tls else None
        )
    server_closed = False
    try:
        writer.write(conn.send(request, now=loop.time()))
        conn.handle_timer(loop.time())
        while not conn.should_close_transport:
            server_closed = await step(reader, conn) == b""
            for event in conn.events():
                for answer in dialogue.on_event(event):
                    writer.write(conn.send(answer, now=loop.time()))
            writer.write(conn.data_to_send())
            await drain(writer, args)
    finally:
        writer.close()
    dialogue.finish(server_closed)


def main() -> None:
    args, target = client_arguments(__doc__ or "")
    try:
        asyncio.run(run(args, target))
    except (OSError, StoppedReading) as error:  # refused, reset, timed out, or a bad certificate
        sys.exit(f"connection lost: {error}")


if __name__ == "__main__":
    main()
