"""The exceptions of wsproto_lite.

``LocalProtocolError`` means *this* program asked for something the protocol
forbids (sending a message before the handshake, an invalid close code...).
It is raised by :meth:`Connection.send` and names the state and what to do
instead, and nothing about the connection changes.  Two subclasses say which
kind of misuse it was, for a host that maps them (an ASGI server maps only
the first to a client disconnect):

* ``ConnectionClosedError``: the state forbids sending because the
  connection is closing or closed (a ``Close`` was sent or received, or the
  connection failed or ended);
* ``InvalidEventError`` (also a ``ValueError``): the event itself is wrong,
  whatever the state: a close code that may not be sent, a reason or a
  control payload too long, text that is not Unicode, a subprotocol the
  client did not offer, an invalid header.

``RemoteProtocolError`` means the *peer* broke the protocol.  During the
opening handshake it is raised by :meth:`Connection.receive_data`, carrying
the HTTP status and headers a server should answer with.  Once the
connection is open it is never raised to the caller: the connection fails
itself, reports a :class:`~wsproto_lite.events.Close` event and queues the
close frame.  The instance is still what carries the close code and reason
inside the library.
"""

from __future__ import annotations

from collections.abc import Sequence

Headers = Sequence[tuple[bytes | str, bytes | str]]


class ProtocolError(Exception):
    """Base class of the library's errors."""


class LocalProtocolError(ProtocolError):
    """This side misused the API; the message says what to do instead."""


class ConnectionClosedError(LocalProtocolError):
    """Sending is refused because the connection is closing or closed
    (states ``LOCAL_CLOSING``, ``REMOTE_CLOSING`` for anything but a message,
    a ping, a pong or the answering ``Close``, and ``CLOSED``)."""


class InvalidEventError(LocalProtocolError, ValueError):
    """The event cannot be sent in any state: one of its fields is invalid."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    During the opening handshake :meth:`Connection.receive_data` (and
    :meth:`Connection.receive_request`) raise it, with the answer a server
    should give in :attr:`status_code` and :attr:`headers`.  After the
    handshake it is never raised to the caller.

    :param reason: what was wrong, in words; also the exception's message.
    :param code: the close code the connection fails with.
    :param status_code: the HTTP status a server answers with, or ``None``.
    :param headers: the headers to send with that status.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: int = 1002,
        status_code: int | None = None,
        headers: Headers = (),
    ) -> None:
        super().__init__(reason)
        #: What was wrong, in words.
        self.reason = reason
        #: The close code that goes with the error: 1002 for a protocol
        #: error, 1007 for text that is not UTF-8, 1009 for a message over
        #: the limit, 1010 for an extension the client cannot accept, 1011
        #: for a keepalive ping without its pong.
        self.code = code
        #: The HTTP status a server should answer the handshake with (400,
        #: 405, 426, 431...); ``None`` on the client side.
        self.status_code = status_code
        #: The headers to send with :attr:`status_code`, for example
        #: ``Sec-WebSocket-Version: 13`` with 426; ``()`` on the client side.
        self.headers: tuple[tuple[bytes | str, bytes | str], ...] = tuple(headers)
