"""One driver per library, behind the same small interface, so that every
workload runs the same way for each.

Each driver opens connections in memory, feeds bytes, and reduces what the
library reports to whole messages (text decoded to ``str``): what an
application needs, whatever the library's own events are.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

import aiohttp
import aiohttp._websocket.helpers as aiohttp_helpers
import aiohttp._websocket.reader as aiohttp_reader
import aiohttp._websocket.reader_py as aiohttp_reader_py
import aiohttp._websocket.writer as aiohttp_writer
import picows
import websockets.frames
import websockets.utils
import wsproto
import wsproto.events as wp
import wsproto.extensions
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsproto_lite import Connection, Role, _speed
from wsproto_lite import events as ev
from wsproto_lite.extensions import PerMessageDeflate

#: The zlib level every library compresses with (zlib's own default).
LEVEL = 6
_C_MASK = websockets.frames.apply_mask  # type: ignore[attr-defined]


class Load(Protocol):
    """What a driver may ask of a workload (benchmarks.run.Workload)."""

    name: str

    @property
    def frames(self) -> bool:
        """Frames in or out, the result checked: no handshake, ping or close
        to drive (what the anchors, aiohttp and picows, can run)."""


class Driver:
    name: ClassVar[str]

    def handshake(self) -> None:
        """One full opening handshake, both sides, in memory."""
        self.pair()

    def pair(self, deflate: bool = False) -> tuple[Any, Any]:
        """An open (client, server) pair with no size limits."""
        raise NotImplementedError

    def receive(self, conn: Any, chunks: Iterable[bytes]) -> tuple[int, int]:
        """Feed ``chunks``; return how many whole messages came out, and their
        total length (characters of text, bytes of binary): the run's result,
        checked against what was sent."""
        raise NotImplementedError

    def send(self, conn: Any, messages: list[str] | list[bytes]) -> list[bytes]:
        """Send each message, its event made as an application makes it, one
        per message; return what the library produced to write."""
        raise NotImplementedError

    def ping_pong(self, client: Any, server: Any) -> None:
        """Client pings, server answers, client reads the pong."""
        raise NotImplementedError

    def close(self, client: Any, server: Any) -> None:
        """The closing handshake, started by the client."""
        raise NotImplementedError

    def activate(self) -> None:
        """Called before each timed run (websockets switches its C mask here)."""

    def supports(self, load: Load) -> bool:
        """Whether this library can run ``load``."""
        return True


class Lite(Driver):
    """wsproto_lite with its compiled accelerator (wsproto_lite._speedups)."""

    name = "wsproto_lite"
    compiled = True

    def activate(self) -> None:
        _speed.select(self.compiled)

    def pair(self, deflate: bool = False) -> tuple[Connection, Connection]:
        extensions = [PerMessageDeflate(compress_level=LEVEL)] if deflate else []
        client = Connection(Role.CLIENT, max_message_size=None)
        server = Connection(Role.SERVER, max_message_size=None, extensions=extensions)
        server.receive_data(client.send(ev.Request(host="example.com", target="/", extensions=extensions)))
        for _ in server.events():
            pass
        client.receive_data(server.send(ev.Accept()))
        for _ in client.events():
            pass
        return client, server

    def receive(self, conn: Connection, chunks: Iterable[bytes]) -> tuple[int, int]:
        count = size = 0
        for chunk in chunks:
            conn.receive_data(chunk)
            for event in conn.events():
                count += 1
                size += len(event.data)  # type: ignore[union-attr]
        return count, size

    def send(self, conn: Connection, messages: list[str] | list[bytes]) -> list[bytes]:
        send, message = conn.send, ev.Message
        return [send(message(m)) for m in messages]

    def ping_pong(self, client: Connection, server: Connection) -> None:
        server.receive_data(client.send(ev.Ping(b"ping")))
        for _ in server.events():
            pass
        client.receive_data(server.data_to_send())
        for _ in client.events():
            pass

    def close(self, client: Connection, server: Connection) -> None:
        server.receive_data(client.send(ev.Close(1000, "bye")))
        for _ in server.events():
            pass
        client.receive_data(server.data_to_send())
        for _ in client.events():
            pass


class WsProto(Driver):
    name = "wsproto"

    def pair(self, deflate: bool = False) -> tuple[wsproto.WSConnection, wsproto.WSConnection]:
        client = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        offer = [wsproto.extensions.PerMessageDeflate()] if deflate else []
        server.receive_data(client.send(wp.Request(host="example.com", target="/", extensions=offer)))
        for _ in server.events():
            pass
        accept: list[wsproto.extensions.Extension] = (
            [wsproto.extensions.PerMessageDeflate()] if deflate else []
        )
        client.receive_data(server.send(wp.AcceptConnection(extensions=accept)))
        for _ in client.events():
            pass
        return client, server

    def receive(self, conn: wsproto.WSConnection, chunks: Iterable[bytes]) -> tuple[int, int]:
        count = size = 0
        parts: list[Any] = []
        for chunk in chunks:
            conn.receive_data(chunk)
            for event in conn.events():
                if isinstance(event, wp.Message):
                    if event.message_finished and not parts:
                        count += 1
                        size += len(event.data)
                        continue
                    parts.append(event.data)
                    if event.message_finished:
                        size += len(("" if isinstance(event.data, str) else b"").join(parts))
                        parts = []
                        count += 1
        return count, size

    def send(self, conn: wsproto.WSConnection, messages: list[str] | list[bytes]) -> list[bytes]:
        send = conn.send
        message: Any = wp.TextMessage if isinstance(messages[0], str) else wp.BytesMessage
        return [send(message(m)) for m in messages]

    def ping_pong(self, client: wsproto.WSConnection, server: wsproto.WSConnection) -> None:
        self._answered(client, server, wp.Ping(b"ping"))

    def close(self, client: wsproto.WSConnection, server: wsproto.WSConnection) -> None:
        self._answered(client, server, wp.CloseConnection(code=1000, reason="bye"))

    @staticmethod
    def _answered(client: wsproto.WSConnection, server: wsproto.WSConnection, event: wp.Event) -> None:
        """The client sends ``event``; wsproto leaves the answer to the server."""
        server.receive_data(client.send(event))
        out = b""
        for received in server.events():
            if isinstance(received, (wp.Ping, wp.CloseConnection)):
                out += server.send(received.response())
        client.receive_data(out)
        for _ in client.events():
            pass


class WebSockets(Driver):
    """The sans-IO core of websockets, with its C extension for masking."""

    name = "websockets"
    mask = staticmethod(_C_MASK)

    def activate(self) -> None:
        websockets.frames.apply_mask = self.mask  # type: ignore[attr-defined]

    def pair(self, deflate: bool = False) -> tuple[ClientProtocol, ServerProtocol]:
        settings = {"level": LEVEL, "memLevel": 8}
        client = ClientProtocol(
            parse_uri("ws://example.com/"),
            extensions=[ClientPerMessageDeflateFactory(compress_settings=settings)] if deflate else None,
            max_size=None,
        )
        server = ServerProtocol(
            extensions=[ServerPerMessageDeflateFactory(compress_settings=settings)] if deflate else None,
            max_size=None,
        )
        client.send_request(client.connect())
        server.receive_data(b"".join(client.data_to_send()))
        (request,) = server.events_received()
        server.send_response(server.accept(request))  # type: ignore[arg-type]
        client.receive_data(b"".join(server.data_to_send()))
        client.events_received()
        return client, server

    def receive(self, conn: ServerProtocol | ClientProtocol, chunks: Iterable[bytes]) -> tuple[int, int]:
        count = size = 0
        parts: list[bytes] = []
        opcode = Opcode.CONT
        for chunk in chunks:
            conn.receive_data(chunk)
            for frame in conn.events_received():
                assert isinstance(frame, Frame)
                if frame.opcode is not Opcode.CONT:
                    opcode = frame.opcode
                if frame.fin and not parts:
                    payload = bytes(frame.data)
                    count += 1
                    size += len(payload.decode() if opcode is Opcode.TEXT else payload)
                    continue
                parts.append(bytes(frame.data))
                if frame.fin:
                    payload = b"".join(parts)
                    parts = []
                    count += 1
                    size += len(payload.decode() if opcode is Opcode.TEXT else payload)
        return count, size

    def send(self, conn: ServerProtocol | ClientProtocol, messages: list[str] | list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(messages[0], str):
            for text in messages:
                conn.send_text(text.encode())
                out += conn.data_to_send()
        else:
            for data in messages:
                conn.send_binary(data)
                out += conn.data_to_send()
        return out

    def ping_pong(self, client: ClientProtocol, server: ServerProtocol) -> None:
        client.send_ping(b"ping")
        server.receive_data(b"".join(client.data_to_send()))
        server.events_received()
        client.receive_data(b"".join(server.data_to_send()))
        client.events_received()

    def close(self, client: ClientProtocol, server: ServerProtocol) -> None:
        client.send_close(1000, "bye")
        server.receive_data(b"".join(client.data_to_send()))
        server.events_received()
        client.receive_data(b"".join(server.data_to_send()))
        client.events_received()


class WebSocketsPy(WebSockets):
    """websockets with its C extension switched off: pure-Python masking."""

    name = "websockets-py"
    mask = staticmethod(websockets.utils.apply_mask)


class LitePy(Lite):
    """wsproto_lite in pure Python (as with WSPROTO_LITE_NO_SPEEDUPS=1)."""

    name = "wsproto_lite-py"
    compiled = False


DRIVERS: list[Driver] = [Lite(), LitePy(), WsProto(), WebSockets(), WebSocketsPy()]


class _Recorder:
    """What aiohttp's reader and writer need of a protocol and a transport:
    never paused, and the writes kept."""

    _reading_paused = False
    _paused = False

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.write = self.written.append

    def pause_reading(self) -> None:
        raise AssertionError("the queue has no limit here")

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class AioHttpSide:
    """One end of an aiohttp connection, driven in memory: its reader (and
    the queue it fills) and its writer."""

    def __init__(self, module: Any, client: bool, deflate: bool) -> None:
        self.transport = _Recorder()
        self.queue = module.WebSocketDataQueue(self.transport, 2**30, loop=None)
        self.reader = module.WebSocketReader(self.queue, max_msg_size=0, compress=deflate, decode_text=True)
        self.writer = aiohttp_writer.WebSocketWriter(
            self.transport,  # type: ignore[arg-type]
            self.transport,  # type: ignore[arg-type]
            use_mask=client,
            limit=2**62,
            compress=15 if deflate else 0,
        )


class AioHttp(Driver):
    """aiohttp's WebSocket reader and writer, with its C extensions (the
    reader in Cython, masking in C). An anchor, not a peer of the same kind:
    there is no sans-IO handshake to drive, only frames in and out; it
    reassembles fragments and checks UTF-8 as the others do."""

    name = "aiohttp"

    def supports(self, load: Load) -> bool:
        return load.frames

    reader: Any = aiohttp_reader  # the Cython reader and its queue, when built
    mask: Any = staticmethod(aiohttp_helpers.websocket_mask)

    def activate(self) -> None:
        # The Python reader and the writer look masking up in their modules.
        aiohttp_writer.websocket_mask = self.mask  # type: ignore[attr-defined]
        aiohttp_reader_py.websocket_mask = self.mask  # type: ignore[attr-defined]

    def pair(self, deflate: bool = False) -> tuple[AioHttpSide, AioHttpSide]:
        return AioHttpSide(self.reader, True, deflate), AioHttpSide(self.reader, False, deflate)

    def receive(self, conn: AioHttpSide, chunks: Iterable[bytes]) -> tuple[int, int]:
        count = size = 0
        feed, buffer = conn.reader.feed_data, conn.queue._buffer
        for chunk in chunks:
            feed(chunk)
            while buffer:  # the queue's messages, as its read() would hand them out
                message, _ = buffer.popleft()
                count += 1
                size += len(message.data)
        return count, size

    def send(self, conn: AioHttpSide, messages: list[str] | list[bytes]) -> list[bytes]:
        written = conn.transport.written
        start = len(written)
        send_frame = conn.writer.send_frame
        text = isinstance(messages[0], str)
        opcode = aiohttp.WSMsgType.TEXT if text else aiohttp.WSMsgType.BINARY
        for message in messages:
            step = send_frame(message.encode() if text else message, opcode)  # type: ignore[union-attr,arg-type]
            try:
                step.send(None)  # never suspends: nothing is ever paused here
            except StopIteration:
                pass
            else:
                raise AssertionError("aiohttp's writer waited")
        return written[start:]


class AioHttpPy(AioHttp):
    """aiohttp's pure-Python reader and masking."""

    name = "aiohttp-py"
    reader = aiohttp_reader_py
    mask = staticmethod(aiohttp_helpers._websocket_mask_python)


