"""The chat of examples/chat/ over HTTP/2 (RFC 8441): the page and its
WebSockets on one HTTP/2 connection, over TLS.

    python examples/h2_server.py --certfile cert.pem --keyfile key.pem [--port 8443]

One asyncio process on the h2 library (``pip install h2``: a dependency of
this example and the tests, not of wsproto_lite).  TLS offers ALPN ``h2``
only; the server's SETTINGS allow extended CONNECT
(SETTINGS_ENABLE_CONNECT_PROTOCOL = 1), so a browser that loaded the page
over HTTP/2 opens the chat's WebSocket as a CONNECT with ``:protocol
websocket`` on a new stream of the same connection, not as an HTTP/1.1
upgrade.  ``GET /`` is the chat's page; a WebSocket on
``/ws/<nickname>?room=<name>`` joins the chat, the same ``Client`` and
``Rooms`` as examples/chat/server.py (the wire protocol, limits and close
codes of its docstring), its transport one HTTP/2 stream: the stream's
END_STREAM and RST_STREAM end its byte stream, and HTTP/2 flow control is
its back-pressure (see docs/howto/http2.md).  It logs one line per WebSocket
opened, naming its stream, and the chat's join and leave lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

sys.path.insert(0, str(Path(__file__).resolve().parent / "chat"))

from rooms import Rooms as ChatRooms
from server import MAX_MESSAGE, PAGE, Chat, Client

from wsproto_lite import RemoteProtocolError, extended_connect
from wsproto_lite.events import Accept, Reject
from wsproto_lite.extensions import PerMessageDeflate


class Http2(asyncio.Protocol):
    """One HTTP/2 connection: the page on GET /, a chat user per extended
    CONNECT stream."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

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
        self.clients: dict[int, Client] = {}
        self.joining: set[asyncio.Task[None]] = set()
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
        for client in list(self.clients.values()):
            client.receive(b"")  # the TCP connection, and every stream on it, is gone

    def flush(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.request(event.stream_id, event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id in self.clients:
                self.clients[event.stream_id].receive(event.data)
        elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
            client = self.clients.pop(event.stream_id, None)
            if client is not None:
                client.receive(b"")  # END_STREAM: a FIN; RST_STREAM: a reset
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
            self.outbox[stream_id] = bytearray(body)
            self.ending.add(stream_id)
            self.write(stream_id)
            return
        try:
            request = extended_connect.parse_request(headers)
        except RemoteProtocolError as error:
            refusal = extended_connect.reject(Reject(error.status_code or 400, headers=error.headers))
            self.h2.send_headers(stream_id, refusal, end_stream=True)
            return
        path, _, query = request.target.partition("?")
        if not path.startswith("/ws/"):
            self.h2.send_headers(stream_id, extended_connect.reject(Reject(404)), end_stream=True)
            return
        answer, conn = extended_connect.accept(
            request,
            Accept(),
            extensions=[PerMessageDeflate()],
            max_message_size=MAX_MESSAGE,
            ping_interval=self.chat.ping_interval,
            ping_timeout=20,
            close_timeout=10,
        )
        self.h2.send_headers(stream_id, answer)
        print(f"websocket on HTTP/2 stream {stream_id}: :method CONNECT, :protocol websocket", flush=True)
        room = parse_qs(query).get("room", [""])[0]
        # The chat's Client, on a stream: StreamTransport has the five methods it uses of a transport.
        transport = StreamTransport(self, stream_id)
        client = Client(unquote(path[4:]), room, conn, transport, self.chat)  # type: ignore[arg-type]
        self.clients[stream_id] = client
        task = asyncio.get_running_loop().create_task(client.join())
        self.joining.add(task)  # kept until done: a task with no reference may be collected
        task.add_done_callback(self.joining.discard)

    def write(self, stream_id: int) -> None:
        """Send what waits for ``stream_id`` as flow control allows; end the
        stream once all of it is out and nothing more is to come."""
        waiting = self.outbox.get(stream_id, bytearray())
        try:
            while waiting:
                window = self.h2.local_flow_control_window(stream_id)
                size = min(len(waiting), window, self.h2.max_outbound_frame_size)
                if size <= 0:
                    return  # the peer's WINDOW_UPDATE lets the rest go
                self.h2.send_data(stream_id, bytes(waiting[:size]))
                del waiting[:size]
            self.outbox.pop(stream_id, None)
            if stream_id in self.ending:
                self.ending.discard(stream_id)
                self.h2.end_stream(stream_id)
        except h2.exceptions.StreamClosedError:
            self.outbox.pop(stream_id, None)
            self.ending.discard(stream_id)


class StreamTransport:
    """What the chat's ``Client`` needs of its transport, on one HTTP/2
    stream: what waits for flow control is its write buffer (the chat
    closes a user who lets it grow past 1 MiB), closing ends the stream once
    the buffer is out, aborting resets it."""

    def __init__(self, http2: Http2, stream_id: int) -> None:
        self.http2 = http2
        self.stream_id = stream_id
        self.closing = False

    def write(self, data: bytes) -> None:
        if self.closing or not data:
            return
        self.http2.outbox.setdefault(self.stream_id, bytearray()).extend(data)
        self.http2.write(self.stream_id)
        self.http2.flush()  # written from other users' streams too, outside data_received

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.http2.ending.add(self.stream_id)
            self.http2.write(self.stream_id)
            self.http2.flush()

    def abort(self) -> None:
        self.closing = True
        self.http2.outbox.pop(self.stream_id, None)
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.http2.h2.reset_stream(self.stream_id, h2.errors.ErrorCodes.CANCEL)
        self.http2.flush()

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return len(self.http2.outbox.get(self.stream_id, b""))


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
    chat = Chat(ChatRooms())
    server = await asyncio.get_running_loop().create_server(
        lambda: Http2(chat), args.host, args.port, ssl=context
    )
    port = server.sockets[0].getsockname()[1]
    print(f"chat on https://{args.host}:{port}/ (HTTP/2)", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
