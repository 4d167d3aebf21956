"""Extensions: the interface of RFC 6455, section 9, and permessage-deflate
(RFC 7692).

An :class:`Extension` is configuration: immutable and reusable, it offers
itself (client), answers an offer (server) and checks the answer (client).
Negotiation produces an :class:`ExtensionSession`, the per-connection state
(compression contexts and the like), which claims RSV bits and transforms
the payloads of data messages.

The handshake of :class:`~wsproto_lite.Connection` negotiates through the
three functions at the end of this module; a host that does the handshake
itself (HTTP/2 or HTTP/3 extended CONNECT, a proxy) calls them directly and
passes the sessions to :meth:`Connection.opened
<wsproto_lite.Connection.opened>`: :func:`negotiate` on a server,
:func:`offer` and :func:`finalize` on a client.
"""

from __future__ import annotations

import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ._headers import accept_token, header_value, parse_extension, split_comma_header
from .errors import RemoteProtocolError

#: The first reserved bit of a frame's header, which permessage-deflate
#: claims (``ExtensionSession.rsv``).
RSV1 = 0x40

#: Parameters of one extension in a ``Sec-WebSocket-Extensions`` header:
#: name and value (``None`` for a parameter without a value), in order.
Params = list[tuple[str, str | None]]


def wire_bound(size: int) -> int:
    """The most bytes a frame may carry on the wire for ``size`` bytes of
    payload once decoded, when an extension transforms it: what the size
    limits are checked against at a compressed frame's header.

    A DEFLATE encoder that cannot compress codes every byte as a literal of
    at most 9 bits (RFC 1951, 3.2.6) or stores it with 5 bytes per 64 KiB,
    plus a few bytes of block headers and flush: ``size * 9/8`` and 64
    bytes cover both, so no message within the limit is refused (zlib adds
    about 0.03% to random data).  The decoded bytes are what the limit
    counts: they are checked as they come out of zlib.

    :param size: a number of decoded bytes (a limit).
    """
    return size + (size >> 3) + 64


