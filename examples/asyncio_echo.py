"""An echo server on asyncio streams: the loop of socket_echo.py, one task
per connection.

``python examples/asyncio_echo.py [--port 9000] [--certfile cert.pem --keyfile key.pem]``

What sans-IO leaves to this code, as in socket_echo.py: the read waits
until the connection's next deadline (``asyncio.timeout_at`` with
``get_timer()``, on the loop's clock) and ``handle_timer()`` does what is
due; nothing more is read until the transport has drained (``drain()``),
and a client that leaves it full for ``--write-timeout`` seconds is
aborted; the server closes TCP first, politely.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys

from shared import RECEIVE_SIZE, StoppedReading, options, server_arguments, server_tls
from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request
from wsproto_lite.extensions import PerMessageDeflate

LINGER_SECONDS = 2.0


async def serve_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, args: argparse.Namespace
) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr."""
    host, port = writer.get_extra_info("peername")[:2]
    try:
        problem = await handle(reader, writer, args)
    except StoppedReading as error:
        problem = str(error)
    except OSError as error:  # most often the client reset the connection
        problem = f"connection lost: {error}"
    finally:
        if writer.transport.get_write_buffer_size():
            writer.transport.abort()  # what is left would never be read
        writer.close()
    if problem:
        print(f"client {host}:{port}: {problem}", file=sys.stderr, flush=True)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, args: argparse.Namespace) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    conn = Connection(
        Role.SERVER,
        extensions=[PerMessageDeflate()],
        **options(args),
    )
    loop = asyncio.get_running_loop()
    problem = ""
    conn.handle_timer(loop.time())
    while not conn.should_close_transport:
        try:
            await step(reader, conn)
        except RemoteProtocolError as error:
            writer.write(conn.send(Reject(error.status_code or 400, headers=error.headers)))
            return f"bad handshake, answered {error.status_code}: {error}"
        out = b""  # one write per read: asyncio warns about repeated writes to a lost connection
        for event in conn.events():
            if isinstance(event, Request):
                out += conn.send(Accept())
            elif isinstance(event, Message):
                out += conn.send(event)  # the same message back
            elif isinstance(event, Close) and not event.by_peer and not problem:
                problem = f"closed with {event.code}: {event.reason}"
        writer.write(out + conn.data_to_send())
        await drain(writer, args)
    await close_politely(reader, writer)
    return problem


async def step(reader: asyncio.StreamReader, conn: Connection) -> bytes | None:
    """Wait for data or the connection's next deadline, whichever comes
    first, and tell the connection.  Return what arrived (b"" at the end of
    the stream), or None if the deadline came."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(conn.get_timer()):
            data = await reader.read(RECEIVE_SIZE)
    except TimeoutError:
        conn.handle_timer(loop.time())
        return None
    conn.receive_data(data, now=loop.time())
    return data


async def drain(writer: asyncio.StreamWriter, args: argparse.Namespace) -> None:
    """Back-pressure: wait while the client is slow to read, for a while."""
    try:
        async with asyncio.timeout(args.write_timeout or None):
            await writer.drain()
    except TimeoutError:
        raise StoppedReading(args.write_timeout) from None


async def close_politely(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The server closes first (RFC 6455, 7.1.1): end our side, then wait
    briefly for the client's.  TLS cannot half-close: its close_notify
    goes out with ``writer.close()``."""
    if not writer.can_write_eof():
        return
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(LINGER_SECONDS):
            writer.write_eof()
            while await reader.read(RECEIVE_SIZE):
                pass


async def serve(args: argparse.Namespace) -> None:
    tls: ssl.SSLContext | None = server_tls(args)
    server = await asyncio.start_server(
        lambda reader, writer: serve_client(reader, writer, args),
        args.host,
        args.port,
        ssl=tls,
        ssl_handshake_timeout=(args.open_timeout or None) if tls else None,
    )
    scheme = "wss" if tls else "ws"
    print(f"echo server on {scheme}://{args.host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    args = server_arguments(__doc__ or "")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
