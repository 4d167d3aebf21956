"""An HTTP/3 client and server in memory, on aioquic's QUIC and H3
connections, that open WebSockets on their streams with
wsproto_lite.extended_connect (RFC 9220): the datagrams go from one QUIC
connection to the other in the same process, the TLS certificate is made at
test time by trustme."""

from __future__ import annotations

import trustme
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import StreamReset

from wsproto_lite import Connection, RemoteProtocolError
from wsproto_lite import extended_connect as xc
from wsproto_lite.events import Accept, Event, Reject, Request

from .h2_pair import Stream, answer

CLIENT_ADDR = ("127.0.0.1", 40000)
SERVER_ADDR = ("127.0.0.1", 4433)


class H3Pair:
    """A QUIC client and server joined in memory, each with its H3
    connection (aioquic sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)."""

    def __init__(self, answer: Accept | Reject | None = None, **server_options: object) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("localhost")
        server_config = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        with cert.cert_chain_pems[0].tempfile() as certfile, cert.private_key_pem.tempfile() as keyfile:
            server_config.load_cert_chain(certfile, keyfile)
        client_config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost")
        client_config.load_verify_locations(cadata=ca.cert_pem.bytes())
        self.now = 0.0
        self.client_quic = QuicConnection(configuration=client_config)
        self.server_quic = QuicConnection(
            configuration=server_config,
            original_destination_connection_id=self.client_quic.original_destination_connection_id,
        )
        self.client = H3Connection(self.client_quic)
        self.server = H3Connection(self.server_quic)
        self.answer = answer or Accept()
        self.server_options = server_options
        self.requests: dict[int, Request] = {}
        self.errors: list[RemoteProtocolError] = []
        self.client_streams: dict[int, Stream] = {}
        self.server_streams: dict[int, Stream] = {}
        self.finished: set[tuple[int, int]] = set()  # streams this side ended
        self.client_quic.connect(SERVER_ADDR, now=self.now)
        self.pump()

    def open(self, request: Request) -> int:
        stream_id = self.client_quic.get_next_available_stream_id()
        self.client.send_headers(stream_id, xc.request_headers(request))
        self.requests[stream_id] = request
        self.client_streams[stream_id] = Stream()
        self.pump()
        return stream_id

    def send(self, stream_id: int, event: Event, *, side: str = "client") -> None:
        h3, streams = (
            (self.client, self.client_streams) if side == "client" else (self.server, self.server_streams)
        )
        conn = streams[stream_id].conn
        assert conn is not None
        self._write(h3, stream_id, conn, conn.send(event))
        self.pump()

    def _write(self, h3: H3Connection, stream_id: int, conn: Connection, data: bytes) -> None:
        """What the WebSocket produced goes out as DATA (QUIC buffers it
        and applies flow control itself); the stream's FIN, RFC 9220's
        stand-in for the TCP FIN, once the transport should close."""
        key = (id(h3), stream_id)
        if key in self.finished or not (data or conn.should_close_transport):
            return
        h3.send_data(stream_id, data, end_stream=conn.should_close_transport)
        if conn.should_close_transport:
            self.finished.add(key)

    def pump(self) -> None:
        """Move datagrams both ways until neither side has any to send."""
        for _ in range(200):
            self.now += 0.001
            moved = False
            for data, _ in self.client_quic.datagrams_to_send(now=self.now):
                self.server_quic.receive_datagram(data, CLIENT_ADDR, now=self.now)
                moved = True
            for data, _ in self.server_quic.datagrams_to_send(now=self.now):
                self.client_quic.receive_datagram(data, SERVER_ADDR, now=self.now)
                moved = True
            for quic, h3, handle in (
                (self.server_quic, self.server, self._server_event),
                (self.client_quic, self.client, self._client_event),
            ):
                while (quic_event := quic.next_event()) is not None:
                    if isinstance(quic_event, StreamReset):
                        handle(quic_event)
                    for event in h3.handle_event(quic_event):
                        handle(event)
            if not moved:
                return
        raise AssertionError("the two QUIC connections never went quiet")

    def _server_event(self, event: H3Event | StreamReset) -> None:
        if isinstance(event, HeadersReceived) and event.stream_id not in self.server_streams:
            stream = self.server_streams[event.stream_id] = Stream()
            headers, stream.conn = answer(
                event.headers, self.answer, stream, self.errors, self.server_options
            )
            self.server.send_headers(event.stream_id, headers, end_stream=stream.conn is None)
        else:
            self._data_event(self.server, self.server_streams, event)

    def _client_event(self, event: H3Event | StreamReset) -> None:
        if isinstance(event, HeadersReceived):
            stream = self.client_streams[event.stream_id]
            status = int(dict(event.headers)[b":status"])
            answer = xc.parse_response(self.requests[event.stream_id], status, event.headers)
            if isinstance(answer, Reject):
                stream.reject = answer
                stream.ended = "end" if event.stream_ended else ""
            else:
                stream.conn = answer
        else:
            self._data_event(self.client, self.client_streams, event)

    def _data_event(self, h3: H3Connection, streams: dict[int, Stream], event: H3Event | StreamReset) -> None:
        stream_id: int = getattr(event, "stream_id", -1)
        stream = streams.get(stream_id)
        if stream is None:
            return
        conn = stream.conn
        if isinstance(event, DataReceived):
            if conn is None:
                stream.body += event.data
            elif event.data:
                conn.receive_data(event.data)
            if event.stream_ended:
                stream.ended = "end"
                if conn is not None:
                    conn.receive_data(b"")  # the stream's FIN is the end of the byte stream
        elif isinstance(event, StreamReset):
            stream.ended = "reset"
            if conn is not None:
                conn.receive_data(b"")  # RESET_STREAM: as after a TCP reset
        if conn is not None:
            stream.events.extend(conn.events())
            if stream.ended != "reset":
                self._write(h3, stream_id, conn, conn.data_to_send())
