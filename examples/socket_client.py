"""A client on a blocking socket: connect, send each argument, print the echo.

``python examples/socket_client.py ws://127.0.0.1:9000/ hello world``
(``wss://`` too; ``--cafile ca.pem`` to trust a test certificate).

The loop is socket_echo.py's, from the other side: read until the
connection's next deadline, feed, hand the events to the application
(``shared.Dialogue``), send its answers, write.  After the closing handshake
it waits for the server to close TCP first (RFC 6455, 7.1.1): the
connection's ``--close-timeout`` bounds the wait.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from shared import Dialogue, StoppedReading, Target, client_arguments, options
from socket_echo import send, step
from wsproto_lite import Connection, Role
from wsproto_lite.events import Request
from wsproto_lite.extensions import PerMessageDeflate


def run(args: argparse.Namespace, target: Target) -> None:
    conn = Connection(Role.CLIENT, **options(args))
    dialogue = Dialogue(target, args.messages)
    request = Request(host=target.authority, target=target.resource, extensions=[PerMessageDeflate()])
    with connect(target, args) as sock:
        send(sock, conn.send(request, now=time.monotonic()), args)
        server_closed = False
        conn.handle_timer(time.monotonic())
        while not conn.should_close_transport:
            server_closed = step(sock, conn) == b""
            for event in conn.events():
                for answer in dialogue.on_event(event):
                    send(sock, conn.send(answer, now=time.monotonic()), args)
            send(sock, conn.data_to_send(), args)
    dialogue.finish(server_closed)


def connect(target: Target, args: argparse.Namespace) -> socket.socket:
    sock = socket.create_connection((target.host, target.port), timeout=args.open_timeout or None)
    if target.tls is None:
        return sock
    return target.tls.wrap_socket(sock, server_hostname=target.host)


def main() -> None:
    args, target = client_arguments(__doc__ or "")
    try:
        run(args, target)
    except (OSError, StoppedReading) as error:  # refused, reset, timed out, or a bad certificate
        sys.exit(f"connection lost: {error}")


if __name__ == "__main__":
    main()
