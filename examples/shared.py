"""What the six adapters share: the command line (where to listen or
connect, the connection's timers, TLS) and the clients' application
(``Dialogue``).  No I/O happens here; it keeps each adapter down to the
loop that is worth reading.

Servers: ``--host``, ``--port``, ``--certfile``/``--keyfile`` (wss://).
Clients: a ``ws://`` or ``wss://`` URL, the messages to send, ``--cafile``
(to trust a certificate that no system authority signed).
Both: the timers, in seconds (``--ping-interval``, ``--ping-timeout``,
``--close-timeout``, ``--open-timeout``) and ``--write-timeout``, how long a
peer may leave a write unread before it is dropped.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from wsproto_lite.connection import Options
from wsproto_lite.events import Accept, Close, Event, Message, Reject, RejectData

#: How much one read takes from the transport.
RECEIVE_SIZE = 65536


class StoppedReading(Exception):
    """The peer left a write unread for longer than ``--write-timeout``: a
    peer that does not read never makes the adapter's memory grow."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"stopped reading: dropped after {seconds:g} s")


def options(args: argparse.Namespace) -> Options:
    """The connection's options from the command line: its timers, and the
    message limit where there is one (the servers')."""
    result: Options = {
        "ping_interval": args.ping_interval or None,
        "ping_timeout": args.ping_timeout or None,
        "close_timeout": args.close_timeout or None,
        "open_timeout": args.open_timeout or None,
    }
    if "max_message_size" in args:
        result["max_message_size"] = args.max_message_size or None
    return result


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ping-interval", type=float, default=20, help="seconds between keepalive pings; 0: none"
    )
    parser.add_argument("--ping-timeout", type=float, default=20, help="seconds a pong may take; 0: no limit")
    parser.add_argument(
        "--close-timeout", type=float, default=10, help="seconds the closing handshake may take"
    )
    parser.add_argument(
        "--open-timeout", type=float, default=10, help="seconds the opening handshake may take"
    )
    parser.add_argument(
        "--write-timeout", type=float, default=10, help="seconds a write may wait for the peer"
    )


def server_arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--max-message-size", type=int, default=2**20, help="bytes; 0 for no limit")
    parser.add_argument("--certfile", help="serve wss:// with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM), if not in --certfile")
    _common(parser)
    return parser.parse_args()


def server_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.certfile, args.keyfile)
    return context


@dataclass
class Target:
    """Where a client connects, from its ``ws://`` or ``wss://`` URL."""

    url: str
    host: str
    port: int
    resource: str  # the path and query the request names
    tls: ssl.SSLContext | None

    @property
    def authority(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def client_arguments(doc: str) -> tuple[argparse.Namespace, Target]:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9000/")
    parser.add_argument("messages", nargs="*", default=["hello", "world"])
    parser.add_argument("--cafile", help="trust this certificate authority (PEM) for wss://")
    _common(parser)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    if parts.scheme not in ("ws", "wss"):
        parser.error(f"a WebSocket URL starts with ws:// or wss://, not {args.url!r}")
    tls = None
    if parts.scheme == "wss":
        tls = ssl.create_default_context(cafile=args.cafile)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = parts.port or (443 if tls else 80)
    return args, Target(args.url, parts.hostname or "127.0.0.1", port, resource, tls)


class Dialogue:
    """The clients' application, the same under every adapter: send each
    message once connected, print every message (asked for or not: a server
    may speak first or send more), close when the last reply came."""

    def __init__(self, target: Target, messages: list[str]) -> None:
        self.target = target
        self.messages = messages
        self.replies_due = len(messages)
        self.closed = False  # the closing handshake finished

    def on_event(self, event: Event) -> list[Event]:
        """Print what happened; return the events to send in answer."""
        if isinstance(event, Accept):
            print(f"connected to {self.target.url}")
            return [Message(text) for text in self.messages] or [Close()]
        if isinstance(event, Message):
            print(f"received {type(event.data).__name__}: {event.data!r}")
            self.replies_due -= 1
            return [Close(1000, "done")] if self.replies_due == 0 else []
        if isinstance(event, Reject):
            print(f"rejected with status {event.status_code}")
        elif isinstance(event, RejectData) and event.data:
            print(event.data.decode("utf-8", "replace"))
        elif isinstance(event, Close):
            print(f"closed: {event.code} {event.reason}")
            self.closed = event.by_peer
        return []

    def finish(self, server_closed: bool) -> None:
        """After the transport closed: say if we had to close it ourselves."""
        if self.closed and not server_closed:
            print("the server did not close the connection in time; closed it ourselves")
