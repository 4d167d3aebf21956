"""An echo server on blocking sockets, one thread per connection.

Run it with ``python examples/socket_echo.py [--port 9000]`` and connect
with ``examples/socket_client.py`` or any WebSocket client.  Every message
comes back with its type (text stays text, binary stays binary).

The loop below is the whole adapter: read, feed, handle events, write
what the connection produced, and close the socket when it says so.  A
client that resets the connection or breaks the protocol costs one line
on stderr, never the server.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading

from wsproto_lite import Connection, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, Request
from wsproto_lite.extensions import PerMessageDeflate

RECEIVE_SIZE = 65536
#: How long to wait for the client's end of the stream after we closed ours.
LINGER_SECONDS = 2.0


def serve_client(sock: socket.socket, peer: str, max_message_size: int | None) -> None:
    """Serve one client; if it misbehaved, say how in one line on stderr."""
    with sock:
        try:
            problem = handle(sock, max_message_size)
        except OSError as error:  # most often the client reset the connection
            problem = f"connection lost: {error}"
    if problem:
        sys.stderr.write(f"client {peer}: {problem}\n")  # one write: threads' lines never mix


def handle(sock: socket.socket, max_message_size: int | None) -> str:
    """Serve one WebSocket connection until it is closed; return what the
    client did wrong, or "" if nothing."""
    # Compression is accepted when the client offers it (every browser does).
    conn = Connection(Role.SERVER, max_message_size=max_message_size, extensions=[PerMessageDeflate()])
    problem = ""
    while not conn.should_close_transport:
        data = sock.recv(RECEIVE_SIZE)
        try:
            conn.receive_data(data)
        except RemoteProtocolError as error:
            # Not a valid WebSocket handshake: answer with the status it names.
            problem = f"bad handshake, answered {error.status_code}: {error}"
            sock.sendall(conn.send(Reject(error.status_code or 400, headers=error.headers)))
            break
        for event in conn.events():
            if isinstance(event, Request):
                sock.sendall(conn.send(Accept()))
            elif isinstance(event, Message):
                sock.sendall(conn.send(event))  # send the same message back
            elif isinstance(event, Close) and not event.by_peer:
                # The client broke the protocol, or its stream ended too soon.
                problem = f"closed with {event.code}: {event.reason}"
        # Pongs, close replies and the close frame of a failed connection.
        sock.sendall(conn.data_to_send())
    close_politely(sock)
    return problem


def close_politely(sock: socket.socket) -> None:
    """Close our side first, then read until the peer closes, so that the
    peer gets a FIN and not a reset (RFC 6455, 7.1.1: the server closes first)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_SECONDS)
        while sock.recv(RECEIVE_SIZE):
            pass
    except OSError:
        pass


def serve(host: str, port: int, max_message_size: int | None) -> None:
    with socket.create_server((host, port), reuse_port=False) as server:
        print(f"echo server on ws://{host}:{server.getsockname()[1]}/", flush=True)
        while True:
            sock, address = server.accept()
            peer = f"{address[0]}:{address[1]}"
            threading.Thread(target=serve_client, args=(sock, peer, max_message_size), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--max-message-size", type=int, default=2**20, help="bytes; 0 for no limit")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.host, args.port, args.max_message_size or None)


if __name__ == "__main__":
    main()
