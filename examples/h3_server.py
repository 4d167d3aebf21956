"""A WebSocket echo over HTTP/3 (RFC 9220), on aioquic.

    python examples/h3_server.py --certfile cert.pem --keyfile key.pem [--port 4433]

One asyncio process: aioquic's QUIC server and its H3 connection (``pip
install aioquic``: a dependency of this example and the tests, not of
wsproto_lite), which sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.  An
extended CONNECT (``:protocol websocket``) to ``/ws`` on a request stream
becomes a wsproto_lite ``Connection`` through ``extended_connect.accept``,
and every message is echoed.  The stream's FIN and RESET_STREAM are the ends
of its byte stream (see docs/howto/http2.md).  It logs one line per WebSocket
opened, message and close, naming the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent, StreamReset

from wsproto_lite import Connection, RemoteProtocolError, extended_connect
from wsproto_lite.events import Accept, Close, Message, Reject


class Http3(QuicConnectionProtocol):
    """One QUIC connection: a WebSocket per extended CONNECT stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.sockets: dict[int, Connection] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, StreamReset) and event.stream_id in self.sockets:
            self.sockets[event.stream_id].receive_data(b"")  # RESET_STREAM: as a TCP reset
            self.serve(event.stream_id)
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived) and h3_event.stream_id not in self.sockets:
                self.request(h3_event.stream_id, h3_event.headers)
            elif isinstance(h3_event, DataReceived) and h3_event.stream_id in self.sockets:
                conn = self.sockets[h3_event.stream_id]
                if h3_event.data:
                    conn.receive_data(h3_event.data)
                if h3_event.stream_ended:
                    conn.receive_data(b"")  # the stream's FIN: the end of the byte stream
                self.serve(h3_event.stream_id)
        self.transmit()

    def request(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        try:
            request = extended_connect.parse_request(headers)
        except RemoteProtocolError as error:
            refusal = extended_connect.reject(Reject(error.status_code or 400, headers=error.headers))
            self.h3.send_headers(stream_id, refusal, end_stream=True)
            return
        if request.target != "/ws":
            self.h3.send_headers(stream_id, extended_connect.reject(Reject(404)), end_stream=True)
            return
        answer, conn = extended_connect.accept(request, Accept())
        self.h3.send_headers(stream_id, answer)
        self.sockets[stream_id] = conn
        print(f"websocket on HTTP/3 stream {stream_id}: :method CONNECT, :protocol websocket", flush=True)

    def serve(self, stream_id: int) -> None:
        """The WebSocket's events: echo messages; then write its output, and
        end the stream once it is done."""
        conn = self.sockets[stream_id]
        out = b""
        for event in conn.events():
            if isinstance(event, Message):
                print(f"message on stream {stream_id}: {event.data!r}", flush=True)
                out += conn.send(Message(event.data))
            elif isinstance(event, Close):
                print(f"close on stream {stream_id}: {event.code}", flush=True)
        out += conn.data_to_send()
        done = conn.should_close_transport
        if done:
            del self.sockets[stream_id]
        if out or done:
            self.h3.send_data(stream_id, out, end_stream=done)


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4433, help="UDP port; 0 picks a free one")
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    args = parser.parse_args()
    configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    configuration.load_cert_chain(args.certfile, args.keyfile)
    port = args.port or free_udp_port(args.host)
    await serve(args.host, port, configuration=configuration, create_protocol=Http3)
    print(f"serving on https://{args.host}:{port}/ (HTTP/3, UDP)", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
