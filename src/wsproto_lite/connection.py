"""The WebSocket connection: a state machine over bytes and events.

Theory of operation
-------------------
A :class:`Connection` never performs I/O.  The caller feeds it the bytes that
arrived (:meth:`receive_data`), takes the events they made
(:meth:`events`), writes the bytes the connection produced (the return value
of :meth:`send`, and :meth:`data_to_send` after each receive), and closes
the transport when :attr:`should_close_transport` says so.

Rules kept here:

* Frames are decoded inline in :meth:`events`, one per event, so the
  caller answers each event before the next frame is looked at.  Each header is
  checked against the state and the limits *before* the payload is buffered,
  so a frame that announces too much fails at once.
* What a peer does never raises out of :meth:`receive_data` once the
  handshake is done: a protocol violation fails the connection with a close
  code (1002, 1007, 1009, 1010), reported as a ``Close`` event with
  ``by_peer=False`` and a close frame queued in :meth:`data_to_send`.
* Every duty the RFC gives an endpoint is done here: reassembly, UTF-8
  checks, pong replies, close replies (the last two unless
  ``auto_reply=False``).

The states (see ``docs/states.md`` for the whole table):

``CONNECTING``
    Until the handshake ends.  Server: ``Accept`` moves to ``OPEN``,
    ``Reject`` to ``REJECTING`` (``has_body=True``) or ``CLOSED``.  Client:
    receiving ``Accept`` moves to ``OPEN``, ``Reject`` to ``REJECTING``.
``OPEN``
    Messages flow both ways.
``LOCAL_CLOSING``
    We sent a close frame and wait for the peer's.
``REMOTE_CLOSING``
    The peer sent a close frame and we have not answered yet (only with
    ``auto_reply=False``; otherwise the reply is queued at once).
``REJECTING``
    A rejection's body is on its way.
``CLOSED``
    Both close frames went by, the connection was failed, the stream ended,
    or the rejection is complete.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterator, Sequence

from .errors import LocalProtocolError, RemoteProtocolError
from .events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request
from .extensions import DeflateSession, Extension, ExtensionSession
from .frames import (
    _LANES_FROM,
    _PIECE,
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_CONTROL_PAYLOAD,
    NO_STATUS,
    PING,
    PONG,
    REPEAT_KEY,
    RSV1,
    RSV_BITS,
    SMALL_HEADERS,
    TEXT,
    TRUNCATE,
    apply_mask,
    decode_close,
    encode_close,
    encode_frame,
    mask_key,
    mask_lanes,
)
from .handshake import ClientHandshake, ServerHandshake

__all__ = ["Connection", "ConnectionState", "Role"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# Building a Message through its slots skips the frozen dataclass's
# __init__, which costs more than the rest of a small frame's decoding.
_new = object.__new__
_set_data = Message.__dict__["data"].__set__
_set_finished = Message.__dict__["message_finished"].__set__


class Role(enum.Enum):
    """Which end of the connection this is."""

    CLIENT = "client"
    SERVER = "server"


class ConnectionState(enum.Enum):
    """Where the connection is in its life (RFC 6455, sections 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    REMOTE_CLOSING = 2
    LOCAL_CLOSING = 3
    CLOSED = 4
    REJECTING = 5


_SENDING = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
_MESSAGES = ("Message", "Ping", "Pong", "Close")
_RECEIVING = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)