class ExtensionSession(ABC):
    """The state of one negotiated extension on one connection."""

    #: The RSV bits this extension may set (for example ``0x40`` for RSV1).
    rsv: ClassVar[int]

    @abstractmethod
    def decode(self, payload: bytes | bytearray, *, fin: bool, limit: int | None) -> bytes:
        """Transform a received frame's payload that belongs to a message whose
        first frame had this extension's RSV bits set.

        :param payload: the frame's payload as received (unmasked).
        :param fin: whether the frame ends the message.
        :param limit: how many bytes the result may have at most (``None``
            for no limit).
        :raises RemoteProtocolError: with code 1009 past ``limit``, after
            producing no more than ``limit + 1`` bytes; with 1007 for data
            the extension cannot decode.
        """

    @abstractmethod
    def encode(self, payload: bytes, first: bool, fin: bool) -> tuple[bytes, int]:
        """Transform an outgoing frame's payload; return it with the RSV bits
        to set on this frame.

        :param payload: the frame's payload before the transformation.
        :param first: whether the frame is its message's first.
        :param fin: whether the frame is its message's last.
        """

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
        (header text) and the session, or ``None`` to decline the offer.

        :param params: the offer's parameters, as parsed from the header.
        """

    @abstractmethod
    def finalize(self, params: Params) -> ExtensionSession:
        """Client: check the server's response and return the session.

        :param params: the response's parameters, as parsed from the header.
        :raises RemoteProtocolError: with code 1010 for a response the
            extension cannot honour.
        """


# -- permessage-deflate (RFC 7692) ----------------------------------------------

_TAIL = b"\x00\x00\xff\xff"
_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
_WINDOW_BITS = range(8, 16)
#: A window size as a parameter value: 8 to 15 in ASCII digits, no leading zero.
_BITS_VALUE = re.compile(r"[89]|1[0-5]")
_PARAMS = frozenset(
    (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    )
)


def _check_bits(name: str, value: int | None) -> None:
    if value is not None and value not in _WINDOW_BITS:
        raise ValueError(f"{name} must be from 8 to 15, not {value}")


def _parse_deflate_params(params: Params) -> dict[str, int | None] | None:
    """The parameters of an offer or response (7.1), or ``None`` when one is
    unknown, repeated or out of range (section 7, item 7: decline or fail)."""
    seen: dict[str, int | None] = {}
    for name, value in params:
        if name not in _PARAMS or name in seen:
            return None
        if name.endswith("context_takeover"):
            if value is not None:
                return None
            seen[name] = None
        elif value is None:
            # Only client_max_window_bits may come without a value, in an offer.
            if name != "client_max_window_bits":
                return None
            seen[name] = None
        else:
            # 7.1.2: 1*DIGIT, ASCII only (str.isdigit() admits "\xb9" and others).
            if _BITS_VALUE.fullmatch(value) is None:
                return None
            seen[name] = int(value)
    return seen


@dataclass(frozen=True)
class PerMessageDeflate(Extension):
    """permessage-deflate (RFC 7692): what to offer (client) or accept (server).

    The four negotiation parameters mean, from each side:

    :param server_no_context_takeover: the server compresses each message
        on its own (a client requests it; a server always does it when set).
    :param client_no_context_takeover: the same for the client's messages
        (a client promises it; a server requests it).
    :param server_max_window_bits: 8 to 15, the largest LZ77 window the
        server compresses with (a client requests it; a server uses it).
    :param client_max_window_bits: 8 to 15, the same for the client.  A
        client without a value still offers the parameter without one,
        telling the server it may limit the client's window.
    :param compress_level: zlib's compression level, 0 to 9, or -1 for
        zlib's default.
    :param mem_level: zlib's memory level for the compressor, 1 to 9.
    :raises ValueError: for a value outside those ranges.

    Memory per connection, as zlib documents it: compressing takes about
    ``2**(window_bits + 2) + 2**(mem_level + 9)`` bytes, decompressing
    ``2**window_bits`` plus about 7 KiB; both are allocated when first
    needed and released when the connection closes.  A window of 8 bits
    cannot be produced by zlib: when it is negotiated for this side's
    messages, they are sent uncompressed, which the RFC allows.
    """

    name: ClassVar[str] = "permessage-deflate"

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    compress_level: int = zlib.Z_DEFAULT_COMPRESSION
    mem_level: int = 8

    def __post_init__(self) -> None:
        _check_bits("server_max_window_bits", self.server_max_window_bits)
        _check_bits("client_max_window_bits", self.client_max_window_bits)
        if self.compress_level not in range(-1, 10):
            raise ValueError(f"compress_level must be from -1 to 9, not {self.compress_level}")
        if self.mem_level not in range(1, 10):
            raise ValueError(f"mem_level must be from 1 to 9, not {self.mem_level}")

    def offer(self) -> str:
        """Client (RFC 7692, 7.1): the offer's parameters, as header text."""
        params = []
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            params.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is None:
            params.append("client_max_window_bits")
        else:
            params.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(params)

    def accept(self, params: Params) -> tuple[str, ExtensionSession] | None:
        """Server side (7.1): accept an offer or decline it (``None``).

        :param params: the offer's parameters, as parsed from the header.
        """
        offer = _parse_deflate_params(params)
        if offer is None:
            return None
        response = []
        # 7.1.1: no context takeover for either side, when asked or wanted.
        server_nct = self.server_no_context_takeover or "server_no_context_takeover" in offer
        client_nct = self.client_no_context_takeover or "client_no_context_takeover" in offer
        if server_nct:
            response.append("server_no_context_takeover")
        if client_nct:
            response.append("client_no_context_takeover")
        # 7.1.2.1: our window, at most what the client asked for.
        server_bits = _smallest(offer.get("server_max_window_bits"), self.server_max_window_bits)
        if "server_max_window_bits" in offer:
            response.append(f"server_max_window_bits={server_bits}")
        # 7.1.2.2: the client's window may be limited only if the client offered the parameter.
        client_bits = 15
        if "client_max_window_bits" in offer:
            client_bits = _smallest(offer["client_max_window_bits"], self.client_max_window_bits)
            if client_bits < 15 or offer["client_max_window_bits"] is not None:
                response.append(f"client_max_window_bits={client_bits}")
        session = DeflateSession(
            self,
            send_no_context_takeover=server_nct,
            receive_no_context_takeover=client_nct,
            send_window_bits=server_bits,
            receive_window_bits=client_bits,
        )
        return "; ".join(response), session

    def finalize(self, params: Params) -> ExtensionSession:
        """Client side (7.1): check the server's response.

        :param params: the response's parameters, as parsed from the header.
        :raises RemoteProtocolError: with code 1010 for a response that is
            invalid or asks for a larger window than offered.
        """
        response = _parse_deflate_params(params)
        if response is None or (
            "client_max_window_bits" in response and response["client_max_window_bits"] is None
        ):
            raise RemoteProtocolError(f"invalid permessage-deflate response {params}", code=1010)
        # 7.1.2: the server may lower a window we named, never raise it.
        for name in ("client_max_window_bits", "server_max_window_bits"):
            got, asked = response.get(name), getattr(self, name)
            if got is not None and asked is not None and got > asked:
                raise RemoteProtocolError(
                    f"the server set {name}={got}, above the offered {asked}", code=1010
                )
        client_bits = response.get("client_max_window_bits")
        server_bits = response.get("server_max_window_bits")
        return DeflateSession(
            self,
            send_no_context_takeover=self.client_no_context_takeover
            or "client_no_context_takeover" in response,
            receive_no_context_takeover="server_no_context_takeover" in response,
            send_window_bits=_smallest(client_bits, self.client_max_window_bits),
            receive_window_bits=server_bits or 15,
        )


