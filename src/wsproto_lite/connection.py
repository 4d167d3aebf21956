"""The WebSocket connection: a state machine over bytes and events.

Theory of operation
-------------------
A :class:`Connection` never performs I/O.  The caller feeds it the bytes that
arrived (:meth:`receive_data`), takes the events they made
(:meth:`events`), writes the bytes the connection produced (the return value
of :meth:`send`, and :meth:`data_to_send` after each receive), and closes
the transport when :attr:`should_close_transport` says so.

The connection is split in two halves: this module has the handshake,
sending and the state an adapter reads; :mod:`wsproto_lite._receiving` has
the decoding of frames into events, which :class:`Connection` inherits.
Rules kept by both:

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

The states; every move between them is an entry of the tables in
:mod:`wsproto_lite._states`, which :class:`Connection` looks up rather
than decides (``docs/topics/states.md`` has the tables, generated from them):

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

from collections.abc import Iterable, Sequence
from typing import TypedDict, Unpack

from ._frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MAX_CONTROL_PAYLOAD,
    PING,
    PONG,
    RSV1,
    SMALL_HEADERS,
    TEXT,
    encode_close,
    encode_frame,
    mask_key,
    message_frame,
    utf8,
)
from ._handshake import ClientHandshake, ServerHandshake
from ._receiving import Receiver
from ._states import (
    CLOSE_SENT,
    END_OF_STREAM,
    ENDING,
    HANDSHAKE_RECEIVED,
    OPENED,
    RECEIVING,
    SEND,
    SENDING,
    ConnectionState,
    Phase,
    Role,
    Sendable,
)
from ._timers import Timers
from .errors import ConnectionClosedError, InvalidEventError, LocalProtocolError, RemoteProtocolError
from .events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request
from .extensions import DeflateSession, Extension, ExtensionSession

__all__ = ["Connection", "ConnectionState", "Options", "Role"]

_HANDSHAKE_EVENTS = (Request, Accept, Reject, RejectData)


class Options(TypedDict, total=False):
    """The constructor's keywords that :meth:`Connection.opened` passes on."""

    max_message_size: int | None
    max_frame_size: int | None
    max_handshake_size: int
    auto_reply: bool
    stream_messages: bool
    ping_interval: float | None
    ping_timeout: float | None
    close_timeout: float | None
    open_timeout: float | None


