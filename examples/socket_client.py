"""A client on a blocking socket: connect, send each argument, print the echo.

``python examples/socket_client.py ws://127.0.0.1:9000/ hello world``
"""

from __future__ import annotations

import argparse
import socket
from urllib.parse import urlsplit

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Close, Message, Reject, RejectData, Request

#: How long to wait for the server to close the TCP connection after the
#: closing handshake before closing it ourselves.
CLOSE_TIMEOUT = 5.0


def run(url: str, messages: list[str]) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = Connection(Role.CLIENT)
    with socket.create_connection((host, port)) as sock:
        sock.sendall(conn.send(Request(host=f"{host}:{port}", target=target)))
        # Replies are counted, not matched: a server may also speak first or
        # send more.  Whatever comes after our Close is still printed.
        replies_due = len(messages)
        while not conn.should_close_transport:
            data = sock.recv(65536)
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, Accept):
                    print(f"connected to {url}")
                    for text in messages:
                        sock.sendall(conn.send(Message(text)))
                    if not messages:
                        sock.sendall(conn.send(Close()))
                elif isinstance(event, Message):
                    print(f"received {type(event.data).__name__}: {event.data!r}")
                    replies_due -= 1
                    if replies_due == 0:
                        sock.sendall(conn.send(Close(1000, "done")))
                elif isinstance(event, Reject):
                    print(f"rejected with status {event.status_code}")
                elif isinstance(event, RejectData) and event.data:
                    print(event.data.decode("utf-8", "replace"))
                elif isinstance(event, Close):
                    print(f"closed: {event.code} {event.reason}")
                    # After the closing handshake the server closes first.
                    sock.settimeout(CLOSE_TIMEOUT)
            sock.sendall(conn.data_to_send())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9000/")
    parser.add_argument("messages", nargs="*", default=["hello", "world"])
    args = parser.parse_args()
    try:
        run(args.url, args.messages)
    except TimeoutError:
        print("the server did not close the connection in time; closed it ourselves")


if __name__ == "__main__":
    main()
