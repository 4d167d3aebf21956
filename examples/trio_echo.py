"""An echo server on trio: the same loop as socket_echo.py, with trio streams.

``python examples/trio_echo.py [--port 9000]``
"""

from __future__ import annotations

import argparse
import contextlib

import trio

from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Message, Reject, Request

RECEIVE_SIZE = 65536
LINGER_SECONDS = 2.0


async def handle(stream: trio.SocketStream) -> None:
    """Serve one WebSocket connection until it is closed."""
    conn = Connection(Role.SERVER)
    async with stream:
        while not conn.should_close_transport:
            data = await stream.receive_some(RECEIVE_SIZE)
            try:
                conn.receive_data(data)
            except RemoteProtocolError as error:
                await stream.send_all(conn.send(Reject(error.status_code or 400, headers=error.headers)))
                break
            for event in conn.events():
                if isinstance(event, Request):
                    await stream.send_all(conn.send(Accept()))
                elif isinstance(event, Message):
                    await stream.send_all(conn.send(event))  # send the same message back
            if out := conn.data_to_send():
                await stream.send_all(out)
        # The server closes first (RFC 6455, 7.1.1); wait briefly for the peer's FIN.
        with trio.move_on_after(LINGER_SECONDS):
            await stream.send_eof()
            while await stream.receive_some(RECEIVE_SIZE):
                pass


async def serve(host: str, port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host=host)
    print(f"echo server on ws://{host}:{listeners[0].socket.getsockname()[1]}/", flush=True)
    await trio.serve_listeners(handle, listeners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(serve, args.host, args.port)


if __name__ == "__main__":
    main()