class Connection(Receiver):
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
    :param extensions: the extensions to negotiate (for example
        ``[PerMessageDeflate()]``): a server accepts them when its
        ``Accept`` names none, a client offers them when its ``Request``
        names none.
    :param ping_interval: send a keepalive ping this many seconds after the
        connection opened, and again this many seconds after the previous
        ping was sent, once its pong has arrived (see :meth:`handle_timer`).
    :param ping_timeout: fail the connection with 1011 when a keepalive
        ping has no pong after this many seconds.
    :param close_timeout: give up on a closing handshake after this many
        seconds (and, on a client, on waiting for the server to close TCP):
        the connection is then ``CLOSED`` and
        :attr:`should_close_transport` true.
    :param open_timeout: give up on an opening handshake that is not done
        after this many seconds, counted from the first time told.
    :raises ValueError: for a timeout that is not above 0 (the four are
        seconds of the caller's own clock, and off unless set).
    """

    __slots__ = (
        "_deflate",
        "_handshake",
        "_request_sent",
        "_send_opcode",
        "_supported",
        "role",
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
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
        close_timeout: float | None = None,
        open_timeout: float | None = None,
    ) -> None:
        timers = Timers(ping_interval, ping_timeout, close_timeout, open_timeout)
        super().__init__(
            role is Role.CLIENT, max_message_size, max_frame_size, auto_reply, stream_messages, timers
        )
        self.role = role
        self._supported = tuple(extensions)
        self._handshake: ClientHandshake | ServerHandshake | None = (
            ClientHandshake(max_handshake_size) if self._client else ServerHandshake(max_handshake_size)
        )
        self._request_sent = False
        #: The negotiated subprotocol, once the handshake is done.
        self.subprotocol: str | None = None
        # The opcode of the message being sent in fragments (0 for none).
        self._send_opcode = 0
        self._deflate: DeflateSession | None = None  # the one session of _send_compressed

    @classmethod
    def opened(
        cls,
        role: Role,
        *,
        subprotocol: str | None = None,
        extensions: Sequence[ExtensionSession] = (),
        **options: Unpack[Options],
    ) -> Connection:
        """A connection already in ``OPEN``, for a host that did the opening
        handshake itself: a WebSocket over an HTTP/2 or HTTP/3 stream
        (RFC 8441, RFC 9220), a proxy, a server with its own HTTP parser.

        :param role: the side of the connection, as for the constructor.
        :param subprotocol: the subprotocol the handshake chose, or ``None``.
        :param extensions: the negotiated sessions, from
            :func:`~wsproto_lite.extensions.negotiate` (server) or
            :func:`~wsproto_lite.extensions.finalize` (client), in the order
            of the answer.
        :param options: any keyword the constructor takes (the limits,
            ``auto_reply``, ``stream_messages``...), meaning the same.

        :raises LocalProtocolError: for a subprotocol that is not a ``str``,
            something that is not a session, or two sessions that claim the
            same RSV bit.
        """
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise LocalProtocolError(f"the subprotocol is a str or None, not {subprotocol!r}")
        claimed = 0
        for session in extensions:
            if not isinstance(session, ExtensionSession):
                raise LocalProtocolError(
                    f"Connection.opened takes negotiated sessions (from extensions.negotiate or "
                    f"extensions.finalize), not {session!r}"
                )
            if session.rsv & claimed:
                raise LocalProtocolError(f"two sessions claim the RSV bits {session.rsv & claimed:#x}")
            claimed |= session.rsv
        conn = cls(role, **options)
        conn._state = OPENED
        conn._open(subprotocol, list(extensions))
        return conn

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

    def data_to_send(self) -> bytes:
        """The bytes the connection produced on its own while its events were
        read: pongs, close replies, the close frame of a failed connection."""
        out = b"".join(self._out)
        self._out.clear()
        return out

    # -- Receiving ------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview | None, now: float | None = None) -> None:
        """Feed bytes that arrived from the peer; ``b""`` (or ``None``) means
        the stream ended, as ``socket.recv``, asyncio and trio say it.

        Then read :meth:`events`: frames are decoded there.  During the
        opening handshake, a request or response that is not a valid
        WebSocket handshake raises :class:`RemoteProtocolError`; on a server
        it carries the ``status_code`` and ``headers`` to answer with (send
        them as a :class:`Reject`).  After the handshake nothing the peer
        does raises: see :class:`~wsproto_lite.events.Close`.

        :param data: the bytes read (``bytes``, ``bytearray``, ``memoryview``),
            or ``b""`` or ``None`` for the end of the stream (again: ignored).
        :param now: the time on the caller's clock: it makes the round trip
            of a keepalive ping (:attr:`latency`) and the deadlines that the
            frames start exact (see :meth:`handle_timer`).
        :raises RemoteProtocolError: for an invalid handshake from the peer
            (only during the opening handshake).
        :raises LocalProtocolError: for data after the end of the stream, or
            data on a client that has not sent its :class:`Request`.
        """
        if now is not None:
            self._tell(now)
        state = self._state
        if not data:
            self._receive_eof(state)
        elif self._eof:
            raise LocalProtocolError(
                "cannot receive data after the end of the stream (receive_data(b'') or None); "
                "a connection ends with its stream: open a new one"
            )
        elif state in RECEIVING:
            self._buffer(data)
        elif self._client:
            if state is ConnectionState.CONNECTING or state is ConnectionState.REJECTING:
                if not self._request_sent:
                    raise LocalProtocolError(
                        "cannot receive data in state CONNECTING (client) before the Request is sent; "
                        "send Request first"
                    )
                self._receive_handshake(bytes(data))
        elif state is ConnectionState.CONNECTING:
            handshake = self._handshake
            assert isinstance(handshake, ServerHandshake)
            if handshake.request is not None:
                # Frames sent before our answer: kept for once the connection
                # is open, however TCP cut them from the request.
                self._inbuf += data
            elif not handshake.failed:
                self._receive_handshake(bytes(data))
        # After CLOSED, once the peer's close frame arrived, while a server
        # rejects, or after an invalid request, nothing the peer sends has
        # meaning; it is dropped.

    def receive_request(
        self,
        method: bytes | str,
        target: bytes | str,
        headers: Iterable[tuple[bytes | str, bytes | str]],
        *,
        http_version: bytes | str = "1.1",
    ) -> None:
        """Server: start the handshake from a request that another HTTP
        parser already read (a server's own parser, ASGI's scope), instead
        of its bytes.

        The request gets the checks of RFC 6455, 4.2.1, exactly as on the
        wire: :meth:`events` then reports the :class:`Request`, answered
        with ``send(Accept())`` (which returns the 101 response) or
        ``send(Reject(...))``.  An invalid request raises
        :class:`RemoteProtocolError` with the ``status_code`` and
        ``headers`` to answer with, as :meth:`receive_data` does.  Bytes
        that came after the request's head (frames a client sent early)
        are passed to :meth:`receive_data` as usual.

        :param method: the request's method (``GET``; anything else is
            answered with 405).
        :param target: the request target, as it came (path and query).
        :param headers: ``(name, value)`` pairs of ``bytes`` or ``str``, as
            h11 and ASGI give them; ``str`` is read as Latin-1.
        :param http_version: the request's HTTP version (``"1.1"``; any
            other is answered with 400).
        :raises RemoteProtocolError: for an invalid request.
        :raises LocalProtocolError: on a client, or once a request was
            received.
        """
        handshake = self._handshake
        if not isinstance(handshake, ServerHandshake) or self._phase() is not Phase.NO_REQUEST:
            raise LocalProtocolError(
                f"receive_request is for a server that has not received a request; this is a "
                f"{self.role.value} in state {self._state.name}"
                + (" that has one" if isinstance(handshake, ServerHandshake) else "")
            )
        for event in handshake.receive_request(method, target, headers, http_version):
            self._events.append(event)

    def _receive_handshake(self, data: bytes) -> None:
        handshake = self._handshake
        assert handshake is not None
        try:
            events = handshake.receive_data(data)
        except RemoteProtocolError as error:
            self._state = HANDSHAKE_RECEIVED[self.role, RemoteProtocolError]
            if not self._client:
                raise
            self._close_now = True
            if error.code != 1010:
                raise
            # A valid 101 with extensions we cannot accept: the server thinks
            # the connection is open, so fail it with a close frame (1010).
            self._out.append(encode_frame(CLOSE, encode_close(1010, ""), mask=True))
            self._events.append(Close(1010, error.reason))
            return
        for event in events:
            self._events.append(event)
            kind = (RejectData, event.body_finished) if isinstance(event, RejectData) else type(event)
            self._state = HANDSHAKE_RECEIVED[self.role, kind]
            if isinstance(event, Request):
                self._inbuf += handshake.trailing
            elif isinstance(event, Accept):
                assert isinstance(handshake, ClientHandshake)
                self._inbuf += handshake.trailing
                self._open(handshake.subprotocol, handshake.sessions)
            elif self._state is ConnectionState.CLOSED:
                self._close_now = True  # the rejection is complete

    def _open(self, subprotocol: str | None, sessions: list[ExtensionSession]) -> None:
        """The handshake succeeded (the caller set the state); frames that
        came with it wait in the receive buffer for events()."""
        self._handshake = None  # h11's state is not needed any more
        self.subprotocol = subprotocol
        self._use_sessions(tuple(sessions))
        if len(sessions) == 1 and isinstance(sessions[0], DeflateSession) and sessions[0].compresses:
            self._deflate = sessions[0]

    def _receive_eof(self, state: ConnectionState) -> None:
        if self._eof:
            return  # reported already
        self._eof = True
        self._close_now = True
        if state in RECEIVING:
            return  # reported by events(), after the frames that came before it
        end = END_OF_STREAM[state, self.role]
        if end.handshake_first:
            # A rejection body delimited by the end of the stream ends here.
            try:
                self._receive_handshake(b"")
            except RemoteProtocolError:
                assert end.close is not None
                self._events.append(Close(1006, end.close))
        elif end.close is not None:
            self._events.append(Close(1006, end.close))
        self._state = end.next
        if end.next is not state:
            self._release()

    # -- Sending --------------------------------------------------------------

    def send(self, event: Event, now: float | None = None) -> bytes:
        """The bytes to write for ``event``, after any automatic replies
        still pending, so the order on the wire is always right.

        :param event: the event to send: one of :mod:`wsproto_lite.events`.
        :param now: the time on the caller's clock: it starts a close
            timeout from the exact moment a ``Close`` is sent (see
            :meth:`handle_timer`).
        :return: the bytes to write, possibly empty.
        :raises ConnectionClosedError: when the connection is closing or
            closed and the event may not be sent any more.
        :raises InvalidEventError: when a field of the event cannot go on
            the wire, in a state that allows it.
        :raises LocalProtocolError: for any other event the current state
            does not allow.  The message says what to do instead, and
            nothing changed: correct the event and send again.
        """
        if type(event) is Message:
            whole = event.message_finished and not (self._send_opcode or self._sessions)
            if whole and self._state in SENDING:
                # The whole-message fast path (most sends): one frame, no
                # extension, built by one function (compiled where it was
                # built), called from here because a call is a tenth of a
                # small send; the general way takes 1.3 times as long for
                # 16 bytes (docs/topics/performance.md).
                try:
                    data = message_frame(event.data, mask_key() if self._client else None)
                except UnicodeEncodeError:
                    data = self._send_message(event)  # raises, saying why
            else:
                data = self._send_message(event)
        elif type(event) is Ping or type(event) is Pong:
            data = self._send_control(event)
        elif type(event) is Close:
            data = self._send_close(event)
        else:
            data = self._send_handshake(event)
        if self._out:
            data = self.data_to_send() + data
        if now is not None:
            self._tell(now)
        return data

    def _phase(self) -> Phase | None:
        """Where the opening handshake is, in CONNECTING (else None)."""
        if self._state is not ConnectionState.CONNECTING:
            return None
        handshake = self._handshake
        if isinstance(handshake, ClientHandshake):
            return Phase.REQUEST_SENT if self._request_sent else Phase.BEFORE_REQUEST
        assert handshake is not None
        if handshake.failed:
            return Phase.REQUEST_INVALID
        return Phase.NO_REQUEST if handshake.request is None else Phase.REQUEST_RECEIVED

    def _allowed(self) -> Sendable:
        """What may be sent now, where it leads, and why nothing else may."""
        return SEND[self._state, self.role, self._phase()]

    def _refuse(self, what: type[Event]) -> LocalProtocolError:
        """The error for sending a ``what`` now: it names the state and what
        may be sent instead, and is a ConnectionClosedError when the
        connection is closing or closed."""
        allowed = self._allowed()
        instead = ", ".join(kind.__name__ for kind in allowed.classes) or "nothing"
        error = ConnectionClosedError if self._state in ENDING else LocalProtocolError
        return error(
            f"cannot send {what.__name__} in state {self._state.name} ({self.role.value}): "
            f"{allowed.why}; allowed now: {instead}"
        )

    def _send_message(self, event: Message) -> bytes:
        """The general way for a message (``send()`` takes whole messages
        without extensions itself): the refusals, fragments, extensions, and
        text with no UTF-8 form, which ``utf8()`` refuses."""
        if self._state not in SENDING:
            raise self._refuse(Message)
        data = event.data
        if isinstance(data, str):
            opcode = TEXT
            payload = utf8(data, "text message")
        else:
            opcode = BINARY
            payload = data
        if self._send_opcode or not event.message_finished:
            return self._send_fragment(opcode, payload, event.message_finished)
        if self._deflate is not None:
            return self._send_compressed(opcode, payload)
        return self._send_frame(opcode, payload, True)

    def _send_fragment(self, opcode: int, payload: bytes, fin: bool) -> bytes:
        """A piece of a fragmented message (5.4): the first, or one that
        continues the message being sent and has its type."""
        if not self._send_opcode:
            frame = self._send_frame(opcode, payload, fin)
            self._send_opcode = 0 if fin else opcode
            return frame
        if opcode != self._send_opcode:
            raise InvalidEventError(
                "every piece of a fragmented message must have the type of the first "
                f"({'str' if self._send_opcode == TEXT else 'bytes'})"
            )
        frame = self._send_frame(CONTINUATION, payload, fin, first=False)
        if fin:
            self._send_opcode = 0
        return frame

    def _send_frame(self, opcode: int, payload: bytes, fin: bool, first: bool = True) -> bytes:
        """The general way: each negotiated extension transforms the payload
        (``first`` says whether it starts a message), then it is framed."""
        rsv = 0
        for session in self._sessions:
            payload, bits = session.encode(payload, first, fin)
            rsv |= bits
        return encode_frame(opcode, payload, fin, rsv, self._client)

    def _send_compressed(self, opcode: int, payload: bytes) -> bytes:
        """A whole message with one permessage-deflate session, the common
        compressed case, deflated and framed without the general way's loop
        over sessions and its calls: 4% of a 1 KiB JSON send (measured in
        docs/topics/performance.md)."""
        assert self._deflate is not None
        payload = self._deflate.compress_message(payload)
        n = len(payload)
        if n < 126 and not self._client:
            return SMALL_HEADERS[opcode | 0xC0][n] + payload
        return encode_frame(opcode, payload, True, RSV1, self._client)

    def _send_control(self, event: Ping | Pong) -> bytes:
        kind = type(event)
        if self._state not in SENDING:
            raise self._refuse(kind)
        if len(event.payload) > MAX_CONTROL_PAYLOAD:
            raise InvalidEventError(
                f"a {kind.__name__} payload is at most {MAX_CONTROL_PAYLOAD} bytes (RFC 6455, 5.5), "
                f"not {len(event.payload)}"
            )
        return encode_frame(PING if kind is Ping else PONG, event.payload, mask=self._client)

    def _send_close(self, event: Close) -> bytes:
        state = self._state
        if state not in SENDING:
            raise self._refuse(Close)
        payload = encode_close(event.code, event.reason)
        self._state = CLOSE_SENT[state]
        if self._state is ConnectionState.CLOSED:
            self._release()
        return encode_frame(CLOSE, payload, mask=self._client)

    def _send_handshake(self, event: Event) -> bytes:
        if not isinstance(event, _HANDSHAKE_EVENTS):
            raise InvalidEventError(f"{event!r} is not an event; see wsproto_lite.events")
        allowed = self._allowed()
        if type(event) not in allowed.classes:
            raise self._refuse(type(event))
        handshake = self._handshake
        if isinstance(event, Request):
            assert isinstance(handshake, ClientHandshake)
            data = handshake.send_request(event, self._supported)
            self._request_sent = True  # only once it was found valid: a refused one may be retried
            self._state = allowed.next[Request]
            return data
        assert isinstance(handshake, ServerHandshake)
        if isinstance(event, Accept):
            data, sessions = handshake.accept(event, self._supported)
            self._state = allowed.next[Accept]
            self._open(event.subprotocol, sessions)
            return data
        if isinstance(event, Reject):
            data = handshake.reject(event)
            self._state = allowed.next[Reject, event.has_body]
            self._inbuf = bytearray()  # what came after the request is never read
            return data
        assert isinstance(event, RejectData)
        data = handshake.reject_data(event)
        self._state = allowed.next[RejectData, event.body_finished]
        return data
