"""The message being received (RFC 6455, 5.4, 5.6, 8.1 and 10.4).

:class:`Assembler` owns everything about the data message that is under
way: its opcode, the RSV bits of its first frame, its pieces, its size so
far, the incremental UTF-8 decoder of a text message, the limits, and the
extension sessions that decode it.  Each rule about messages is written
once, here:

* :meth:`Assembler.check` is the one place that fails 1009 (a frame header
  that announces more than the limits allow) and that checks a data frame
  against the message in progress (5.4);
* :func:`_not_utf8` builds the one 1007 failure (text that is not UTF-8),
  raised by :meth:`Assembler._decode`;
* :func:`whole_message` builds every whole ``Message`` the library
  reports (the receiver's fast path and :meth:`Assembler.add`).
"""

from __future__ import annotations

import codecs
from typing import Any

from ._frames import CONTINUATION, TEXT
from .errors import RemoteProtocolError
from .events import Message
from .extensions import ExtensionSession, wire_bound

__all__ = ["Assembler", "whole_message"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

#: Pieces of a message being received that are smaller than this are
#: merged with the next small one (see _keep).
_MERGE_BELOW = 1024


# A Message built with object.__new__ and its slots' setters skips the
# class call and Message.__init__'s checks of what a caller gave: 8% of
# receiving a 16-byte message (measured in docs/topics/performance.md).
_new = object.__new__
_set_data = Message.__dict__["data"].__set__
_set_finished = Message.__dict__["message_finished"].__set__


def whole_message(data: str | bytes) -> Message:
    """A received message, whole; ``data`` is already ``str`` or ``bytes``."""
    message = _new(Message)
    _set_data(message, data)
    _set_finished(message, True)
    return message


def _not_utf8() -> RemoteProtocolError:
    return RemoteProtocolError("text message is not valid UTF-8 (8.1)", code=1007)


def _keep(parts: list[Any], piece: str | bytes | bytearray) -> None:
    """Add a piece of the message being received to ``parts``, so that what
    the list costs beyond the message's own bytes stays small whatever the
    peer's fragments: an empty piece is dropped, and a small piece that
    follows a small one is merged into it.  Two neighbours are then never
    both small, so there is at most one piece per 512 bytes (about 12% on
    top of the payload), where a piece per 1-byte fragment cost 40 times it.
    A merge copies at most 2 KiB, so the whole stays linear.
    """
    if piece:
        if parts and len(piece) < _MERGE_BELOW and len(parts[-1]) < _MERGE_BELOW:
            parts[-1] += piece
        else:
            parts.append(piece)


class Assembler:
    """The data message being received, and the limits it is held to.

    :param max_message: the largest message, in bytes as the application
        gets them (after decompression); ``None`` for no limit.
    :param max_frame: the largest frame payload, the same way.
    :param stream: report each frame's data as a piece
        (``message_finished=False``) instead of whole messages.
    """

    __slots__ = (
        "decoder",
        "max_frame",
        "max_message",
        "opcode",
        "parts",
        "rsv",
        "sessions",
        "size",
        "stream",
        "whole_frame",
    )

    def __init__(self, max_message: int | None, max_frame: int | None, stream: bool) -> None:
        self.set_limits(max_message, max_frame)
        self.stream = stream
        #: The message's opcode, 0 while no message is under way.
        self.opcode = 0
        #: The RSV bits of its first frame: which extensions transform it.
        self.rsv = 0
        #: The bytes it had so far, counted as the application gets them.
        self.size = 0
        #: Its pieces: ``str`` for text (decoded as they come), bytes-likes
        #: for binary; joined when the last one comes.
        self.parts: list[Any] = []
        #: Made for the first text message that needs one.
        self.decoder: codecs.IncrementalDecoder | None = None
        #: The negotiated extension sessions, set when the connection opens.
        self.sessions: tuple[ExtensionSession, ...] = ()

    def set_limits(self, max_message: int | None, max_frame: int | None) -> None:
        """Set both limits, and :attr:`whole_frame` from them."""
        self.max_message = max_message
        self.max_frame = max_frame
        # (Plain comparisons: min() over a generator costs a microsecond.)
        limit = 0xFFFF
        if max_message is not None and max_message < limit:
            limit = max_message
        if max_frame is not None and max_frame < limit:
            limit = max_frame
        #: The longest payload the receiver's whole-frame fast path takes:
        #: a 16-bit length, within both limits.
        self.whole_frame = limit

    def check(self, opcode: int, rsv: int, length: int) -> None:
        """Check a data frame's header against the message in progress
        (5.4) and the limits (10.4), before its payload is read.

        The limits count payload as the application gets it; a frame that
        an extension transforms (compresses) is checked against
        :func:`~wsproto_lite.extensions.wire_bound` of what is left instead,
        and its output is counted as it is decoded (see
        ExtensionSession.decode).
        """
        if opcode == CONTINUATION:
            if not self.opcode:
                raise RemoteProtocolError("continuation frame with no message to continue (5.4)")
            if rsv:
                raise RemoteProtocolError("RSV bits set on a continuation frame")
            received, transformed = self.size, self.rsv
        elif self.opcode:
            raise RemoteProtocolError("new data frame inside a fragmented message (5.4)")
        else:
            received, transformed = 0, rsv
        if self.max_message is not None:
            left = self.max_message - received
            if length > (wire_bound(left) if transformed else left):
                raise RemoteProtocolError(f"message exceeds the limit of {self.max_message} bytes", code=1009)
        if self.max_frame is not None and length > (
            wire_bound(self.max_frame) if transformed else self.max_frame
        ):
            raise RemoteProtocolError(f"frame exceeds the limit of {self.max_frame} bytes", code=1009)

    def budget(self) -> int:
        """How many more bytes the message in progress may take."""
        return (1 << 62) if self.max_message is None else self.max_message - self.size

    def add(self, opcode: int, payload: bytes | bytearray, rsv: int, fin: bool) -> Message | None:
        """Take a data frame's payload, or the part of it that arrived
        (``fin`` only with its last byte); ``opcode`` is 0 except for the
        first piece of a message.  Returns the message once it is whole,
        or in streaming mode each piece that has data.  Raises
        :class:`RemoteProtocolError` for text that is not UTF-8 (at the
        first bad byte, 8.1) and for an extension's failure.
        """
        if opcode:
            self._start(opcode, rsv)
        if self.rsv:
            limit = None if self.max_message is None else self.max_message - self.size
            for session in self.sessions:
                if self.rsv & session.rsv:
                    payload = session.decode(payload, fin=fin, limit=limit)
        self.size += len(payload)
        text = self.opcode == TEXT
        piece = self._decode(payload, fin) if text else payload
        if fin:
            self.opcode = 0
        if self.stream:
            # Events always carry bytes, never the bytearray of a large piece.
            data = piece if isinstance(piece, str) else bytes(piece)
            return Message(data, message_finished=fin) if data or fin else None
        parts = self.parts
        _keep(parts, piece)
        if not fin:
            return None
        self.parts = []
        return whole_message("".join(parts) if text else b"".join(parts))

    def clear(self) -> None:
        """Forget the message in progress (the connection ended)."""
        self.parts = []
        self.opcode = 0

    def _start(self, opcode: int, rsv: int) -> None:
        self.opcode = opcode
        self.rsv = rsv
        self.size = 0
        self.parts = []
        if opcode == TEXT:
            if self.decoder is None:
                self.decoder = _Utf8Decoder()
            else:
                self.decoder.reset()

    def _decode(self, data: bytes | bytearray, final: bool) -> str:
        """The text of a piece of a text message, checked as it comes: the
        incremental decoder keeps an incomplete character for the next piece."""
        decoder = self.decoder
        assert decoder is not None
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError:
            raise _not_utf8() from None
        pending = decoder.getstate()[0]
        # CPython's decoder waits for a third byte before rejecting a
        # UTF-16 surrogate (ED A0..BF); fail at the second.
        if pending[:1] == b"\xed" and len(pending) > 1 and pending[1] > 0x9F:
            raise _not_utf8()
        return text
