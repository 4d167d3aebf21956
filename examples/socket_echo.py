"""An echo server on blocking sockets, one thread per connection.

Run it with ``python examples/socket_echo.py [--port 9000]`` (add
``--certfile cert.pem --keyfile key.pem`` for wss://) and connect with
``examples/socket_client.py`` or any WebSocket client.  Every message comes
back with its type (text stays text, binary stays binary).

``handle()`` is the whole adapter: read until the connection's next
deadline, feed what arrived (or tell it the deadline came), handle the
events, write what the connection produced, and close the socket when it
says so.  What sans-IO leaves to this code:

* time: ``get_timer()`` becomes the socket's timeout, ``handle_timer()``
  sends the keepalive pings, fails a connection whose pong is late (1011)
  and gives up on a closing handshake the peer never finishes;
* back-pressure: nothing more is read until the echo is written, and a
  client that leaves a write unread for ``--write-timeout`` seconds is
  dropped, so a client that never reads holds one message, never more;
* closing TCP first, as a server does (RFC 6455, 7.1.1), politely.

A client that resets the connection, goes silent, sends garbage or stops
reading costs one line on stderr, never the server.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import ssl
import sys
import threading
import time

from shared import RECEIVE_SIZE, StoppedReading, options, server_arguments, server_tls
from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request
from wsproto_lite.extensions import PerMessageDeflate

#: How long to wait for the client's end of the stream after we closed ours.
LINGER_SECONDS = 2.0


def serve_client(
    sock: socket.socket, peer: str, args: argparse.Namespace, tls: ssl.SSLContext | None
) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr."""
    try:
        if tls is not None:
            sock.settimeout(args.open_timeout or None)
            sock = tls.wrap_socket(sock, server_side=True)
        problem = handle(sock, args)
    except StoppedReading as error:
        problem = str(error)
    except OSError as error:  # most often the client reset the connection
        problem = f"connection lost: {error}"
    finally:
        sock.close()
    if problem:
        sys.stderr.write(f"client {peer}: {problem}\n")  # one write: threads' lines never mix


def handle(sock: socket.socket, args: argparse.Namespace) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    # Compression is accepted when the client offers it (every browser does).
    conn = Connection(
        Role.SERVER,
        extensions=[PerMessageDeflate()],
        **options(args),
    )
    problem = ""
    conn.handle_timer(time.monotonic())
    while not conn.should_close_transport:
        try:
            step(sock, conn)
        except RemoteProtocolError as error:
            # Not a valid WebSocket handshake: answer with the status it names.
            send(sock, conn.send(Reject(error.status_code or 400, headers=error.headers)), args)
            return f"bad handshake, answered {error.status_code}: {error}"
        for event in conn.events():
            if isinstance(event, Request):
                send(sock, conn.send(Accept()), args)
            elif isinstance(event, Message):
                send(sock, conn.send(event), args)  # the same message back
            elif isinstance(event, Close) and not event.by_peer and not problem:
                # The client broke the protocol, went silent, or its stream ended too soon.
                problem = f"closed with {event.code}: {event.reason}"
        # Pings, pongs, close replies and the close frame of a failed connection.
        send(sock, conn.data_to_send(), args)
    close_politely(sock)
    return problem


def step(sock: socket.socket, conn: Connection) -> bytes | None:
    """Wait for data or the connection's next deadline, whichever comes
    first, and tell the connection.  Return what arrived (b"" at the end of
    the stream), or None if the deadline came."""
    deadline = conn.get_timer()
    timeout = None if deadline is None else deadline - time.monotonic()
    try:
        if timeout is not None and timeout <= 0:  # a timeout of 0 would make the socket non-blocking
            raise TimeoutError
        sock.settimeout(timeout)
        data = sock.recv(RECEIVE_SIZE)
    except TimeoutError:
        conn.handle_timer(time.monotonic())
        return None
    conn.receive_data(data, now=time.monotonic())
    return data


def send(sock: socket.socket, data: bytes, args: argparse.Namespace) -> None:
    """Write it all, or raise StoppedReading if the client does not read it in time."""
    if data:
        sock.settimeout(args.write_timeout or None)
        try:
            sock.sendall(data)
        except TimeoutError:
            raise StoppedReading(args.write_timeout) from None


def close_politely(sock: socket.socket) -> None:
    """Close our side first, then read until the peer closes, so that the
    peer gets a FIN and not a reset (RFC 6455, 7.1.1: the server closes first)."""
    with contextlib.suppress(OSError, ValueError):
        sock.settimeout(LINGER_SECONDS)
        if isinstance(sock, ssl.SSLSocket):
            sock = sock.unwrap()  # TLS says goodbye (close_notify) before TCP does
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(RECEIVE_SIZE):
            pass


def serve(args: argparse.Namespace) -> None:
    tls = server_tls(args)
    with socket.create_server((args.host, args.port)) as server:
        scheme = "wss" if tls else "ws"
        print(f"echo server on {scheme}://{args.host}:{server.getsockname()[1]}/", flush=True)
        while True:
            sock, address = server.accept()
            peer = f"{address[0]}:{address[1]}"
            threading.Thread(target=serve_client, args=(sock, peer, args, tls), daemon=True).start()


def main() -> None:
    args = server_arguments(__doc__ or "")
    with contextlib.suppress(KeyboardInterrupt):
        serve(args)


if __name__ == "__main__":
    main()