class _PicoTransport(asyncio.Transport):
    """What picows's protocol needs of asyncio's transport: a TCP socket to
    set options on (one, shared, never used for data), and the writes kept."""

    _sockets: ClassVar[list[socket.socket]] = []

    def __init__(self) -> None:
        super().__init__()
        if not self._sockets:
            listener = socket.create_server(("127.0.0.1", 0))
            client = socket.create_connection(listener.getsockname())
            _PicoTransport._sockets += [listener, client, listener.accept()[0]]
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        peer = ("127.0.0.1", 0)
        return {"socket": self._sockets[2], "peername": peer, "sockname": peer}.get(name, default)

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        # Not 0: with an empty buffer picows would send() on the socket
        # itself; this way its frames come to write(), as everyone's do here.
        return 1

    def is_closing(self) -> bool:
        return False


class _PicoSide(picows.WSListener):
    """One end of a picows connection: its protocol, its transport, and what
    its frames add up to (picows hands out frames: the harness joins the
    pieces of a message and decodes text, as for websockets)."""

    def __init__(self, client: bool) -> None:
        self.transport = _PicoTransport()
        self.count = self.size = 0
        self.parts: list[bytes] = []
        self.text = False
        factory = (lambda *_: self) if client else (lambda _: self)
        self.protocol = _LOOP.run_until_complete(_pico_protocol(client, factory))
        self.protocol.connection_made(self.transport)

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        protocol = self.protocol
        while view:
            buffer = protocol.get_buffer(len(view))
            n = min(len(buffer), len(view))
            buffer[:n] = view[:n]
            protocol.buffer_updated(n)
            view = view[n:]

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        kind = frame.msg_type
        if kind is not picows.WSMsgType.CONTINUATION:
            self.text = kind is picows.WSMsgType.TEXT
        if frame.fin and not self.parts:
            self.count += 1
            self.size += len(frame.get_payload_as_utf8_text() if self.text else frame.get_payload_as_bytes())
            return
        self.parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            payload = b"".join(self.parts)
            self.parts = []
            self.count += 1
            self.size += len(payload.decode() if self.text else payload)


