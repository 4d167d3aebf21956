"""The extension interface of RFC 6455, section 9.

An :class:`Extension` is configuration: immutable and reusable, it offers
itself (client), answers an offer (server) and checks the answer (client).
Negotiation produces an :class:`ExtensionSession`, the per-connection state
(compression contexts and the like), which claims RSV bits and transforms
the payloads of data messages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

#: Parameters of one extension in a ``Sec-WebSocket-Extensions`` header:
#: name and value (``None`` for a parameter without a value), in order.
Params = list[tuple[str, str | None]]


class ExtensionSession(ABC):
    """The state of one negotiated extension on one connection."""

    #: The RSV bits this extension may set (for example ``0x40`` for RSV1).
    rsv: ClassVar[int]

    @abstractmethod
    def decode(self, payload: bytes, *, fin: bool, limit: int | None) -> bytes:
        """Transform a received frame's payload that belongs to a message whose
        first frame had this extension's RSV bits set.

        ``limit`` is how many bytes the result may have at most (``None``
        for no limit); going past it raises ``RemoteProtocolError`` with
        code 1009, after producing no more than ``limit + 1`` bytes.
        """

    @abstractmethod
    def encode(self, payload: bytes, *, first: bool, fin: bool) -> tuple[bytes, int]:
        """Transform an outgoing frame's payload; return it with the RSV bits
        to set on this frame."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release what the session holds; called when the connection closes."""


class Extension(ABC):
    """An extension's configuration, passed to a client's :class:`Request` or
    to a server (``Connection(extensions=...)`` or :class:`Accept`)."""

    #: The extension's registered name, as it stands in the header.
    name: ClassVar[str]

    @abstractmethod
    def offer(self) -> str:
        """Client: the parameters to offer, as header text (may be empty)."""

    @abstractmethod
    def accept(self, params: Params) -> tuple[str, ExtensionSession] | None:
        """Server: answer one offer.  Return the parameters of the response
        (header text) and the session, or ``None`` to decline the offer."""

    @abstractmethod
    def finalize(self, params: Params) -> ExtensionSession:
        """Client: check the server's response and return the session.  Raise
        ``RemoteProtocolError`` (code 1010) for a response it cannot honour."""
