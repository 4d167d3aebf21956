"""An echo server on trio: the same loop as socket_echo.py, with trio streams.

``python examples/trio_echo.py [--port 9000]``
"""

from __future__ import annotations

import argparse
import contextlib
import sys

import trio

from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request

RECEIVE_SIZE = 65536
LINGER_SECONDS = 2.0


async def serve_client(stream: trio.SocketStream) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr.

    An exception escaping from here would stop trio.serve_listeners, and
    with it the whole server."""
    try:
        host, port = stream.socket.getpeername()[:2]
        peer = f"{host}:{port}"
    except OSError:  # reset before we got here: the address went with it
        peer = "(address unknown)"
    async with stream:
        try:
            problem = await handle(stream)
        except trio.BrokenResourceError as error:  # most often the client reset the connection
            problem = f"connection lost: {error.__cause__ or error}"
    if problem:
        print(f"client {peer}: {problem}", file=sys.stderr, flush=True)


async def handle(stream: trio.SocketStream) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    conn = Connection(Role.SERVER)
    problem = ""
    while not conn.should_close_transport:
        data = await stream.receive_some(RECEIVE_SIZE)
        try:
            conn.receive_data(data)
        except RemoteProtocolError as error:
            problem = f"bad handshake, answered {error.status_code}: {error}"
            await stream.send_all(conn.send(Reject(error.status_code or 400, headers=error.headers)))
            break
        for event in conn.events():
            if isinstance(event, Request):
                await stream.send_all(conn.send(Accept()))
            elif isinstance(event, Message):
                await stream.send_all(conn.send(event))  # send the same message back
            elif isinstance(event, Close) and not event.by_peer:
                problem = f"closed with {event.code}: {event.reason}"
        if out := conn.data_to_send():
            await stream.send_all(out)
    # The server closes first (RFC 6455, 7.1.1); wait briefly for the peer's FIN.
    with trio.move_on_after(LINGER_SECONDS), contextlib.suppress(trio.BrokenResourceError):
        await stream.send_eof()
        while await stream.receive_some(RECEIVE_SIZE):
            pass
    return problem


async def serve(host: str, port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host)
    print(f"echo server on ws://{host}:{listeners[0].socket.getsockname()[1]}/", flush=True)
    await trio.serve_listeners(serve_client, listeners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve, args.host, args.port)


if __name__ == "__main__":
    main()
