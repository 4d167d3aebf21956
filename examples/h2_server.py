"""A page and its WebSocket on one HTTP/2 connection (RFC 8441), over TLS.

    python examples/h2_server.py --certfile cert.pem --keyfile key.pem [--port 8443]

One asyncio process on the h2 library (``pip install h2``: a dependency of
this example and the tests, not of wsproto_lite).  TLS offers ALPN ``h2``
only; the server's SETTINGS allow extended CONNECT
(SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), so a browser that loaded the page
over HTTP/2 opens the page's WebSocket as a CONNECT with ``:protocol
websocket`` on a new stream of the same connection, not as an HTTP/1.1
upgrade.  ``GET /`` is the page; a WebSocket on ``/ws`` echoes every
message.  Each stream's WebSocket is a wsproto_lite ``Connection`` from
``extended_connect.accept``; the stream's END_STREAM and RST_STREAM are the
ends of its byte stream, and HTTP/2 flow control is its back-pressure (see
docs/embedding.md).  It logs one line per WebSocket opened, message and
close, naming the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from wsproto_lite import Connection, RemoteProtocolError, extended_connect
from wsproto_lite.events import Accept, Close, Message, Reject

PAGE = b"""<!doctype html>
<meta charset="utf-8">
<title>wsproto_lite over HTTP/2</title>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const ws = new WebSocket(`wss://${location.host}/ws`);
window.received = [];
ws.onopen = () => { log("open"); ws.send("hello over h2"); };
ws.onmessage = (event) => { window.received.push(event.data); log("echo: " + event.data); };
ws.onclose = (event) => { window.closeCode = event.code; log("closed " + event.code); };
</script>
"""


class Http2(asyncio.Protocol):
    """One HTTP/2 connection: the page on GET /, a WebSocket per extended
    CONNECT stream."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.h2.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
        )
        self.h2.initiate_connection()
        self.sockets: dict[int, Connection] = {}
        self.outbox: dict[int, bytearray] = {}
        self.ending: set[int] = set()
        self.flush()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            self.handle(event)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        for stream_id, conn in self.sockets.items():
            conn.receive_data(b"")  # the TCP connection, and every stream on it, is gone
            self.report(stream_id, conn)

    def flush(self) -> None:
        self.transport.write(self.h2.data_to_send())

    def handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.request(event.stream_id, event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id in self.sockets:
                self.sockets[event.stream_id].receive_data(event.data)
                self.serve(event.stream_id)
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            if event.stream_id in self.sockets:
                self.sockets[event.stream_id].receive_data(b"")  # END_STREAM: a FIN; RST_STREAM: a reset
                self.serve(event.stream_id)
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id in list(self.outbox) if event.stream_id == 0 else [event.stream_id]:
                self.write(stream_id)

    def request(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        fields = dict(headers)
        if fields.get(b":method") == b"GET":
            found = fields.get(b":path") == b"/"
            status, body = (b"200", PAGE) if found else (b"404", b"not found\n")
            self.h2.send_headers(
                stream_id, [(b":status", status), (b"content-type", b"text/html; charset=utf-8")]
            )
            self.h2.send_data(stream_id, body, end_stream=True)
            return
        try:
            request = extended_connect.parse_request(headers)
        except RemoteProtocolError as error:
            refusal = extended_connect.reject(Reject(error.status_code or 400, headers=error.headers))
            self.h2.send_headers(stream_id, refusal, end_stream=True)
            return
        if request.target != "/ws":
            self.h2.send_headers(stream_id, extended_connect.reject(Reject(404)), end_stream=True)
            return
        answer, conn = extended_connect.accept(request, Accept())
        self.h2.send_headers(stream_id, answer)
        self.sockets[stream_id] = conn
        print(f"websocket on HTTP/2 stream {stream_id}: :method CONNECT, :protocol websocket", flush=True)

    def serve(self, stream_id: int) -> None:
        """The WebSocket's events: echo messages, then write its output."""
        conn = self.sockets[stream_id]
        for event in conn.events():
            if isinstance(event, Message):
                print(f"message on stream {stream_id}: {event.data!r}", flush=True)
                self.outbox.setdefault(stream_id, bytearray()).extend(conn.send(Message(event.data)))
            elif isinstance(event, Close):
                print(f"close on stream {stream_id}: {event.code}", flush=True)
        self.report(stream_id, conn)

    def report(self, stream_id: int, conn: Connection) -> None:
        self.outbox.setdefault(stream_id, bytearray()).extend(conn.data_to_send())
        if conn.should_close_transport:
            self.ending.add(stream_id)
            self.sockets.pop(stream_id, None)
        if not self.transport.is_closing():
            self.write(stream_id)

    def write(self, stream_id: int) -> None:
        """Send what waits for ``stream_id`` as flow control allows; end the
        stream once all of it is out and the WebSocket is done with it."""
        waiting = self.outbox.get(stream_id, bytearray())
        try:
            while waiting:
                window = self.h2.local_flow_control_window(stream_id)
                size = min(len(waiting), window, self.h2.max_outbound_frame_size)
                if size <= 0:
                    return
                self.h2.send_data(stream_id, bytes(waiting[:size]))
                del waiting[:size]
            self.outbox.pop(stream_id, None)
            if stream_id in self.ending:
                self.ending.discard(stream_id)
                self.h2.end_stream(stream_id)
        except h2.exceptions.StreamClosedError:
            self.outbox.pop(stream_id, None)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--certfile", required=True)
    parser.add_argument("--keyfile", required=True)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.certfile, args.keyfile)
    context.set_alpn_protocols(["h2"])
    server = await asyncio.get_running_loop().create_server(Http2, args.host, args.port, ssl=context)
    port = server.sockets[0].getsockname()[1]
    print(f"serving on https://{args.host}:{port}/", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
