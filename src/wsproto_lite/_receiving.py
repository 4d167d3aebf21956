"""Receiving: how the bytes a peer sent become events (RFC 6455, sections 5,
5.4, 5.5, 7 and 8.1).

:class:`Receiver` is the half of :class:`~wsproto_lite.connection.Connection`
that decodes frames: the loop behind ``events()``, reassembly, UTF-8 checks,
control frames and failing the connection.  It keeps no state of its own;
the slots it reads and writes are declared on ``Connection``, whose module
docstring gives the rules both halves keep.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from ._frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    LANES_FROM,
    MAX_CONTROL_PAYLOAD,
    NO_STATUS,
    PIECE,
    PING,
    PONG,
    REPEAT_KEY,
    RSV_BITS,
    TEXT,
    TRUNCATE,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    mask_lanes,
    read_int,
)
from ._states import RECEIVING, ConnectionState
from .errors import RemoteProtocolError
from .events import Close, Event, Message, Ping, Pong, _set_message_data, _set_message_finished
from .extensions import ExtensionSession, wire_bound

__all__ = ["Receiver"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# Building a Message with object.__new__ and its slots' setters skips even
# its own __init__, which costs more than the rest of a small frame's decoding.
_new = object.__new__

#: The most payload a run of small fragments gathers before unmasking it.
_RUN = 1 << 17

#: Pieces of a message being received that are smaller than this are
#: merged with the next small one (see _keep).
_MERGE_BELOW = 1024


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


def _equal_frames(
    buf: bytearray, stop: int, end: int, head: int, expect_mask: int, small: int, budget: int
) -> tuple[int, bytes, bool] | None:
    """The payloads of a run of continuation frames (5.4) that all have the
    header of the one at ``stop``, unmasked (5.3) and joined; where the run
    ends, and whether its last frame had FIN.  ``None`` if it is too short
    to pay for the fixed cost.

    Frames of one length lie at a fixed stride, so their headers are read
    as columns of the buffer (strided slices) and checked in C, and the
    payloads are gathered column by column, unmasked as one integer and
    interleaved back: no Python step per frame.  Senders that fragment cut
    messages into pieces of one size, so this is the usual run.
    """
    if end - stop < head:
        return None
    second = buf[stop + 1]
    length = second ^ expect_mask
    if buf[stop] or not 0 < length <= small:
        return None
    stride = head + length
    count = min((end - stop) // stride, budget // length)
    # Two strided slices per byte of one payload cost about as much as
    # walking 2 * length frames (measured for lengths 1 to 125): below
    # that, walking is cheaper.  A frame at the far end is probed first.
    least = 2 * length + 8
    probe = stop + (least - 1) * stride
    if count < least or buf[probe] & 0x7F or buf[probe + 1] != second:
        return None
    stop_all = stop + count * stride
    firsts = bytes(buf[stop:stop_all:stride])
    count -= len(firsts.lstrip(b"\x00"))  # the frames that continue without FIN
    finished = count < len(firsts) and firsts[count] == 0x80
    count += finished
    seconds = bytes(buf[stop + 1 : stop + count * stride : stride])
    same = len(seconds) - len(seconds.lstrip(bytes((second,))))
    if same < count:
        count, finished = same, False
    if count < least:
        return None
    stop_all = stop + count * stride
    at = stop + head
    columns = b"".join([buf[at + j : stop_all : stride] for j in range(length)])
    if expect_mask:
        keys = [buf[stop + 2 + j : stop_all : stride] for j in range(4)]
        stream = b"".join([keys[j & 3] for j in range(length)])
        columns = (read_int(columns, "little") ^ read_int(stream, "little")).to_bytes(len(columns), "little")
    out = bytearray(count * length)
    with memoryview(columns) as view:
        for j in range(length):
            out[j::length] = view[j * count : (j + 1) * count]
    return stop_all, bytes(out), finished


def _check_frame_size(
    length: int, received: int, max_message: int | None, max_frame: int | None, transformed: int
) -> None:
    """Fail a data frame whose header announces more than the limits allow
    (RFC 6455, 10.4): ``received`` is what the message had before it.  The
    limits count payload as the application gets it; a frame that an
    extension transforms (compresses) is checked against
    :func:`~wsproto_lite.extensions.wire_bound` of what is left instead, and
    its output is counted as it is decoded (see ExtensionSession.decode).
    """
    if max_message is not None:
        left = max_message - received
        if length > (wire_bound(left) if transformed else left):
            raise RemoteProtocolError(f"message exceeds the limit of {max_message} bytes", code=1009)
    if max_frame is not None and length > (wire_bound(max_frame) if transformed else max_frame):
        raise RemoteProtocolError(f"frame exceeds the limit of {max_frame} bytes", code=1009)


class Receiver:
    """Frame decoding for :class:`~wsproto_lite.connection.Connection`."""

    # The connection's state that receiving reads and writes; Connection
    # sets it up and declares the slots of the rest.
    __slots__ = (
        "_client",
        "_close_now",
        "_decoder",
        "_eof",
        "_events",
        "_inbuf",
        "_msg_opcode",
        "_msg_parts",
        "_msg_rsv",
        "_msg_size",
        "_out",
        "_partial",
        "_partial_fin",
        "_partial_key",
        "_partial_opcode",
        "_partial_rsv",
        "_pending",
        "_pos",
        "_rsv_allowed",
        "_sessions",
        "_state",
        "auto_reply",
        "max_frame_size",
        "max_message_size",
        "stream_messages",
    )

    max_message_size: int | None
    max_frame_size: int | None
    auto_reply: bool
    stream_messages: bool
    _client: bool
    _state: ConnectionState
    _close_now: bool
    _events: list[Event]
    _out: list[bytes]
    _inbuf: bytearray
    _pos: int
    _eof: bool
    _partial: int
    _partial_key: bytes
    _partial_fin: bool
    _partial_opcode: int
    _partial_rsv: int
    _sessions: tuple[ExtensionSession, ...]
    _rsv_allowed: int
    _msg_opcode: int
    _msg_parts: list[bytes] | list[str]
    _pending: list[bytes]
    _msg_size: int
    _msg_rsv: int
    _decoder: codecs.IncrementalDecoder | None

    def events(self) -> Iterator[Event]:
        """Yield the events of the data received so far, oldest first.

        Frames are decoded as the iterator advances, so what the caller sends
        in answer to one event goes out before anything the connection does
        about the frames after it (a valid message is answered even if the
        peer's next frame fails the connection).  After the loop, write what
        :meth:`data_to_send` returns.
        """
        queued = self._events
        while queued:
            yield queued.pop(0)
        buf = self._inbuf
        expect_mask = 0 if self._client else 0x80
        max_message = self.max_message_size
        # In whole-message mode, whole frames with a 7- or 16-bit length and
        # within both limits take the fast path below.
        head = 6 if expect_mask else 2
        fast = not self.stream_messages
        # (Plain comparisons: min() over a generator costs a microsecond,
        # which is felt on every call that decodes a single small frame.)
        fast_limit = 0xFFFF
        max_frame = self.max_frame_size
        if max_message is not None and max_message < fast_limit:
            fast_limit = max_message
        if max_frame is not None and max_frame < fast_limit:
            fast_limit = max_frame
        # The state is checked again after every event: the caller may have
        # sent a Close in between.
        while self._state in RECEIVING:
            pos = self._pos
            end = len(buf)
            event: Event | None
            # The fast path: a text or binary frame with a 7- or 16-bit
            # length, unfragmented or continuing an uncompressed message,
            # whole in the buffer and within the limits.  Anything else,
            # errors included, goes the general way below.
            if fast and not self._partial and end - pos >= head:
                first = buf[pos]
                second = buf[pos + 1]
                length = second & 0x7F
                start = pos + head
                if length > 125:
                    if length == 126 and end - pos >= 4:
                        length = (buf[pos + 2] << 8) | buf[pos + 3]
                        start += 2
                    else:
                        length = end  # a 64-bit length, or not all of it: the general path
                stop = start + length
                if stop <= end and (second & 0x80) == expect_mask and length <= fast_limit:
                    if first == 0x81 or first == 0x82:
                        whole = not self._msg_opcode
                    elif (first == 0x80 or first == 0x00) and self._msg_opcode and not self._msg_rsv:
                        whole = False
                        if max_message is not None and self._msg_size + length > max_message:
                            stop = end + 1  # over the limit: the general path fails it
                    else:
                        stop = end + 1
                    if stop <= end and (whole or first < 0x81):
                        if not expect_mask:
                            payload = bytes(buf[start:stop])
                        elif length <= MAX_CONTROL_PAYLOAD:
                            key = read_int(buf[start - 4 : start], "little") * REPEAT_KEY[length]
                            payload = (
                                (read_int(buf[start:stop], "little") ^ key) & TRUNCATE[length]
                            ).to_bytes(length, "little")
                        else:
                            payload = apply_mask(buf[start:stop], buf[start - 4 : start])
                        self._pos = stop
                        data: str | bytes = payload
                        if not whole:
                            # A piece of a fragmented message: kept as it is;
                            # text is checked when the pieces are flushed.
                            pieces: list[bytes] = (
                                self._pending if self._msg_opcode == TEXT else self._msg_parts  # type: ignore[assignment]
                            )
                            _keep(pieces, payload)
                            size = self._msg_size + length
                            # Pieces that are not the last yield nothing, so
                            # nothing can change the state between them: take
                            # the following small ones in this tight loop.
                            finished = first == 0x80
                            # Only the concatenation of the pieces matters, so
                            # a run of them is unmasked at once: one integer
                            # XOR with the run's key stream, instead of one per
                            # frame, which costs more than reading the frame.
                            datas: list[bytearray] = []
                            keys: list[bytearray] = []
                            if not finished:
                                # One check per condition: a wrong MASK bit
                                # makes the length read 128 or more; a run
                                # stops at 128 KiB, so its integers stay small.
                                small = (
                                    fast_limit if fast_limit < MAX_CONTROL_PAYLOAD else MAX_CONTROL_PAYLOAD
                                )
                                budget = (1 << 62) if max_message is None else max_message - size
                                run_end = end if end - stop < _RUN else stop + _RUN
                                start_budget = budget
                                equal = _equal_frames(buf, stop, run_end, head, expect_mask, small, budget)
                                if equal is not None:
                                    stop, run, finished = equal
                                    _keep(pieces, run)
                                    budget -= len(run)
                                while not finished:
                                    start = stop + head
                                    if start > run_end:
                                        break
                                    first = buf[stop]
                                    length = buf[stop + 1] ^ expect_mask
                                    if first & 0x7F or length > small:
                                        break
                                    following = start + length
                                    if following > run_end or length > budget:
                                        break
                                    budget -= length
                                    if expect_mask:
                                        frame_key = buf[stop + 2 : start]
                                        keys.append(
                                            frame_key * (length >> 2)
                                            if not length & 3
                                            else (frame_key * ((length >> 2) + 1))[:length]
                                        )
                                    datas.append(buf[start:following])
                                    stop = following
                                    if first:  # 0x80: the last piece
                                        finished = True
                                        break
                                size += start_budget - budget
                            if datas:
                                run = b"".join(datas)
                                if expect_mask:
                                    keys_int = read_int(b"".join(keys), "little")
                                    run = (read_int(run, "little") ^ keys_int).to_bytes(len(run), "little")
                                _keep(pieces, run)
                            self._pos = stop
                            self._msg_size = size
                            if not finished:
                                continue
                            try:
                                data = self._finish_message()
                            except RemoteProtocolError as error:
                                yield self._fail(error)
                                break
                        elif first == 0x81:
                            try:
                                data = payload.decode("utf-8")
                            except UnicodeDecodeError:
                                yield self._fail(
                                    RemoteProtocolError("text message is not valid UTF-8 (8.1)", code=1007)
                                )
                                break
                        message = _new(Message)
                        _set_message_data(message, data)
                        _set_message_finished(message, True)
                        yield message
                        continue
            try:
                # Text taken on the fast path is checked before any other
                # frame, and before the loop can stop (it always comes here
                # last), so bad UTF-8 fails in the read it arrived in (8.1).
                if self._pending:
                    self._flush_pending(False)
                if self._partial:
                    # The rest of a data frame whose header was read.
                    if pos == end:
                        break
                    event = self._receive_partial(buf, pos, end)
                    if event is not None:
                        yield event
                    continue
                if end - pos < 2:
                    break
                first = buf[pos]
                second = buf[pos + 1]
                length = second & 0x7F
                start = pos + 2
                if length == 126:
                    if end - pos < 4:
                        break
                    length = (buf[pos + 2] << 8) | buf[pos + 3]
                    start = pos + 4
                elif length == 127:
                    if end - pos < 10:
                        break
                    length = read_int(buf[pos + 2 : pos + 10], "big")
                    start = pos + 10
                    if length >> 63:
                        raise RemoteProtocolError("frame length has its most significant bit set (5.2)")
                opcode = first & 0x0F
                rsv = first & RSV_BITS
                if (second & 0x80) != expect_mask:
                    raise RemoteProtocolError(
                        "a server must not mask frames (5.1)"
                        if self._client
                        else "a client must mask every frame (5.1)"
                    )
                if rsv & ~self._rsv_allowed:
                    raise RemoteProtocolError("RSV bits set without a negotiated extension (5.2)")
                if opcode & 0x08:
                    if opcode > PONG:
                        raise RemoteProtocolError(f"reserved control opcode {opcode:#x} (5.2)")
                    if length > MAX_CONTROL_PAYLOAD or not first & 0x80:
                        raise RemoteProtocolError(
                            "control frames must be unfragmented, at most 125 bytes (5.5)"
                        )
                    if rsv:
                        raise RemoteProtocolError("RSV bits set on a control frame (5.2)")
                else:
                    if opcode > BINARY:
                        raise RemoteProtocolError(f"reserved data opcode {opcode:#x} (5.2)")
                    if opcode == CONTINUATION:
                        if not self._msg_opcode:
                            raise RemoteProtocolError("continuation frame with no message to continue (5.4)")
                        if rsv:
                            raise RemoteProtocolError("RSV bits set on a continuation frame")
                        _check_frame_size(length, self._msg_size, max_message, max_frame, self._msg_rsv)
                    elif self._msg_opcode:
                        raise RemoteProtocolError("new data frame inside a fragmented message (5.4)")
                    else:
                        _check_frame_size(length, 0, max_message, max_frame, rsv)
                key = start
                if expect_mask:
                    start += 4
                stop = start + length
                if stop > end:
                    if opcode & 0x08 or start >= end:
                        break  # control frames are read whole (at most 125 bytes)
                    # Read what has come of a data frame's payload now, so
                    # that nothing is buffered whole and bad UTF-8 fails at
                    # once; _receive_partial takes the rest as it arrives.
                    self._pos = start
                    self._partial = length
                    self._partial_key = bytes(buf[key:start])
                    self._partial_fin = bool(first & 0x80)
                    self._partial_opcode = opcode
                    self._partial_rsv = rsv
                    continue
                if expect_mask:
                    payload = apply_mask(buf[start:stop], bytes(buf[key:start]))
                else:
                    payload = bytes(buf[start:stop])
                self._pos = stop

                if opcode == TEXT and first & 0x80 and not rsv and not self.stream_messages:
                    # The common case: a whole text message in one frame.
                    try:
                        event = Message(payload.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise RemoteProtocolError(
                            "text message is not valid UTF-8 (8.1)", code=1007
                        ) from None
                elif opcode == BINARY and first & 0x80 and not rsv and not self.stream_messages:
                    event = Message(payload)
                elif opcode & 0x08:
                    event = self._receive_control(opcode, payload)
                else:
                    event = self._receive_fragment(opcode, payload, rsv, bool(first & 0x80))
            except RemoteProtocolError as error:
                event = self._fail(error)
            if event is not None:
                yield event
        if self._eof and self._state in RECEIVING:
            self._state = ConnectionState.CLOSED
            self._release()
            yield Close(1006, "the stream ended without a closing handshake")

    def _fail(self, error: RemoteProtocolError) -> Close:
        """Fail the connection (RFC 6455, 7.1.7): queue a close frame with
        the error's code unless one was sent already, report it, stop."""
        if self._state is ConnectionState.OPEN:
            self._out.append(encode_frame(CLOSE, encode_close(error.code, ""), mask=self._client))
        self._state = ConnectionState.CLOSED
        self._close_now = True
        self._release()
        return Close(error.code, error.reason)

    def _release(self) -> None:
        self._inbuf = bytearray()
        self._pos = 0
        self._partial = 0
        self._msg_parts = []
        self._pending = []
        for session in self._sessions:
            session.close()

    def _receive_partial(self, buf: bytearray, pos: int, end: int) -> Message | None:
        """Take what has arrived of the current data frame's payload."""
        n = min(end - pos, self._partial)
        key = self._partial_key
        payload: bytes | bytearray
        if not key:
            payload = bytes(buf[pos : pos + n])
        elif n < LANES_FROM or n > PIECE:
            with memoryview(buf) as view:
                payload = apply_mask(view[pos : pos + n], key)
        else:
            # Medium pieces are masked in the copy the slice makes anyway.
            payload = buf[pos : pos + n]
            mask_lanes(payload, 0, key)
        if key:
            turn = n & 3
            self._partial_key = key[turn:] + key[:turn]
        self._pos = pos + n
        self._partial -= n
        opcode = self._partial_opcode
        self._partial_opcode = 0  # only the first piece starts a message
        return self._receive_fragment(
            opcode, payload, self._partial_rsv, self._partial_fin and not self._partial
        )

    def _flush_pending(self, final: bool) -> None:
        """Decode the text pieces taken on the fast path (8.1)."""
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        _keep(self._msg_parts, self._decode_text(data, final))

    def _decode_text(self, data: bytes | bytearray, final: bool) -> str:
        decoder = self._decoder
        assert decoder is not None
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError:
            raise RemoteProtocolError("text message is not valid UTF-8 (8.1)", code=1007) from None
        pending = decoder.getstate()[0]
        # CPython's decoder waits for a third byte before rejecting a
        # UTF-16 surrogate (ED A0..BF); fail at the second.
        if pending[:1] == b"\xed" and len(pending) > 1 and pending[1] > 0x9F:
            raise RemoteProtocolError("text message is not valid UTF-8 (8.1)", code=1007)
        return text

    def _finish_message(self) -> str | bytes:
        """The whole message, once its last piece came on the fast path."""
        text = self._msg_opcode == TEXT
        if text:
            self._flush_pending(True)
        parts = self._msg_parts
        self._msg_parts = []
        self._msg_opcode = 0
        return "".join(parts) if text else b"".join(parts)  # type: ignore[arg-type]

    def _receive_fragment(
        self, opcode: int, payload: bytes | bytearray, rsv: int, fin: bool
    ) -> Message | None:
        """A data frame that is not a whole uncompressed message (5.4)."""
        if opcode:
            self._msg_opcode = opcode
            self._msg_rsv = rsv
            self._msg_size = 0
            self._msg_parts = []
            if opcode == TEXT:
                if self._decoder is None:
                    self._decoder = _Utf8Decoder()
                else:
                    self._decoder.reset()
        if self._msg_rsv:
            limit = None if self.max_message_size is None else self.max_message_size - self._msg_size
            for session in self._sessions:
                if self._msg_rsv & session.rsv:
                    payload = session.decode(payload, fin=fin, limit=limit)
        self._msg_size += len(payload)
        piece: str | bytes | bytearray = payload
        if self._msg_opcode == TEXT:
            piece = self._decode_text(payload, fin)
        if fin:
            self._msg_opcode = 0
        if self.stream_messages:
            # Events always carry bytes, never the bytearray of a large piece.
            data = piece if isinstance(piece, str) else bytes(piece)
            return Message(data, message_finished=fin) if data or fin else None
        parts: list[str | bytes | bytearray] = self._msg_parts  # type: ignore[assignment]
        _keep(parts, piece)
        if not fin:
            return None
        self._msg_parts = []
        return Message("".join(parts) if isinstance(piece, str) else b"".join(parts))  # type: ignore[arg-type]

    def _receive_control(self, opcode: int, payload: bytes) -> Event:
        """A control frame (5.5)."""
        if opcode == PING:
            if self.auto_reply and self._state is ConnectionState.OPEN:
                self._out.append(encode_frame(PONG, payload, mask=self._client))
            return Ping(payload)
        if opcode == PONG:
            return Pong(payload)
        code, reason = decode_close(payload)
        if self._state is ConnectionState.LOCAL_CLOSING:
            self._state = ConnectionState.CLOSED
            self._release()
        elif self.auto_reply:
            reply = b"" if code == NO_STATUS else encode_close(code, "")
            self._out.append(encode_frame(CLOSE, reply, mask=self._client))
            self._state = ConnectionState.CLOSED
            self._release()
        else:
            self._state = ConnectionState.REMOTE_CLOSING
        return Close(code, reason, by_peer=True)