def _smallest(*bits: int | None) -> int:
    return min((b for b in bits if b is not None), default=15)


class DeflateSession(ExtensionSession):
    """permessage-deflate on one connection: the negotiated parameters and
    the zlib state, allocated when first needed and released on close.
    :meth:`PerMessageDeflate.accept` and :meth:`PerMessageDeflate.finalize`
    make it; the parameters are attributes of the same names.

    :param config: the configuration it was negotiated from (its zlib
        settings are used).
    :param send_no_context_takeover: whether each message sent is
        compressed on its own.
    :param receive_no_context_takeover: whether each message received was.
    :param send_window_bits: the window of the messages sent, 8 to 15.
    :param receive_window_bits: the window of the messages received.
    """

    rsv = RSV1

    def __init__(
        self,
        config: PerMessageDeflate,
        *,
        send_no_context_takeover: bool,
        receive_no_context_takeover: bool,
        send_window_bits: int,
        receive_window_bits: int,
    ) -> None:
        self.config = config
        self.send_no_context_takeover = send_no_context_takeover
        self.receive_no_context_takeover = receive_no_context_takeover
        self.send_window_bits = send_window_bits
        self.receive_window_bits = receive_window_bits
        self._deflater: zlib._Compress | None = None
        self._inflater: zlib._Decompress | None = None
        self._compressing = False

    def __repr__(self) -> str:
        return (
            f"DeflateSession(send_no_context_takeover={self.send_no_context_takeover}, "
            f"receive_no_context_takeover={self.receive_no_context_takeover}, "
            f"send_window_bits={self.send_window_bits}, receive_window_bits={self.receive_window_bits})"
        )

    def decode(self, payload: bytes | bytearray, *, fin: bool, limit: int | None) -> bytes:
        """Inflate a piece of a compressed message (7.2.2), at most ``limit + 1`` bytes.

        :param payload: the frame's payload as received.
        :param fin: whether the frame ends the message.
        :param limit: the most bytes the message may still inflate to.
        :raises RemoteProtocolError: 1009 past ``limit``, 1007 for data that
            is not DEFLATE.
        """
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = zlib.decompressobj(wbits=-self.receive_window_bits)
        if fin:
            payload += _TAIL
        try:
            if limit is None:
                data = inflater.decompress(payload)
            else:
                data = inflater.decompress(payload, limit + 1)
                if len(data) > limit:
                    raise RemoteProtocolError(
                        "compressed message inflates past the message size limit", code=1009
                    )
        except zlib.error as error:
            raise RemoteProtocolError(f"invalid compressed data: {error}", code=1007) from None
        # A block with BFINAL set ends the DEFLATE stream (7.2.3.4): the
        # next message starts a new one.
        if fin and (self.receive_no_context_takeover or inflater.eof):
            self._inflater = None
        return data

    @property
    def compresses(self) -> bool:
        """Whether messages we send are compressed: zlib cannot keep to an
        8-bit window, so with one they go uncompressed (the RFC allows any
        message uncompressed)."""
        return self.send_window_bits > 8

    def encode(self, payload: bytes, first: bool, fin: bool) -> tuple[bytes, int]:
        """Deflate a piece of an outgoing message (7.2.1); RSV1 on its first frame.

        :param payload: the piece to compress.
        :param first: whether it is the message's first frame.
        :param fin: whether it is the message's last.
        """
        if first:
            self._compressing = self.compresses
        if not self._compressing:
            return payload, 0
        rsv = RSV1 if first else 0
        if fin:
            return self.compress_message(payload), rsv
        deflater = self._deflater or self._new_deflater()
        return deflater.compress(payload) + deflater.flush(_SYNC_FLUSH), rsv

    def compress_message(self, payload: bytes) -> bytes:
        """A whole message, or the last piece of one, deflated (7.2.1).

        :param payload: the bytes to compress.
        """
        deflater = self._deflater or self._new_deflater()
        data = deflater.compress(payload) + deflater.flush(_SYNC_FLUSH)
        if self.send_no_context_takeover:
            self._deflater = None
        return data[:-4]  # a sync flush always ends with 00 00 ff ff

    def _new_deflater(self) -> zlib._Compress:
        self._deflater = zlib.compressobj(
            self.config.compress_level, zlib.DEFLATED, -self.send_window_bits, self.config.mem_level
        )
        return self._deflater

    def close(self) -> None:
        """Release the zlib state (made again if the session is used)."""
        self._deflater = None
        self._inflater = None


