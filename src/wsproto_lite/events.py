"""The events a :class:`~wsproto_lite.Connection` reports and accepts.

Every event is a frozen, slotted dataclass: it can be hashed, compared and
passed between threads, and it never changes after it was made.  The same
classes go both ways: :meth:`Connection.events` yields them, and
:meth:`Connection.send` takes them.

The first fields may be given by position; the rest are keyword-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

from .errors import InvalidEventError

if TYPE_CHECKING:
    from .extensions import Extension

__all__ = [
    "Accept",
    "Close",
    "Event",
    "Header",
    "Message",
    "Ping",
    "Pong",
    "Reject",
    "RejectData",
    "Request",
]

#: One HTTP header as a (name, value) pair.  Headers that the library
#: reports are ``bytes`` with lower-case names, as h11 gives them; headers
#: you pass may also be ``str``.
Header = tuple[bytes | str, bytes | str]


def _as_bytes(value: object, what: str) -> bytes:
    """A bytes-like value as ``bytes``, counted in bytes whatever its item
    size (a ``memoryview`` of an ``array("i")`` has 4 bytes per item)."""
    if type(value) is bytes:
        return value
    try:
        with memoryview(value) as view:  # type: ignore[arg-type]
            return view.tobytes()
    except TypeError:
        raise InvalidEventError(f"{what} is bytes or another bytes-like object, not {value!r}") from None


def _freeze(obj: object, *names: str) -> None:
    """Turn the lists given for sequence fields into tuples."""
    for name in names:
        value = getattr(obj, name)
        if type(value) is not tuple:
            object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True, slots=True)
class Request:
    """The client's opening handshake (RFC 6455, section 4.1).

    A client sends it to start; a server receives it and answers with
    :class:`Accept` or :class:`Reject`.

    :param host: the ``Host`` header: a host name (IDNA), an address, with
        a port if it is not the scheme's.
    :param target: the request target: the path and query of the URL.
    :param subprotocols: the offered subprotocols, in order of preference.
    :param extensions: a client passes
        :class:`~wsproto_lite.extensions.Extension` objects to offer; a
        server receives the offers as the header strings the client sent
        (for example ``"permessage-deflate; client_max_window_bits"``).
    :param extra_headers: sent as they are by a client; on the server side,
        every header that is not part of the WebSocket handshake.
    :param origin: the ``Origin`` header (check it to defend against
        cross-site WebSocket hijacking: :func:`~wsproto_lite.origin_allowed`).
    :param headers: on the server side, the whole header list as received
        (lower-case ``bytes`` names); a client leaves it empty.
    """

    host: str
    target: str
    _: KW_ONLY
    subprotocols: Sequence[str] = ()
    extensions: Sequence[Extension | str] = ()
    extra_headers: Sequence[Header] = ()
    origin: str | None = None
    headers: Sequence[tuple[bytes, bytes]] = ()

    def __post_init__(self) -> None:
        if not (
            type(self.subprotocols) is tuple
            and type(self.extensions) is tuple
            and type(self.extra_headers) is tuple
            and type(self.headers) is tuple
        ):
            _freeze(self, "subprotocols", "extensions", "extra_headers", "headers")


@dataclass(frozen=True, slots=True)
class Accept:
    """The server accepts the handshake (``101 Switching Protocols``).

    A server sends it; a client receives it with what was negotiated.

    :param subprotocol: the chosen subprotocol, one the client offered, or
        ``None``.
    :param extensions: the extensions the server supports (it accepts those
        the client offered); on the client side, those negotiated.
    :param extra_headers: headers for the 101 response; on the client side,
        the response's headers that are not part of the handshake.
    """

    _: KW_ONLY
    subprotocol: str | None = None
    extensions: Sequence[Extension] = ()
    extra_headers: Sequence[Header] = ()

    def __post_init__(self) -> None:
        if not (type(self.extensions) is tuple and type(self.extra_headers) is tuple):
            _freeze(self, "extensions", "extra_headers")


@dataclass(frozen=True, slots=True)
class Reject:
    """The server refuses the handshake with an ordinary HTTP response.

    With ``has_body=True`` the body follows as :class:`RejectData` events,
    the last with ``body_finished=True``.  A client receives a ``Reject``
    followed by at least one ``RejectData``, the last one with
    ``body_finished=True`` (possibly with empty data), unless the stream
    ends inside a body whose ``Content-Length`` is not reached: then a
    ``Close`` (1006) ends the events instead.

    :param status_code: the HTTP status, 200 to 599 except 101.
    :param headers: the response's headers (a ``Content-Length`` bounds the
        body that follows).
    :param has_body: whether :class:`RejectData` events follow; without a
        body the response ends here.
    """

    status_code: int = 400
    _: KW_ONLY
    headers: Sequence[Header] = ()
    has_body: bool = False

    def __post_init__(self) -> None:
        _freeze(self, "headers")


@dataclass(frozen=True, slots=True)
class RejectData:
    """A piece of the body of a rejection response.

    :param data: the bytes of this piece (any bytes-like object, kept as
        ``bytes``).
    :param body_finished: whether this piece ends the body.
    :raises InvalidEventError: for data that is not bytes-like.
    """

    data: bytes = b""
    _: KW_ONLY
    body_finished: bool = True

    def __post_init__(self) -> None:
        if type(self.data) is not bytes:
            object.__setattr__(self, "data", _as_bytes(self.data, "RejectData's data"))


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """A WebSocket message: ``str`` for a text message, ``bytes`` for binary.

    By default a received message is reported whole.  In streaming mode
    (``Connection(stream_messages=True)``) it arrives in pieces with
    ``message_finished=False``, the last piece with ``message_finished=True``.
    Sending pieces with ``message_finished=False`` sends a fragmented message;
    every piece must have the type of the first.  Any bytes-like ``data``
    (``bytearray``, ``memoryview``, ``array``...) is copied to ``bytes``
    here, counted in bytes.

    :param data: the text (``str``) or the bytes of the message, or of this
        piece of it.
    :param message_finished: whether this piece ends the message.
    :raises InvalidEventError: for ``data`` that is neither ``str`` nor
        bytes-like.
    """

    data: str | bytes
    _: KW_ONLY
    message_finished: bool = True

    def __init__(self, data: str | bytes, *, message_finished: bool = True) -> None:
        # The generated __init__ of a frozen dataclass goes through
        # object.__setattr__; the slots' own setters cost a third as much,
        # and an application makes one Message per message it sends.
        if type(data) is not str and type(data) is not bytes:
            data = str(data) if isinstance(data, str) else _as_bytes(data, "a Message's data")
        _set_message_data(self, data)
        _set_message_finished(self, message_finished)


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping (RFC 6455, section 5.5.2).

    :param payload: at most 125 bytes (any bytes-like object, kept as
        ``bytes``).
    :raises InvalidEventError: for a payload that is not bytes-like.
    """

    payload: bytes = b""

    def __post_init__(self) -> None:
        if type(self.payload) is not bytes:
            object.__setattr__(self, "payload", _as_bytes(self.payload, "a Ping's payload"))


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong (RFC 6455, section 5.5.3).

    :param payload: at most 125 bytes (any bytes-like object, kept as
        ``bytes``).
    :raises InvalidEventError: for a payload that is not bytes-like.
    """

    payload: bytes = b""

    def __post_init__(self) -> None:
        if type(self.payload) is not bytes:
            object.__setattr__(self, "payload", _as_bytes(self.payload, "a Pong's payload"))


@dataclass(frozen=True, slots=True)
class Close:
    """The closing handshake (RFC 6455, sections 5.5.1 and 7).

    To close, send ``Close(code, reason)``.  A received ``Close`` has
    ``by_peer=True`` when the peer sent a close frame with this code and
    reason.  ``by_peer=False`` means this side ended the connection: it
    failed the connection because the peer broke the protocol (the code is
    then 1002, 1007, 1009 or 1010 and the reason says why; the close frame
    is already queued) or left a keepalive ping without its pong (1011,
    its close frame queued too), or the stream ended without a closing
    handshake, or a handshake timed out (1006).  Code 1005 stands for a
    close frame without a code.

    :param code: the close code (RFC 6455, section 7.4).  ``send()`` takes
        1000 to 1003, 1007 to 1014 and 3000 to 4999, and 1005 for a close
        frame without a code.
    :param reason: why, in at most 123 bytes of UTF-8.
    :param by_peer: on a received ``Close``, whether the peer sent it (see
        above); ignored when sending.
    """

    code: int = 1000
    reason: str = ""
    _: KW_ONLY
    by_peer: bool = False


_set_message_data = Message.__dict__["data"].__set__
_set_message_finished = Message.__dict__["message_finished"].__set__

#: Any of the events: what :meth:`Connection.events <wsproto_lite.Connection.events>`
#: yields and :meth:`Connection.send <wsproto_lite.Connection.send>` takes.
Event = Request | Accept | Reject | RejectData | Message | Ping | Pong | Close