_LOOP = asyncio.new_event_loop()  # picows's protocol asks for a running loop when it is made


async def _pico_protocol(client: bool, factory: Any) -> Any:
    return picows.picows.WSProtocol(  # type: ignore[attr-defined]
        "example.com:80" if client else None,
        "/",
        client,
        factory,
        logging.getLogger("picows"),
        True,  # disconnect on exception
        None,  # no handshake timeout
        False,  # no auto ping
        10,
        10,
        picows.WSAutoPingStrategy.PING_WHEN_IDLE,
        False,  # no auto pong
        2**31,  # max frame size
        None,
        2**16,
    )


class PicoWs(Driver):
    """picows, Cython with SIMD masking: the other compiled anchor.  Frames
    only (the harness joins fragments and decodes text), no compression."""

    name = "picows"

    def supports(self, load: Load) -> bool:
        return load.frames and "deflate" not in load.name

    def pair(self, deflate: bool = False) -> tuple[_PicoSide, _PicoSide]:
        client, server = _PicoSide(True), _PicoSide(False)
        server.feed(b"".join(client.transport.written))
        client.feed(b"".join(server.transport.written))
        client.transport.written.clear()
        server.transport.written.clear()
        return client, server

    def receive(self, conn: _PicoSide, chunks: Iterable[bytes]) -> tuple[int, int]:
        feed = conn.feed
        for chunk in chunks:
            feed(chunk)
        return conn.count, conn.size

    def send(self, conn: _PicoSide, messages: list[str] | list[bytes]) -> list[bytes]:
        send = conn.protocol.transport.send
        written = conn.transport.written
        start = len(written)
        if isinstance(messages[0], str):
            for text in messages:
                send(picows.WSMsgType.TEXT, text.encode())
        else:
            for data in messages:
                send(picows.WSMsgType.BINARY, data)
        return written[start:]


ANCHORS: list[Driver] = [AioHttp(), AioHttpPy(), PicoWs()]