# -- Negotiation, with or without HTTP/1.1 (RFC 6455, 9.1) ----------------------

HeaderValues = Iterable[bytes | str] | bytes | str


def _elements(values: HeaderValues) -> list[str]:
    """Every offer or answer in ``Sec-WebSocket-Extensions`` header values:
    one value or several, each perhaps a comma-separated list."""
    if isinstance(values, bytes | str):
        values = [values]
    return [element for value in values for element in split_comma_header(value)]


def negotiate(
    offer_values: HeaderValues, supported: Sequence[Extension]
) -> tuple[str | None, list[ExtensionSession]]:
    """Server: answer a client's extension offers.

    Each supported extension accepts
    the first offer of its name that it can honour; one whose RSV bits an
    accepted extension already claims is declined (RFC 7692, 5: two RSV1
    extensions would both compress).  Returns the value of the response's
    ``Sec-WebSocket-Extensions`` header (``None``: send none) and the
    sessions, in the order of the answer.

    :param offer_values: the ``Sec-WebSocket-Extensions`` values as
        received (``bytes`` or ``str``, one or several).
    :param supported: the extensions this server accepts, in order of
        preference.
    """
    accepted: list[str] = []
    sessions: list[ExtensionSession] = []
    remaining = list(supported)
    claimed = 0
    for element in _elements(offer_values):
        name, params = parse_extension(element)
        for ext in remaining:
            if ext.name == name:
                answer = ext.accept(params)
                if answer is not None and not answer[1].rsv & claimed:
                    accepted.append(header_value(name, answer[0]))
                    sessions.append(answer[1])
                    claimed |= answer[1].rsv
                    remaining.remove(ext)
                break
    return (", ".join(accepted) if accepted else None), sessions


def offer(extensions: Sequence[Extension]) -> str | None:
    """Client: the value of the request's ``Sec-WebSocket-Extensions``
    header offering ``extensions`` in order (``None`` for no offer).

    :param extensions: the extensions to offer, in order of preference.
    """
    offers = [header_value(ext.name, ext.offer()) for ext in extensions]
    return ", ".join(offers) if offers else None


def finalize(response_values: HeaderValues, offered: Sequence[Extension]) -> list[ExtensionSession]:
    """Client: the sessions for the server's answer to :func:`offer`, in
    the order of the answer.

    :param response_values: the answer's ``Sec-WebSocket-Extensions``
        values (``bytes`` or ``str``, one or several).
    :param offered: the extensions that were offered.
    :raises RemoteProtocolError: with code 1010 for an answer the client
        cannot honour: an extension it did not offer, one accepted twice,
        or parameters the extension refuses (RFC 6455, 9.1).
    """
    by_name = {ext.name: ext for ext in offered}
    sessions = []
    for element in _elements(response_values):
        name, params = parse_extension(element)
        ext = by_name.pop(name, None)
        if ext is None:
            raise RemoteProtocolError(
                f"the server accepted extension {name!r}, which was not offered (or twice)", code=1010
            )
        sessions.append(ext.finalize(params))
    return sessions


__all__ = [
    "RSV1",
    "DeflateSession",
    "Extension",
    "ExtensionSession",
    "Params",
    "PerMessageDeflate",
    "accept_token",
    "finalize",
    "negotiate",
    "offer",
    "split_comma_header",
    "wire_bound",
]
