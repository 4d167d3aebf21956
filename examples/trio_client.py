"""A client on trio: connect, send each argument, print the echo.

``python examples/trio_client.py wss://127.0.0.1:9000/ hello --cafile ca.pem``

socket_client.py's loop on trio: the read waits until the connection's next
deadline and each write is bounded, as in trio_echo.py (whose two functions
it uses); after the closing handshake the wait for the server to close TCP
first is bounded by the connection's ``--close-timeout``.
"""

from __future__ import annotations

import argparse
import math
import sys

import trio

from shared import Dialogue, StoppedReading, Target, client_arguments, options
from trio_echo import Stream, send, step
from wsproto_lite import Connection, Role
from wsproto_lite.events import Request
from wsproto_lite.extensions import PerMessageDeflate


async def run(args: argparse.Namespace, target: Target) -> None:
    conn = Connection(Role.CLIENT, **options(args))
    dialogue = Dialogue(target, args.messages)
    request = Request(host=target.authority, target=target.resource, extensions=[PerMessageDeflate()])
    with trio.fail_after(args.open_timeout or math.inf):
        stream = await connect(target)
    server_closed = False
    async with stream:
        await send(stream, conn.send(request, now=trio.current_time()), args)
        conn.handle_timer(trio.current_time())
        while not conn.should_close_transport:
            server_closed = await step(stream, conn) == b""
            for event in conn.events():
                for answer in dialogue.on_event(event):
                    await send(stream, conn.send(answer, now=trio.current_time()), args)
            await send(stream, conn.data_to_send(), args)
    dialogue.finish(server_closed)


async def connect(target: Target) -> Stream:
    if target.tls is None:
        return await trio.open_tcp_stream(target.host, target.port)
    # https_compatible: the closing handshake already says the end is the
    # end, so a server that closes TCP without TLS's close_notify (many do)
    # is not an error.
    stream = await trio.open_ssl_over_tcp_stream(
        target.host, target.port, ssl_context=target.tls, https_compatible=True
    )
    await stream.do_handshake()
    return stream


def main() -> None:
    args, target = client_arguments(__doc__ or "")
    try:
        trio.run(run, args, target)
    except (OSError, trio.BrokenResourceError, trio.TooSlowError, StoppedReading) as error:
        sys.exit(
            f"connection lost: {error.__cause__ or error}"
        )  # refused, reset, timed out, a bad certificate


if __name__ == "__main__":
    main()
