"""uvicorn's WebSocket protocol on wsproto_lite.

    uvicorn app:app --ws wsproto_lite.uvicorn:WebSocketProtocol

(uvicorn 0.36 and later take an import string or a class for ``--ws``;
install ``wsproto-lite[uvicorn]``.)  The class speaks the ASGI WebSocket
protocol (spec 2.4) as uvicorn's own classes do: the ``websocket.*``
messages, the ``websocket.http.response.*`` denial extension,
subprotocols, ``ws_max_size``, ``ws_per_message_deflate``,
``ws_ping_interval`` and ``ws_ping_timeout`` (through the connection's
timers), back-pressure through ``pause_writing``/``resume_writing``,
``shutdown()`` (1012 once open) and the server's default headers on the
101.  It is written from that interface: none of uvicorn's code is used.

uvicorn's tests read some attributes of the protocol object, and these keep
the names and meanings its own classes give them: ``transport``,
``close_timeout`` (seconds to wait for the peer's answer to our close frame;
0 closes on the next turn of the loop) and ``close_timer`` (``None`` unless
waiting for it).  The keepalive is the connection's own (``ping_interval``,
``ping_timeout``): the two tests that look at uvicorn's keepalive attributes
also require uvicorn's own classes, and are deselected.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from uvicorn.protocols.utils import ClientDisconnected, get_local_addr, get_remote_addr, is_ssl

from . import Connection, ConnectionClosedError, ConnectionState, RemoteProtocolError, Role
from .events import Accept, Close, Header, Message, Reject, RejectData, Request
from .extensions import PerMessageDeflate

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = ["WebSocketProtocol"]

_TEXT: tuple[Header, ...] = ((b"content-type", b"text/plain; charset=utf-8"),)

#: How long, by default, the server waits for the peer's answer to its close
#: frame before it closes the transport (RFC 6455, 7.1.1).
CLOSE_TIMEOUT = 10.0


class WebSocketProtocol(asyncio.Protocol):
    """One WebSocket connection inside uvicorn: bytes from the transport go
    to a :class:`~wsproto_lite.Connection`, its events to the ASGI
    application's ``receive()``, and the application's ``send()`` messages
    back through it.  uvicorn makes one per connection; an application never
    does.

    :param config: uvicorn's configuration: the application and the
        ``ws_*`` options (``ws_max_size``, ``ws_per_message_deflate``,
        ``ws_ping_interval``, ``ws_ping_timeout``).
    :param server_state: uvicorn's server state: its connections, tasks and
        default headers.
    :param app_state: the lifespan state that goes into the ASGI scope.
    :param _loop: the event loop (the running one when ``None``).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.logger = logging.getLogger("uvicorn.error")
        self.root_path = config.root_path
        self.app_state = app_state
        # uvicorn types this set with its own protocol classes.
        self.connections = cast("set[Any]", server_state.connections)
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.transport: asyncio.Transport | None = None
        self.scope: dict[str, Any] = {}
        self.conn = Connection(
            Role.SERVER,
            max_message_size=config.ws_max_size,
            extensions=[PerMessageDeflate()] if config.ws_per_message_deflate else [],
            ping_interval=config.ws_ping_interval or None,
            ping_timeout=config.ws_ping_timeout or None,
        )
        #: Seconds to wait for the peer's close frame once ours is sent, and
        #: the timer that waits (None while not waiting).
        self.close_timeout = CLOSE_TIMEOUT
        self.close_timer: asyncio.TimerHandle | None = None
        self.lost = False  # the transport is gone
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.handshake_complete = False
        self.close_sent = False
        self.response_started = False
        self.pending_start: tuple[int, list[Any]] | None = None  # see _send_answer
        self.disconnected = False
        self.writable = asyncio.Event()
        self.writable.set()
        self.read_paused = False
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """asyncio: the connection is made; its time starts.

        :param transport: the connection's transport.
        """
        self.transport = cast("asyncio.Transport", transport)
        self.connections.add(self)
        self.conn.handle_timer(self.loop.time())

    def data_received(self, data: bytes) -> None:
        """asyncio: bytes arrived; an invalid handshake is answered here.

        :param data: the bytes read.
        """
        if self.lost:
            return  # what a closed transport still delivers has no one to go to
        try:
            self.conn.receive_data(data, now=self.loop.time())
        except RemoteProtocolError as error:
            self._reject_invalid(error)
            return
        self._handle_events()

    def eof_received(self) -> bool | None:
        """asyncio: the peer closed its end (the connection reports 1006
        unless the closing handshake was done)."""
        self.conn.receive_data(b"", now=self.loop.time())
        self._handle_events()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """asyncio: the connection is gone; the application learns of it as a
        ``websocket.disconnect``.

        :param exc: the error that ended it, or ``None``.
        """
        self.lost = True
        self.connections.discard(self)
        self._cancel_timers()
        if not self.disconnected:
            self._disconnect(1006, None)
        self.writable.set()  # a send waiting for the buffer to drain raises

    def pause_writing(self) -> None:
        """asyncio: the transport's buffer is full; ``send()`` waits."""
        self.writable.clear()

    def resume_writing(self) -> None:
        """asyncio: the transport's buffer drained; ``send()`` goes on."""
        self.writable.set()

    def shutdown(self) -> None:
        """The server is shutting down: once open, tell the application
        (1012) and send a close frame; before, answer 500; either way, and
        when a close frame was sent already, close the transport now."""
        if not self.close_sent:
            if self.handshake_complete:
                if not self.disconnected:
                    self._disconnect(1012, None)
                self._send_close(1012, "")
            elif not self.response_started:
                self._send_response(500, _TEXT, b"")
        self._cancel_timers()
        self._close_transport()

    # -- From the connection to the application -------------------------------------

    def _handle_events(self) -> None:
        for event in self.conn.events():
            if isinstance(event, Request):
                self._start(event)
            elif isinstance(event, Message) and not self.close_sent:
                key = "text" if isinstance(event.data, str) else "bytes"
                self.queue.put_nowait({"type": "websocket.receive", key: event.data})
                self._pause_reading_if_full()
            elif isinstance(event, Close) and not self.disconnected:
                # The peer's reason when the peer closed; none when the server
                # did or the connection ended.
                by_peer = event.by_peer and not self.close_sent
                self._disconnect(event.code, event.reason if by_peer else None)
        self._flush()

    def _start(self, request: Request) -> None:
        """A valid request: build the scope and run the application."""
        assert self.transport is not None
        path, _, query = request.target.partition("?")
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(self.transport) else "ws",
            "server": get_local_addr(self.transport),
            "client": get_remote_addr(self.transport),
            "root_path": self.root_path,
            "path": self.root_path + unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [(name, value) for name, value in request.headers],
            "subprotocols": list(request.subprotocols),
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self._run_asgi())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _disconnect(self, code: int, reason: str | None) -> None:
        self.disconnected = True
        message: dict[str, Any] = {"type": "websocket.disconnect", "code": code}
        if reason is not None:
            message["reason"] = reason
        self.queue.put_nowait(message)

    def _pause_reading_if_full(self) -> None:
        """Back-pressure: stop reading while a message waits for the
        application, unless a close frame was sent (the peer's answer must
        still be read); receive() resumes once the queue is empty."""
        if not self.close_sent and not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    # -- The application --------------------------------------------------------

    async def _run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            self._close_transport()
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self._end_application()
        else:
            if not self.handshake_complete and not self.response_started and not self.close_sent:
                self.logger.error("ASGI callable returned without completing handshake.")
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
            self._end_application()

    def _end_application(self) -> None:
        """The application ended (or raised): a 500 if it never answered the
        handshake; the transport is closed unless a closing handshake it
        started is under way (the peer's answer closes it)."""
        if not self.handshake_complete and not self.response_started and not self.close_sent:
            self._send_response(500, _TEXT, b"Internal Server Error")
        elif self.pending_start is not None:
            self._start_response(0)
            self._write(self.conn.send(RejectData(b"")))
        if self.close_timer is None:
            self._close_transport()

    async def receive(self) -> dict[str, Any]:
        """ASGI: the application's next message (``websocket.connect``,
        ``websocket.receive``, ``websocket.disconnect``)."""
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self._resume_reading()
        return message

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    async def send(self, message: dict[str, Any]) -> None:
        """ASGI: the application's message (``websocket.accept``,
        ``websocket.send``, ``websocket.close``, ``websocket.http.response.*``).

        :param message: the ASGI message.
        :raises ClientDisconnected: (uvicorn's) when the client went away.
        :raises RuntimeError: for a message the ASGI protocol does not allow
            at this point.
        """
        await self.writable.wait()
        if self.lost:
            raise ClientDisconnected
        kind = message["type"]
        if not self.handshake_complete and not self.response_started and not self.close_sent:
            self._send_answer(kind, message)
        elif self.response_started and not self.close_sent:
            self._send_response_body(kind, message)
        elif not self.close_sent:
            self._send_open(kind, message)
        elif self.disconnected or self.conn.state is ConnectionState.CLOSED:
            raise ClientDisconnected
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")

    def _send_answer(self, kind: str, message: dict[str, Any]) -> None:
        """The application's answer to the handshake."""
        if self.disconnected:
            raise ClientDisconnected
        if kind == "websocket.accept":
            headers = list(self.default_headers) + list(message.get("headers", []))
            accept = Accept(subprotocol=message.get("subprotocol"), extra_headers=headers)
            self._write(self.conn.send(accept, now=self.loop.time()))
            self.handshake_complete = True
        elif kind == "websocket.close":
            self._send_response(403, [], b"")
            self.close_sent = True
            if not self.disconnected:
                self._disconnect(1006, None)
        elif kind == "websocket.http.response.start":
            if not 100 <= message["status"] < 600:
                raise RuntimeError(f"Invalid HTTP status code '{message['status']}' in response.")
            # Held until the first piece of body: a body that comes whole
            # is sent with its Content-Length rather than chunked.
            self.pending_start = (message["status"], [*self.default_headers, *message.get("headers", [])])
            self.response_started = True
        else:
            raise RuntimeError(
                "Expected ASGI message 'websocket.accept', 'websocket.close', or "
                f"'websocket.http.response.start' but got '{kind}'."
            )

    def _send_response_body(self, kind: str, message: dict[str, Any]) -> None:
        if kind != "websocket.http.response.body":
            raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
        more = message.get("more_body", False)
        body = message.get("body", b"")
        self._start_response(None if more else len(body))
        self._write(self.conn.send(RejectData(body, body_finished=not more)))
        if not more:
            self.close_sent = True
            if not self.disconnected:
                self._disconnect(1006, None)
            self._close_transport()

    def _start_response(self, length: int | None) -> None:
        """Send the held response head, with ``length`` as its
        Content-Length unless the application gave one (or chunking)."""
        if self.pending_start is None:
            return
        status, headers = self.pending_start
        self.pending_start = None
        names = {bytes(name).lower() for name, _ in headers}
        if length is not None and not names & {b"content-length", b"transfer-encoding"}:
            headers.append((b"content-length", str(length).encode()))
        self._write(self.conn.send(Reject(status, headers=headers, has_body=True)))

    def _send_open(self, kind: str, message: dict[str, Any]) -> None:
        try:
            if kind == "websocket.send":
                data = message.get("bytes")
                self._write(self.conn.send(Message(data if data is not None else message["text"])))
            elif kind == "websocket.close":
                code, reason = message.get("code") or 1000, message.get("reason") or ""
                self._send_close(code, reason)
                if not self.disconnected:
                    self._disconnect(code, reason)
            else:
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.send' or 'websocket.close', but got '{kind}'."
                )
        except ConnectionClosedError:
            raise ClientDisconnected from None

    def _send_close(self, code: int, reason: str) -> None:
        """Start the closing handshake, unless the connection ended already,
        and wait for the peer's answer for at most close_timeout; reading
        resumes, since the answer must be read."""
        self.close_sent = True
        try:
            data = self.conn.send(Close(code, reason), now=self.loop.time())
        except ConnectionClosedError:
            data = b""
        if self.conn.state is ConnectionState.LOCAL_CLOSING and not self.lost:
            self.close_timer = self.loop.call_later(self.close_timeout, self._close_timed_out)
            self._resume_reading()
        self._write(data)

    def _close_timed_out(self) -> None:
        self.close_timer = None
        self._close_transport()

    def _send_response(self, status: int, headers: Sequence[Header], body: bytes) -> None:
        """A whole HTTP response instead of the 101, once; then the end."""
        if not self.response_started and self.conn.state is ConnectionState.CONNECTING:
            self.response_started = True
            headers = [*self.default_headers, *headers, (b"content-length", str(len(body)).encode())]
            self._write(self.conn.send(Reject(status, headers=headers, has_body=True)))
            self._write(self.conn.send(RejectData(body)))
        self._close_transport()

    def _reject_invalid(self, error: RemoteProtocolError) -> None:
        """A request that is not a valid WebSocket handshake: the status and
        headers the error suggests, and its reason as the body."""
        status = error.status_code or 400
        self._send_response(status, [*error.headers, *_TEXT], error.reason.encode())
        self.logger.info("%s - invalid WebSocket request: %s", http.HTTPStatus(status).phrase, error.reason)

    # -- Writing, timers and the end ---------------------------------------------------

    def _write(self, data: bytes) -> None:
        """Write what ``send`` returned (pending replies come first in it)."""
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        self._flush()

    def _flush(self) -> None:
        """Write what the connection produced; close when it says so; wake
        up again when its timers say."""
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        if self.conn.should_close_transport:
            self._close_transport()
        self._schedule_timer()

    def _schedule_timer(self) -> None:
        """Wake up at the connection's next deadline; a timer already set for
        it is kept (this runs after every read and every send)."""
        deadline = self.conn.get_timer()
        if self.timer is not None:
            if deadline is not None and self.timer.when() == deadline:
                return
            self.timer.cancel()
            self.timer = None
        if deadline is not None and self.transport is not None and not self.transport.is_closing():
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        self.conn.handle_timer(self.loop.time())
        self._handle_events()

    def _cancel_timers(self) -> None:
        for timer in (self.timer, self.close_timer):
            if timer is not None:
                timer.cancel()
        self.timer = self.close_timer = None

    def _close_transport(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
