"""An echo server on trio: the loop of socket_echo.py, with trio streams.

``python examples/trio_echo.py [--port 9000] [--certfile cert.pem --keyfile key.pem]``

What sans-IO leaves to this code, as in socket_echo.py: the read waits
until the connection's next deadline (``trio.move_on_at`` with
``get_timer()``, on trio's clock) and ``handle_timer()`` does what is due;
nothing more is read until the echo is written (``send_all``), and a client
that leaves it unread for ``--write-timeout`` seconds is dropped; the server
closes TCP first, politely.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import sys

import trio

from shared import RECEIVE_SIZE, StoppedReading, options, server_arguments, server_tls
from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request
from wsproto_lite.extensions import PerMessageDeflate

LINGER_SECONDS = 2.0
Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


async def serve_client(args: argparse.Namespace, stream: Stream) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr.

    An exception escaping from here would stop trio.serve_listeners, and
    with it the whole server."""
    peer = address(stream)
    try:
        problem = await handle(stream, args)
    except StoppedReading as error:
        problem = str(error)
    except trio.BrokenResourceError as error:  # most often the client reset the connection
        problem = f"connection lost: {error.__cause__ or error}"
    finally:
        await trio.aclose_forcefully(stream)  # a graceful TLS close could wait on a client that does not read
    if problem:
        print(f"client {peer}: {problem}", file=sys.stderr, flush=True)


def address(stream: Stream) -> str:
    sock = stream.socket if isinstance(stream, trio.SocketStream) else stream.transport_stream.socket
    try:
        host, port = sock.getpeername()[:2]
    except OSError:  # reset before we got here: the address went with it
        return "(address unknown)"
    return f"{host}:{port}"


async def handle(stream: Stream, args: argparse.Namespace) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    conn = Connection(
        Role.SERVER,
        extensions=[PerMessageDeflate()],
        **options(args),
    )
    if isinstance(stream, trio.SSLStream):  # the TLS handshake, in the time the opening one has
        with trio.move_on_after(args.open_timeout or math.inf) as scope:
            await stream.do_handshake()
        if scope.cancelled_caught:
            return "connection lost: the TLS handshake timed out"
    problem = ""
    conn.handle_timer(trio.current_time())
    while not conn.should_close_transport:
        try:
            await step(stream, conn)
        except RemoteProtocolError as error:
            await send(stream, conn.send(Reject(error.status_code or 400, headers=error.headers)), args)
            return f"bad handshake, answered {error.status_code}: {error}"
        for event in conn.events():
            if isinstance(event, Request):
                await send(stream, conn.send(Accept()), args)
            elif isinstance(event, Message):
                await send(stream, conn.send(event), args)  # the same message back
            elif isinstance(event, Close) and not event.by_peer and not problem:
                problem = f"closed with {event.code}: {event.reason}"
        await send(stream, conn.data_to_send(), args)
    await close_politely(stream)
    return problem


async def step(stream: Stream, conn: Connection) -> bytes | bytearray | None:
    """Wait for data or the connection's next deadline, whichever comes
    first, and tell the connection.  Return what arrived (b"" at the end of
    the stream), or None if the deadline came.  (Cancelling a read loses
    nothing, once TLS has shaken hands.)"""
    deadline = conn.get_timer()
    with trio.move_on_at(math.inf if deadline is None else deadline):
        data = await stream.receive_some(RECEIVE_SIZE)
        conn.receive_data(data, now=trio.current_time())
        return data
    conn.handle_timer(trio.current_time())
    return None


async def send(stream: Stream, data: bytes, args: argparse.Namespace) -> None:
    """Write it all, or raise StoppedReading if the client does not read it in time."""
    if data:
        try:
            with trio.fail_after(args.write_timeout or math.inf):
                await stream.send_all(data)
        except trio.TooSlowError:
            raise StoppedReading(args.write_timeout) from None


async def close_politely(stream: Stream) -> None:
    """The server closes first (RFC 6455, 7.1.1): end our side, then wait
    briefly for the client's.  TLS cannot half-close: its close_notify
    goes out when the stream is closed."""
    if not isinstance(stream, trio.SocketStream):
        with trio.move_on_after(LINGER_SECONDS), contextlib.suppress(trio.BrokenResourceError):
            await stream.aclose()
        return
    with trio.move_on_after(LINGER_SECONDS), contextlib.suppress(trio.BrokenResourceError):
        await stream.send_eof()
        while await stream.receive_some(RECEIVE_SIZE):
            pass


async def serve(args: argparse.Namespace) -> None:
    tls = server_tls(args)
    tcp = await trio.open_tcp_listeners(args.port, host=args.host)
    scheme = "wss" if tls else "ws"
    print(f"echo server on {scheme}://{args.host}:{tcp[0].socket.getsockname()[1]}/", flush=True)
    if tls is None:
        await trio.serve_listeners(functools.partial(serve_client, args), tcp)
    else:
        # https_compatible: as browsers do, a client may end TCP without
        # TLS's close_notify; the closing handshake already said goodbye.
        listeners = [trio.SSLListener(listener, tls, https_compatible=True) for listener in tcp]
        await trio.serve_listeners(functools.partial(serve_client, args), listeners)


def main() -> None:
    args = server_arguments(__doc__ or "")
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve, args)


if __name__ == "__main__":
    main()
