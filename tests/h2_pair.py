"""An HTTP/2 client and server in memory, on the h2 library, that open
WebSockets on their streams with wsproto_lite.extended_connect: the host's
side of RFC 8441 as tests drive it (the example server, examples/h2_server.py,
does the same over TLS)."""

from __future__ import annotations

from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from wsproto_lite import Connection, RemoteProtocolError
from wsproto_lite import extended_connect as xc
from wsproto_lite.events import Accept, Event, Reject, Request


@dataclass
class Stream:
    """One WebSocket on one stream: the connection, what it reported, and
    how the stream ended (``"end"``: END_STREAM; ``"reset"``: RST_STREAM)."""

    conn: Connection | None = None
    events: list[Event] = field(default_factory=list)
    ended: str = ""
    reject: Reject | None = None
    body: bytes = b""


def answer(
    headers: list[tuple[bytes, bytes]],
    reply: Accept | Reject,
    stream: Stream,
    errors: list[RemoteProtocolError],
    options: dict[str, object],
) -> tuple[list[tuple[bytes, bytes]], Connection | None]:
    """A server host's answer to a stream's request headers, on HTTP/2 and
    HTTP/3 alike: the response headers, and the open connection when it
    accepts.  An invalid request is refused as its error says (and kept in
    ``errors``); a valid one is recorded on ``stream`` and gets ``reply``."""
    try:
        request = xc.parse_request(headers)
    except RemoteProtocolError as error:
        errors.append(error)
        return xc.reject(Reject(error.status_code or 400, headers=error.headers)), None
    stream.events.append(request)
    if isinstance(reply, Reject):
        return xc.reject(reply), None
    return xc.accept(request, reply, **options)  # type: ignore[arg-type]


class H2Pair:
    """Two h2 connections joined in memory; the server allows extended
    CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, RFC 8441 section 3)."""

    def __init__(self, answer: Accept | Reject | None = None, body: bytes = b"", **server_options: object):
        self.client = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.server.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
        )
        self.answer = answer or Accept()
        self.body = body
        self.server_options = server_options
        self.requests: dict[int, Request] = {}
        self.errors: list[RemoteProtocolError] = []
        self.client_options: dict[str, object] = {}
        self.outbox: dict[tuple[int, int], bytearray] = {}
        self.ending: set[tuple[int, int]] = set()
        self.client_streams: dict[int, Stream] = {}
        self.server_streams: dict[int, Stream] = {}
        self.client.initiate_connection()
        self.server.initiate_connection()
        self.pump()

    def open(self, request: Request, **client_options: object) -> int:
        """Send ``request``'s extended CONNECT on a new stream; pump until
        the server has answered."""
        assert self.client.remote_settings.enable_connect_protocol == 1
        stream_id = self.client.get_next_available_stream_id()
        self.client.send_headers(stream_id, xc.request_headers(request))
        self.requests[stream_id] = request
        self.client_streams[stream_id] = Stream()
        self.client_options = client_options
        self.pump()
        return stream_id

    def send(self, stream_id: int, event: Event, *, side: str = "client") -> None:
        """Send ``event`` on the WebSocket of ``stream_id`` from ``side``."""
        h2conn, streams = self._side(side)
        conn = streams[stream_id].conn
        assert conn is not None
        self._write(h2conn, stream_id, conn, conn.send(event))
        self.pump()

    def _side(self, side: str) -> tuple[h2.connection.H2Connection, dict[int, Stream]]:
        return (self.client, self.client_streams) if side == "client" else (self.server, self.server_streams)

    def _write(
        self, h2conn: h2.connection.H2Connection, stream_id: int, conn: Connection, data: bytes
    ) -> None:
        """Queue what the WebSocket produced, to go out as HTTP/2 flow
        control allows (the stream's window is the back-pressure); end the
        stream (END_STREAM, the TCP FIN of RFC 8441 section 5) once it says
        the transport closes and everything before is out."""
        key = (id(h2conn), stream_id)
        self.outbox.setdefault(key, bytearray()).extend(data)
        if conn.should_close_transport:
            self.ending.add(key)
        self._flush(h2conn, stream_id)

    def _flush(self, h2conn: h2.connection.H2Connection, stream_id: int) -> None:
        key = (id(h2conn), stream_id)
        waiting = self.outbox.get(key, bytearray())
        try:
            while waiting:
                size = min(
                    len(waiting), h2conn.local_flow_control_window(stream_id), h2conn.max_outbound_frame_size
                )
                if size <= 0:
                    return  # the peer's WINDOW_UPDATE will let the rest go
                h2conn.send_data(stream_id, bytes(waiting[:size]))
                del waiting[:size]
            if key in self.ending:
                self.ending.discard(key)
                h2conn.end_stream(stream_id)
        except h2.exceptions.StreamClosedError:
            waiting.clear()  # the peer reset the stream: nothing more goes out on it

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything to send."""
        for _ in range(100):
            to_server = self.client.data_to_send()
            to_client = self.server.data_to_send()
            if not to_server and not to_client:
                return
            for event in self.server.receive_data(to_server):
                self._server_event(event)
            for event in self.client.receive_data(to_client):
                self._client_event(event)
        raise AssertionError("the two h2 connections never went quiet")

    def _server_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            stream = self.server_streams[event.stream_id] = Stream()
            headers, stream.conn = answer(
                event.headers, self.answer, stream, self.errors, self.server_options
            )
            # A body follows only the refusal of a valid request (stream.events holds its Request).
            done = stream.conn is None and not (self.body and stream.events)
            self.server.send_headers(event.stream_id, headers, end_stream=done)
            if not done and stream.conn is None:
                self.server.send_data(event.stream_id, self.body, end_stream=True)
        else:
            self._data_event(self.server, self.server_streams, event)

    def _client_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self.client_streams[event.stream_id]
            status = int(dict(event.headers)[b":status"])
            request = self.requests[event.stream_id]
            answer = xc.parse_response(request, status, event.headers, **self.client_options)  # type: ignore[arg-type]
            if isinstance(answer, Reject):
                stream.reject = answer
            else:
                stream.conn = answer
        else:
            self._data_event(self.client, self.client_streams, event)

    def _data_event(
        self, h2conn: h2.connection.H2Connection, streams: dict[int, Stream], event: h2.events.Event
    ) -> None:
        stream_id = getattr(event, "stream_id", 0)
        if isinstance(event, h2.events.WindowUpdated):
            for other in list(streams) if stream_id == 0 else [stream_id]:
                self._flush(h2conn, other)
            return
        stream = streams.get(stream_id)
        if stream is None:
            return
        conn = stream.conn
        if isinstance(event, h2.events.DataReceived):
            h2conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
            if conn is None:
                stream.body += event.data
            else:
                conn.receive_data(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended = "end"
            if conn is not None:
                conn.receive_data(b"")  # the stream's END_STREAM is the end of the byte stream
        elif isinstance(event, h2.events.StreamReset):
            stream.ended = "reset"
            if conn is not None:
                conn.receive_data(b"")  # RST_STREAM: the stream is gone, as after a TCP reset
        else:
            return
        if conn is not None:
            stream.events.extend(conn.events())
            self._write(h2conn, stream_id, conn, conn.data_to_send())
