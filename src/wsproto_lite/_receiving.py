"""Receiving: how the bytes a peer sent become events (RFC 6455, sections 5,
5.4, 5.5, 7 and 8.1).

How receiving works
-------------------
``receive_data()`` appends what arrived to one buffer, ``_inbuf`` (or,
when everything before was read, makes the caller's ``bytes`` the buffer:
see :meth:`Receiver._buffer`); ``events()`` decodes frames from ``_pos``
on, one event at a time, and yields each event before it looks at the next
frame, so that what the caller sends in answer goes out first.  Each turn
of its loop takes one of three ways:

1. **The whole-frame fast path**, :func:`whole_frame`: a text or binary
   frame with FIN, a 7- or 16-bit length within the limits, whole in the
   buffer, while no fragmented message is under way.  It unmasks and
   decodes it, and ``events()`` yields a ``Message``; it never fails
   anything: a frame it does not take (bad UTF-8 included) goes the general
   way.  This is most frames; without the fast path, receiving 16-byte
   messages takes 1.8 times as long (docs/topics/performance.md).  It has a
   compiled twin in :mod:`wsproto_lite._speedups`, as have masking and the
   run reader (:mod:`wsproto_lite._speed` chooses).
2. **The general path**, :meth:`Receiver._next_event`.  :func:`read_header`
   checks the frame format (5.1, 5.2, 5.5) and returns the header, or
   ``None`` while more bytes are needed.  The message assembler
   (:class:`~wsproto_lite._message.Assembler`, which owns the message under
   way) checks a data frame against that message and the limits (5.4,
   10.4) before its payload is read.  A control frame, read whole, goes to
   :meth:`Receiver._control`; a data frame's payload goes to the assembler,
   as much of it as has arrived (``_partial`` counts the rest), so that
   nothing large is buffered.
3. **Runs of small frames** (:mod:`wsproto_lite._runs`, read by the
   functions of :data:`run_readers`): after a data frame without FIN, the
   small continuation frames that follow are taken at once and handed to
   the assembler as one piece.

The receiving half also keeps the time (:meth:`Receiver.handle_timer`):
keepalive pings and the deadlines of the handshakes are about waiting for
the peer (see :mod:`wsproto_lite._timers`).

Anything the peer does wrong raises :class:`RemoteProtocolError` inside the
general path; ``events()`` catches it and fails the connection
(:meth:`Receiver._fail`, 7.1.7): a ``Close`` event with ``by_peer=False``
and a close frame queued.  The state changes on a close frame, a failure
and the end of the stream are those of the tables in
:mod:`wsproto_lite._states`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator

from ._frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_CONTROL_PAYLOAD,
    NO_STATUS,
    PING,
    PONG,
    RSV_BITS,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    read_int,
)
from ._message import Assembler, whole_message
from ._runs import RunReader, equal_frames, small_frames
from ._states import (
    CLOSE_RECEIVED,
    END_OF_STREAM,
    FAILED,
    PING_ANSWERED,
    RECEIVING,
    TIMED_OUT,
    ConnectionState,
    Role,
)
from ._timers import Timers
from .errors import RemoteProtocolError
from .events import Close, Event, Ping, Pong
from .extensions import ExtensionSession

__all__ = ["Receiver", "read_header", "run_readers", "whole_frame"]

#: The most payload a run of small frames gathers before unmasking it, so
#: that the integers it is unmasked with stay small.
_RUN = 1 << 17


class _Wait(enum.Enum):
    MORE = 0  # the next frame has not all arrived


_MORE = _Wait.MORE


def read_header(
    buf: bytes | bytearray, pos: int, end: int, expect_mask: int, rsv_allowed: int
) -> tuple[int, int, int] | None:
    """The frame header at ``buf[pos:end]``, checked against the frame format
    (RFC 6455, 5.1, 5.2 and 5.5): ``(first byte, payload length, where the
    masking key or, unmasked, the payload starts)``, or ``None`` while the
    header has not all arrived.  Raises :class:`RemoteProtocolError` for a
    frame no connection may receive.
    """
    if end - pos < 2:
        return None
    first = buf[pos]
    second = buf[pos + 1]
    length = second & 0x7F
    start = pos + 2
    if length == 126:
        if end - pos < 4:
            return None
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        start = pos + 4
    elif length == 127:
        if end - pos < 10:
            return None
        length = read_int(buf[pos + 2 : pos + 10], "big")
        start = pos + 10
        if length >> 63:
            raise RemoteProtocolError("frame length has its most significant bit set (5.2)")
    if (second & 0x80) != expect_mask:
        raise RemoteProtocolError(
            "a client must mask every frame (5.1)" if expect_mask else "a server must not mask frames (5.1)"
        )
    rsv = first & RSV_BITS
    if rsv & ~rsv_allowed:
        raise RemoteProtocolError("RSV bits set without a negotiated extension (5.2)")
    opcode = first & 0x0F
    if opcode & 0x08:
        if opcode > PONG:
            raise RemoteProtocolError(f"reserved control opcode {opcode:#x} (5.2)")
        if length > MAX_CONTROL_PAYLOAD or not first & 0x80:
            raise RemoteProtocolError("control frames must be unfragmented, at most 125 bytes (5.5)")
        if rsv:
            raise RemoteProtocolError("RSV bits set on a control frame (5.2)")
    elif opcode > BINARY:
        raise RemoteProtocolError(f"reserved data opcode {opcode:#x} (5.2)")
    return first, length, start


def whole_frame(
    buf: bytes | bytearray, pos: int, end: int, head: int, expect_mask: int, limit: int
) -> tuple[int, str | bytes] | None:
    """The whole-frame fast path: if ``buf[pos:end]`` starts with a whole
    text or binary frame with FIN and no RSV bit, the MASK bit
    ``expect_mask``, a 7- or 16-bit length of at most ``limit``, and (text)
    valid UTF-8: ``(where it ends, its payload as str or bytes)``, else
    ``None``.  It never fails anything: a frame it does not take goes the
    general way, which fails it if it must.  ``head`` is the shortest
    header: 2, or 6 with a masking key.
    """
    if end - pos < head + 2:
        return None  # not enough to read a 16-bit length
    first = buf[pos]
    length = buf[pos + 1] ^ expect_mask  # 128 or more if the MASK bit is wrong
    start = pos + head
    if length > 125:
        if length != 126:
            return None  # a 64-bit length, or a wrong MASK bit
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        start += 2
    stop = start + length
    if not 0x81 <= first <= 0x82 or stop > end or length > limit:
        return None
    payload: bytes | bytearray = buf[start:stop]
    if expect_mask:
        payload = apply_mask(payload, buf[start - 4 : start])
    if first == 0x82:
        return stop, bytes(payload)
    try:
        return stop, payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


#: What reads a run of small continuation frames, in order of trial (see
#: wsproto_lite._runs; the compiled small_frames takes any run at once).
run_readers: tuple[RunReader, ...] = (equal_frames, small_frames)


class Receiver:
    """The receiving half of :class:`~wsproto_lite.connection.Connection`:
    frame decoding, reassembly, control frames and failing the connection.

    It owns the receive state; the slots it shares with the sending half
    (the state, the queue of bytes to send, the queued handshake events,
    whether the transport should close, the extension sessions) are
    declared and set up here too.
    """

    __slots__ = (
        "_client",
        "_close_now",
        "_eof",
        "_events",
        "_expect_mask",
        "_head",
        "_inbuf",
        "_msg",
        "_out",
        "_partial",
        "_partial_fin",
        "_partial_key",
        "_partial_opcode",
        "_partial_rsv",
        "_pos",
        "_rsv_allowed",
        "_sessions",
        "_state",
        "_timers",
        "auto_reply",
    )

    def __init__(
        self,
        client: bool,
        max_message_size: int | None,
        max_frame_size: int | None,
        auto_reply: bool,
        stream_messages: bool,
        timers: Timers,
    ) -> None:
        self.auto_reply = auto_reply
        self._timers = timers  # keepalive pings await their pongs here
        self._client = client
        # A server receives masked frames only, a client unmasked ones (5.1):
        # the MASK bit to expect, and the shortest header of a frame.
        self._expect_mask = 0 if client else 0x80
        self._head = 2 if client else 6
        self._state = ConnectionState.CONNECTING
        self._close_now = False  # the transport should close (see should_close_transport)
        self._events: list[Event] = []  # handshake events, waiting for events()
        self._out: list[bytes] = []  # bytes produced while receiving: replies, close frames
        # What arrived and is not read yet, from _pos on: a bytearray, or the
        # caller's bytes while nothing else is buffered (see _buffer).
        self._inbuf: bytes | bytearray = bytearray()
        self._pos = 0  # where the next frame starts in _inbuf
        self._eof = False  # the stream ended; reported once the buffer is read
        # The data frame being read piece by piece: payload bytes still to
        # come (0 for none), masking key turned to the next byte, FIN, and
        # the opcode and RSV bits its first piece carries.
        self._partial = 0
        self._partial_key = b""
        self._partial_fin = False
        self._partial_opcode = 0
        self._partial_rsv = 0
        self._sessions: tuple[ExtensionSession, ...] = ()
        self._rsv_allowed = 0  # the RSV bits the negotiated extensions claim
        self._msg = Assembler(max_message_size, max_frame_size, stream_messages)

    # The limits and the streaming mode belong to the message assembler.

    @property
    def max_message_size(self) -> int | None:
        """The largest message accepted, in bytes after decompression."""
        return self._msg.max_message

    @max_message_size.setter
    def max_message_size(self, value: int | None) -> None:
        self._msg.set_limits(value, self._msg.max_frame)

    @property
    def max_frame_size(self) -> int | None:
        """The largest frame payload accepted, in bytes after decompression."""
        return self._msg.max_frame

    @max_frame_size.setter
    def max_frame_size(self, value: int | None) -> None:
        self._msg.set_limits(self._msg.max_message, value)

    @property
    def stream_messages(self) -> bool:
        """Whether messages are reported in pieces as their frames arrive."""
        return self._msg.stream

    @stream_messages.setter
    def stream_messages(self, value: bool) -> None:
        self._msg.stream = value

    def _buffer(self, data: bytes | bytearray | memoryview) -> None:
        """Add what arrived to the receive buffer.  When everything before it
        has been read, a ``bytes`` object becomes the buffer itself rather
        than being copied into one (it cannot change under us): a large
        message is then copied once less."""
        buf = self._inbuf
        pos = self._pos
        if pos == len(buf):
            self._inbuf = data if type(data) is bytes else bytearray(data)
        elif isinstance(buf, bytes):
            self._inbuf = bytearray(memoryview(buf)[pos:])
            self._inbuf += data
        else:
            del buf[:pos]
            buf += data
        self._pos = 0

    def _use_sessions(self, sessions: tuple[ExtensionSession, ...]) -> None:
        """The extensions negotiated in the handshake decode what follows."""
        self._sessions = sessions
        self._msg.sessions = sessions
        for session in sessions:
            self._rsv_allowed |= session.rsv

    # -- Time: what waits for the peer ---------------------------------------------

    @property
    def latency(self) -> float | None:
        """The round-trip time of the last keepalive ping, in seconds of the
        caller's clock (``None`` before the first pong)."""
        return self._timers.latency

    def get_timer(self) -> float | None:
        """When the connection next needs :meth:`handle_timer`, on the
        caller's clock, or ``None`` for never (no timeout is set, or none
        applies in this state, or no time was told yet)."""
        return self._timers.next(self._state, self._waiting_for_eof())

    def handle_timer(self, now: float) -> None:
        """Tell the connection the time; do what is due by then.

        Sends the keepalive ping that is due (write :meth:`data_to_send`),
        fails the connection with 1011 when a pong is late, and gives up on
        an opening or closing handshake that took too long: then
        :attr:`should_close_transport` is true, and :meth:`events` reports
        a ``Close`` (1006; 1011 for the missing pong).  Call it once when
        the connection is made, and again whenever :meth:`get_timer`'s time
        comes (or earlier: nothing happens before a deadline).

        :param now: the time on the caller's clock (``loop.time()``,
            ``trio.current_time()``, ``time.monotonic()``), in seconds.
        """
        timers = self._timers
        state = self._state
        self._tell(now)
        deadline = timers.next(state, self._waiting_for_eof())
        if deadline is None or now < deadline:
            return
        if state is ConnectionState.OPEN:
            if timers.ping_payload is None:
                self._out.append(encode_frame(PING, timers.ping(), mask=self._client))
            else:
                error = RemoteProtocolError("keepalive ping timeout", code=1011)
                self._events.append(self._fail(error, wire_reason=error.reason))
            return
        self._close_now = True
        if state is not ConnectionState.CLOSED:  # a client's wait for the server's TCP close ends silently
            self._state = TIMED_OUT[state]
            self._release()
            closing = state is ConnectionState.LOCAL_CLOSING or state is ConnectionState.REMOTE_CLOSING
            what = "closing" if closing else "opening"
            self._events.append(Close(1006, f"the {what} handshake timed out"))

    def _tell(self, now: float) -> None:
        """The caller said the time: the timers learn it, with the state."""
        self._timers.tell(now, self._state, self._waiting_for_eof())

    def _waiting_for_eof(self) -> bool:
        """A client that closed cleanly, waiting for the server to close TCP."""
        return self._state is ConnectionState.CLOSED and not self._close_now

    def events(self) -> Iterator[Event]:
        """Yield the events of the data received so far, oldest first.

        Frames are decoded as the iterator advances, so what the caller sends
        in answer to one event goes out before anything the connection does
        about the frames after it (a valid message is answered even if the
        peer's next frame fails the connection).  After the loop, write what
        :meth:`data_to_send` returns.
        """
        queued = self._events  # the handshake's, queued as it was received
        while queued:
            yield queued.pop(0)
        msg = self._msg
        expect_mask = self._expect_mask
        head = self._head
        runs = not msg.stream
        fast_limit = msg.whole_frame
        # The state is checked again after every event: the caller may have
        # sent a Close in between.
        while self._state in RECEIVING:
            buf = self._inbuf  # receive_data() may have replaced it since the last event
            pos = self._pos
            end = len(buf)
            # The whole-frame fast path (see the module docstring).  While a
            # message is under way (or a frame's payload, which starts one)
            # every frame goes the general way.
            if not msg.opcode:
                taken = whole_frame(buf, pos, end, head, expect_mask, fast_limit)
                if taken is not None:
                    self._pos, data = taken
                    yield whole_message(data)
                    continue
            try:
                event = self._next_event(buf, pos, end, runs)
            except RemoteProtocolError as error:
                event = self._fail(error)
            if event is _MORE:
                break
            if event is not None:
                yield event
        if self._eof:
            yield from self._stream_ended()

    def _next_event(self, buf: bytes | bytearray, pos: int, end: int, runs: bool) -> Event | _Wait | None:
        """The general path: take the next frame, or what arrived of it,
        and return its event (``None`` for none yet, ``_MORE`` when the
        buffer holds nothing more to take).  ``runs``: look for a run of
        small frames after a fragment (whole-message mode only)."""
        if self._partial:
            return self._take_partial(buf, pos, end) if pos < end else _MORE
        expect_mask = self._expect_mask
        header = read_header(buf, pos, end, expect_mask, self._rsv_allowed)
        if header is None:
            return _MORE
        first, length, key = header
        opcode = first & 0x0F
        rsv = first & RSV_BITS
        if opcode < CLOSE:
            self._msg.check(opcode, rsv, length)
        start = key + 4 if expect_mask else key
        stop = start + length
        if stop > end:
            if opcode >= CLOSE or start >= end:
                return _MORE  # control frames are read whole (at most 125 bytes)
            return self._start_partial(buf, first, length, key, start, end)
        payload = apply_mask(buf[start:stop], buf[key:start]) if expect_mask else buf[start:stop]
        self._pos = stop
        if opcode >= CLOSE:
            return self._control(opcode, bytes(payload))
        event = self._msg.add(opcode, payload, rsv, bool(first & 0x80))
        if event is None and runs and not self._msg.rsv and self._msg.opcode:
            return self._take_runs(buf, stop, end)
        return event

    def _start_partial(
        self, buf: bytes | bytearray, first: int, length: int, key: int, start: int, end: int
    ) -> Event | None:
        """Take what has come of a data frame's payload now (at least a
        byte), so that nothing is buffered whole and bad UTF-8 fails at
        once; _take_partial takes the rest as it arrives.  The message is
        then under way: while ``_partial`` is set, so is the assembler's
        opcode."""
        self._partial = length
        self._partial_key = bytes(buf[key:start])
        self._partial_fin = bool(first & 0x80)
        self._partial_opcode = first & 0x0F
        self._partial_rsv = first & RSV_BITS
        return self._take_partial(buf, start, end)

    def _take_partial(self, buf: bytes | bytearray, pos: int, end: int) -> Event | None:
        """Take what has arrived of the current data frame's payload."""
        n = min(end - pos, self._partial)
        key = self._partial_key
        payload: bytes | bytearray
        if key:
            with memoryview(buf) as view:
                payload = apply_mask(view[pos : pos + n], key)
            turn = n & 3
            self._partial_key = key[turn:] + key[:turn]
        else:
            payload = bytes(buf[pos : pos + n])
        self._pos = pos + n
        self._partial -= n
        opcode = self._partial_opcode
        self._partial_opcode = 0  # only the first piece starts a message
        return self._msg.add(opcode, payload, self._partial_rsv, self._partial_fin and not self._partial)

    def _take_runs(self, buf: bytes | bytearray, stop: int, end: int) -> Event | None:
        """After a fragment of an uncompressed message, take the small
        continuation frames that follow (see wsproto_lite._runs)."""
        msg = self._msg
        expect_mask = self._expect_mask
        head = self._head
        limit = msg.whole_frame
        small = limit if limit < MAX_CONTROL_PAYLOAD else MAX_CONTROL_PAYLOAD
        if end - stop < 2 or buf[stop + 1] ^ expect_mask > small:
            return None  # the next frame is not small (or not here): no run
        run_end = end if end - stop < _RUN else stop + _RUN
        event = None
        for reader in run_readers:
            run = reader(buf, stop, run_end, head, expect_mask, small, msg.budget())
            if run is not None:
                stop, data, fin = run
                self._pos = stop
                event = msg.add(CONTINUATION, data, 0, fin)
                if fin:
                    break
        return event

    def _stream_ended(self) -> tuple[Close, ...]:
        """After the frames: the end of the stream, if it came without a
        closing handshake (7.1.5).  (A tuple rather than a generator: making
        one costs a tenth of a small frame's decoding, on every events().)"""
        if self._state not in RECEIVING:
            return ()
        end = END_OF_STREAM[self._state, Role.CLIENT if self._client else Role.SERVER]
        assert end.close is not None
        self._state = end.next
        self._release()
        return (Close(1006, end.close),)

    def _fail(self, error: RemoteProtocolError, wire_reason: str = "") -> Close:
        """Fail the connection (RFC 6455, 7.1.7): queue a close frame with
        the error's code (and ``wire_reason``; a peer's protocol error is not
        explained to it) unless one was sent already, report it, stop."""
        failure = FAILED[self._state]
        if failure.close_frame:
            self._out.append(encode_frame(CLOSE, encode_close(error.code, wire_reason), mask=self._client))
        self._state = failure.next
        self._close_now = True
        self._release()
        return Close(error.code, error.reason)

    def _release(self) -> None:
        self._inbuf = bytearray()
        self._pos = 0
        self._partial = 0
        self._msg.clear()
        for session in self._sessions:
            session.close()

    def _control(self, opcode: int, payload: bytes) -> Event:
        """A control frame (5.5)."""
        if opcode == PING:
            if self.auto_reply and self._state in PING_ANSWERED:
                self._out.append(encode_frame(PONG, payload, mask=self._client))
            return Ping(payload)
        if opcode == PONG:
            self._timers.pong(payload)
            return Pong(payload)
        code, reason = decode_close(payload)
        received = CLOSE_RECEIVED[self._state, self.auto_reply]
        if received.reply:
            # Echo the code (5.5.1); no reason: the peer's is not ours to repeat.
            reply = b"" if code == NO_STATUS else encode_close(code, "")
            self._out.append(encode_frame(CLOSE, reply, mask=self._client))
        self._state = received.next
        if received.next is ConnectionState.CLOSED:
            self._release()
        return Close(code, reason, by_peer=True)