class Connection:
    """One WebSocket connection, client or server side.

    :param role: ``Role.CLIENT`` or ``Role.SERVER``.
    :param max_message_size: the largest message accepted, in bytes (after
        decompression); a larger one fails the connection with 1009 as soon
        as a frame header announces it.  ``None`` for no limit.
    :param max_frame_size: the same for a single frame's payload; ``None``
        (the default) leaves only the message limit.
    :param max_handshake_size: the largest HTTP head accepted in the opening
        handshake; a server answers a larger one with 431.
    :param auto_reply: answer pings with pongs and close frames with close
        frames automatically (the default).  Switched off, the caller sends
        ``Pong`` and ``Close`` itself.
    :param stream_messages: report each received frame's data as soon as it
        is complete, as ``Message(..., message_finished=False)`` pieces,
        instead of whole messages.
    :param extensions: server only: the extensions to negotiate when an
        ``Accept`` names none (for example ``[PerMessageDeflate()]``).
    """

    __slots__ = (
        "_client",
        "_close_now",
        "_decoder",
        "_deflate",
        "_eof",
        "_events",
        "_handshake",
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
        "_request_sent",
        "_rsv_allowed",
        "_send_opcode",
        "_sessions",
        "_state",
        "_supported",
        "auto_reply",
        "max_frame_size",
        "max_message_size",
        "role",
        "stream_messages",
        "subprotocol",
    )

    def __init__(
        self,
        role: Role,
        *,
        max_message_size: int | None = 2**20,
        max_frame_size: int | None = None,
        max_handshake_size: int = 16 * 1024,
        auto_reply: bool = True,
        stream_messages: bool = False,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.role = role
        self.max_message_size = max_message_size
        self.max_frame_size = max_frame_size
        self.auto_reply = auto_reply
        self.stream_messages = stream_messages
        self._supported = tuple(extensions)
        self._client = role is Role.CLIENT
        self._handshake: ClientHandshake | ServerHandshake | None = (
            ClientHandshake(max_handshake_size) if self._client else ServerHandshake(max_handshake_size)
        )
        self._state = ConnectionState.CONNECTING
        self._request_sent = False
        self._close_now = False
        self._events: list[Event] = []  # handshake events, waiting for events()
        self._out: list[bytes] = []
        self._inbuf = bytearray()
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
        #: The negotiated subprotocol, once the handshake is done.
        self.subprotocol: str | None = None
        self._sessions: tuple[ExtensionSession, ...] = ()
        self._deflate: DeflateSession | None = None  # the send fast path's one session
        self._rsv_allowed = 0
        # The message being received: its opcode (0 for none), pieces, size,
        # RSV bits of its first frame, and the UTF-8 decoder of a text one.
        self._msg_opcode = 0
        self._msg_parts: list[bytes] | list[str] = []
        self._pending: list[bytes] = []  # text pieces of the fast path, not yet decoded
        self._msg_size = 0
        self._msg_rsv = 0
        self._decoder: codecs.IncrementalDecoder | None = None  # made for the first fragmented text
        # The opcode of the message being sent in fragments (0 for none).
        self._send_opcode = 0

    # -- What an adapter reads ------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._state

    @property
    def extensions(self) -> tuple[ExtensionSession, ...]:
        """The sessions of the extensions negotiated in the handshake."""
        return self._sessions

    @property
    def should_close_transport(self) -> bool:
        """Whether the caller should now close the TCP connection (after
        writing what :meth:`data_to_send` returns).

        A server closes as soon as the state is ``CLOSED`` (RFC 6455, 7.1.1:
        the server closes first).  A client waits for the server to close
        (``receive_data(None)``) after a clean closing handshake, and closes
        at once when the connection failed, the stream ended or the
        handshake was rejected.  A client should also close if the server
        has not closed within a timeout of its choice.
        """
        return self._state is ConnectionState.CLOSED and (not self._client or self._close_now)

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
        # Whole frames of at most 125 bytes with no limit below that, in
        # whole-message mode, take the fast path below.
        head = 6 if expect_mask else 2
        fast = not self.stream_messages
        fast_limit = min((x for x in (max_message, self.max_frame_size) if x is not None), default=0xFFFF)
        # The state is checked again after every event: the caller may have
        # sent a Close in between.
        while self._state in _RECEIVING:
            pos = self._pos
            end = len(buf)
            event: Event | None
            # The fast path: an unfragmented, uncompressed text or binary
            # frame of at most 125 bytes, whole in the buffer, while no
            # fragmented message is open.  Everything else, errors included,
            # goes the general way below.
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
                            key = int.from_bytes(buf[start - 4 : start], "little") * REPEAT_KEY[length]
                            payload = (
                                (int.from_bytes(buf[start:stop], "little") ^ key) & TRUNCATE[length]
                            ).to_bytes(length, "little")
                        else:
                            payload = apply_mask(buf[start:stop], bytes(buf[start - 4 : start]))
                        self._pos = stop
                        data: str | bytes = payload
                        if not whole:
                            # A piece of a fragmented message: kept as it is;
                            # text is checked when the pieces are flushed.
                            pieces: list[bytes] = (
                                self._pending if self._msg_opcode == TEXT else self._msg_parts  # type: ignore[assignment]
                            )
                            append = pieces.append
                            append(payload)
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
                            while not finished and end - stop >= head and len(datas) < 1024:
                                first = buf[stop]
                                second = buf[stop + 1]
                                length = second & 0x7F
                                start = stop + head
                                if (
                                    (first != 0x00 and first != 0x80)
                                    or (second & 0x80) != expect_mask
                                    or length > MAX_CONTROL_PAYLOAD
                                    or start + length > end
                                    or length > fast_limit
                                    or (max_message is not None and size + length > max_message)
                                ):
                                    break
                                if expect_mask:
                                    keys.append((buf[stop + 2 : start] * 32)[:length])
                                stop = start + length
                                datas.append(buf[start:stop])
                                size += length
                                finished = first == 0x80
                            if datas:
                                run = b"".join(datas)
                                if expect_mask:
                                    stream = int.from_bytes(b"".join(keys), "little")
                                    run = (int.from_bytes(run, "little") ^ stream).to_bytes(
                                        len(run), "little"
                                    )
                                append(run)
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
                        _set_data(message, data)
                        _set_finished(message, True)
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
                    length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
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
                        size = self._msg_size + length
                    elif self._msg_opcode:
                        raise RemoteProtocolError("new data frame inside a fragmented message (5.4)")
                    else:
                        size = length
                    if max_message is not None and size > max_message:
                        raise RemoteProtocolError(
                            f"message exceeds the limit of {max_message} bytes", code=1009
                        )
                    if self.max_frame_size is not None and length > self.max_frame_size:
                        raise RemoteProtocolError(
                            f"frame exceeds the limit of {self.max_frame_size} bytes", code=1009
                        )
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
        if self._eof and self._state in _RECEIVING:
            self._state = ConnectionState.CLOSED
            self._release()
            yield Close(1006, "the stream ended without a closing handshake")

    def data_to_send(self) -> bytes:
        """The bytes the connection produced on its own while its events were
        read: pongs, close replies, the close frame of a failed connection."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    # -- Receiving ------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview | None) -> None:
        """Feed bytes that arrived from the peer; ``None`` means the stream ended.

        Then read :meth:`events`: frames are decoded there.  During the
        opening handshake, a request or response that is not a valid
        WebSocket handshake raises :class:`RemoteProtocolError`; on a server
        it carries the ``status_code`` and ``headers`` to answer with (send
        them as a :class:`Reject`).  After the handshake nothing the peer
        does raises: see :class:`~wsproto_lite.events.Close`.
        """
        state = self._state
        if data is None:
            self._receive_eof(state)
        elif state in _RECEIVING:
            if self._pos:
                del self._inbuf[: self._pos]
                self._pos = 0
            self._inbuf += data
        elif state is ConnectionState.CONNECTING or state is ConnectionState.REJECTING:
            if self._client and not self._request_sent:
                raise LocalProtocolError(
                    "cannot receive data in state CONNECTING (client) before the Request is sent; "
                    "send Request first"
                )
            self._receive_handshake(bytes(data))
        # After CLOSED, or once the peer's close frame arrived, nothing the
        # peer sends has meaning; it is dropped.

    def _receive_handshake(self, data: bytes) -> None:
        handshake = self._handshake
        assert handshake is not None
        try:
            events = handshake.receive_data(data)
        except RemoteProtocolError as error:
            if not self._client:
                raise
            self._state = ConnectionState.CLOSED
            self._close_now = True
            if error.code != 1010:
                raise
            # A valid 101 with extensions we cannot accept: the server thinks
            # the connection is open, so fail it with a close frame (1010).
            self._out.append(encode_frame(CLOSE, encode_close(1010, ""), mask=True))
            events = [Close(1010, error.reason)]
        for event in events:
            self._events.append(event)
            if isinstance(event, Accept):
                assert isinstance(handshake, ClientHandshake)
                self._open(handshake.subprotocol, handshake.sessions, handshake.trailing)
            elif isinstance(event, Reject):
                self._state = ConnectionState.REJECTING
            elif isinstance(event, RejectData) and event.body_finished:
                self._state = ConnectionState.CLOSED
                self._close_now = True

    def _open(self, subprotocol: str | None, sessions: list[ExtensionSession], trailing: bytes) -> None:
        """The handshake succeeded; frames that came with it wait for events()."""
        self._state = ConnectionState.OPEN
        self._handshake = None  # h11's state is not needed any more
        self.subprotocol = subprotocol
        self._sessions = tuple(sessions)
        if len(sessions) == 1 and isinstance(sessions[0], DeflateSession) and sessions[0].compresses:
            self._deflate = sessions[0]
        for session in sessions:
            self._rsv_allowed |= session.rsv
        self._inbuf += trailing

    def _receive_eof(self, state: ConnectionState) -> None:
        self._close_now = True
        if state in _RECEIVING:
            # Reported by events(), after the frames that came before it.
            self._eof = True
        elif state is ConnectionState.REMOTE_CLOSING:
            self._state = ConnectionState.CLOSED
            self._release()
        elif state is not ConnectionState.CLOSED:
            if state is ConnectionState.REJECTING and self._client:
                # A rejection body delimited by the end of the stream ends here.
                try:
                    self._receive_handshake(b"")
                except RemoteProtocolError:
                    self._events.append(Close(1006, "the stream ended inside the rejection's body"))
            else:
                self._events.append(Close(1006, "the stream ended during the opening handshake"))
            self._state = ConnectionState.CLOSED

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
        elif n < _LANES_FROM or n > _PIECE:
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
        self._msg_parts.append(self._decode_text(data, final))  # type: ignore[arg-type]

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
        parts.append(piece)
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

    # -- Sending --------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """The bytes to write for ``event``, after any automatic replies
        still pending, so the order on the wire is always right.

        Raises :class:`LocalProtocolError` for an event the current state
        does not allow; the message says what to do instead.
        """
        if type(event) is Message:
            data = self._send_message(event)
        elif type(event) is Ping or type(event) is Pong:
            data = self._send_control(event)
        elif type(event) is Close:
            data = self._send_close(event)
        else:
            data = self._send_handshake(event)
        if self._out:
            data = self.data_to_send() + data
        return data

    def _allowed(self) -> tuple[tuple[str, ...], str]:
        """What may be sent in the current state, and why nothing else may."""
        state = self._state
        if state in _SENDING:
            if state is ConnectionState.OPEN:
                return _MESSAGES, "the handshake is over"
            return _MESSAGES, "the peer closed; finish what you were sending and answer with Close"
        if state is ConnectionState.CONNECTING:
            handshake = self._handshake
            if isinstance(handshake, ClientHandshake):
                if self._request_sent:
                    return (
                        (),
                        "the handshake is not done; wait for the server's Accept or Reject from events()",
                    )
                return ("Request",), "a client starts the handshake with Request"
            assert handshake is not None
            if handshake.failed:
                return ("Reject",), "the Request was invalid; answer with the Reject its error suggests"
            if handshake.request is None:
                return ("Reject",), "the handshake is not done; wait for the Request from events()"
            return ("Accept", "Reject"), "the handshake is not done; answer the Request first"
        if state is ConnectionState.LOCAL_CLOSING:
            return (), "a Close was already sent; wait for the peer's Close"
        if state is ConnectionState.REJECTING:
            if self._client:
                return (), "the server rejected the handshake; read its RejectData events"
            return ("RejectData",), "the handshake was rejected; only the rest of its body may follow"
        return (), "the connection is closed; open a new one"

    def _refuse(self, what: str) -> LocalProtocolError:
        """The error for sending ``what`` now: it names the state and what
        may be sent instead."""
        allowed, why = self._allowed()
        instead = ", ".join(allowed) or "nothing"
        return LocalProtocolError(
            f"cannot send {what} in state {self._state.name} ({self.role.value}): {why}; "
            f"allowed now: {instead}"
        )

    def _send_message(self, event: Message) -> bytes:
        if self._state not in _SENDING:
            raise self._refuse("Message")
        data = event.data
        if isinstance(data, str):
            opcode = TEXT
            payload = data.encode("utf-8")
        else:
            opcode = BINARY
            payload = data
        if self._send_opcode:
            if opcode != self._send_opcode:
                raise LocalProtocolError(
                    "every piece of a fragmented message must have the type of the first "
                    f"({'str' if self._send_opcode == TEXT else 'bytes'})"
                )
            frame_opcode = CONTINUATION
        else:
            frame_opcode = opcode
        fin = event.message_finished
        deflate = self._deflate
        if deflate is not None and fin and not self._send_opcode:
            # The common compressed case: one permessage-deflate session and a
            # whole message, framed here without the general path's calls.
            payload = deflate.compress_message(payload)
            n = len(payload)
            if n < 126 and not self._client:
                return SMALL_HEADERS[opcode | 0xC0][n] + payload
            return encode_frame(opcode, payload, True, RSV1, self._client)
        n = len(payload)
        if n < 126 and fin and not self._send_opcode and not self._sessions:
            # The common case: a small unfragmented, uncompressed message.
            if self._client:
                key = mask_key()
                masked = (
                    int.from_bytes(payload, "little") ^ int.from_bytes(key, "little") * REPEAT_KEY[n]
                ) & TRUNCATE[n]
                return SMALL_HEADERS[opcode | 0x80][n + 0x80] + key + masked.to_bytes(n, "little")
            return SMALL_HEADERS[opcode | 0x80][n] + payload
        rsv = 0
        if self._sessions:
            first = not self._send_opcode
            for session in self._sessions:
                payload, bits = session.encode(payload, first, fin)
                rsv |= bits
        self._send_opcode = 0 if fin else opcode
        return encode_frame(frame_opcode, payload, fin, rsv, self._client)

    def _send_control(self, event: Ping | Pong) -> bytes:
        name = type(event).__name__
        if self._state not in _SENDING:
            raise self._refuse(name)
        if len(event.payload) > MAX_CONTROL_PAYLOAD:
            raise LocalProtocolError(
                f"a {name} payload is at most {MAX_CONTROL_PAYLOAD} bytes (RFC 6455, 5.5), "
                f"not {len(event.payload)}"
            )
        return encode_frame(PING if name == "Ping" else PONG, event.payload, mask=self._client)

    def _send_close(self, event: Close) -> bytes:
        state = self._state
        if state not in _SENDING:
            raise self._refuse("Close")
        payload = encode_close(event.code, event.reason)
        if state is ConnectionState.OPEN:
            self._state = ConnectionState.LOCAL_CLOSING
        else:
            self._state = ConnectionState.CLOSED
            self._release()
        return encode_frame(CLOSE, payload, mask=self._client)

    def _send_handshake(self, event: Event) -> bytes:
        if not isinstance(event, Request | Accept | Reject | RejectData):
            raise LocalProtocolError(f"{event!r} is not an event; see wsproto_lite.events")
        name = type(event).__name__
        if name not in self._allowed()[0]:
            raise self._refuse(name)
        handshake = self._handshake
        if isinstance(event, Request):
            assert isinstance(handshake, ClientHandshake)
            self._request_sent = True
            return handshake.send_request(event)
        assert isinstance(handshake, ServerHandshake)
        if isinstance(event, Accept):
            data, sessions = handshake.accept(event, self._supported)
            self._open(event.subprotocol, sessions, handshake.trailing)
            return data
        if isinstance(event, Reject):
            data = handshake.reject(event)
            self._state = ConnectionState.REJECTING if event.has_body else ConnectionState.CLOSED
            return data
        assert isinstance(event, RejectData)
        data = handshake.reject_data(event)
        if event.body_finished:
            self._state = ConnectionState.CLOSED
        return data
