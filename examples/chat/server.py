"""The chat server of the documents this project grew from, on asyncio.

    python examples/chat/server.py [--host 127.0.0.1] [--port 8000] [--redis URL]

One process serves the page over plain HTTP and the WebSockets on the same
port: h11 reads each request; ``GET /`` gets the page, an upgrade to
``/ws/<nickname>`` (URL-encoded) becomes a WebSocket through
``Connection.receive_request``, anything else a 404.  The wire protocol:

* the page sends each chat message as a text frame;
* every *other* user receives ``{"sender": <nickname>, "msg": <text>}``;
* joins and leaves are announced as ``{"type": "join" | "leave", "user": <nickname>}``.

A user is in one room: ``/ws/<nickname>?room=<name>`` (without a room,
the one everyone shares; the page uses that).  With ``--redis
redis://host:port/`` several chat processes share the rooms through Redis
publish/subscribe (rooms.py); without it the rooms live in this process.

Limits, and what a user sees when they are broken:

* text messages up to 64 KiB (more: the connection fails with 1009);
* a binary message closes the connection with 1003 (unsupported data);
* an empty nickname, or one already taken, closes it with 1008 and a reason;
* each connection's outgoing queue (its asyncio transport's buffer) holds
  at most ``QUEUE_LIMIT`` bytes (1 MiB) of frames not yet written, and
  then one close frame: a client that falls further behind is closed with
  1008 ("too slow"): it broke the server's policy of keeping up, and
  waiting would not help it (1013, "try again later", is for a server that
  is overloaded, which this is not).  One slow client never holds up the
  others: nothing waits for a client to read; its frames go to its own
  buffer.  A client that reads nothing at all is dropped one second later.

It logs one line for each join (``join 'ada' (compressed)``) and each leave,
with the close code that ended it (``leave 'ada' (close 1001)``; 1006 when
the TCP connection ended without a closing handshake).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote

import h11
from rooms import RedisRooms, Rooms

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Reject, RejectData, Request
from wsproto_lite.extensions import PerMessageDeflate

PAGE = (Path(__file__).parent / "page.html").read_bytes()
MAX_MESSAGE = 64 * 1024
QUEUE_LIMIT = 1024 * 1024
RECEIVE_SIZE = 65536
#: Seconds a client over the queue limit has to read its close frame.
SLOW_GRACE = 1.0
#: Connections the kernel may hold for us before we accept them: many
#: users arriving at once (a reconnect storm) are not refused.
BACKLOG = 1024


class Client:
    """One user: their connection, and their transport, whose buffer holds
    what they have not read yet."""

    def __init__(self, nickname: str, room: str, conn: Connection, writer: asyncio.StreamWriter) -> None:
        self.nickname = nickname
        self.room = room
        self.conn = conn
        self.transport = writer.transport
        self.too_slow = False
        self.close_code = 1006  # until a Close event says otherwise

    def deliver(self, text: str) -> None:
        """Send a message to this user (the rooms call it)."""
        if self.conn.state is ConnectionState.OPEN:
            self.write(self.conn.send(Message(text)))

    def write(self, data: bytes) -> None:
        """Write, or close a user with more than QUEUE_LIMIT bytes unread.

        The transport's buffer is the user's queue: asyncio writes what the
        socket takes at once and keeps the rest.  Over the limit, the close
        frame waits behind what the user has not read, and a user that
        reads nothing at all is dropped after SLOW_GRACE."""
        if self.transport.is_closing() or self.too_slow or not data:
            return
        if self.transport.get_write_buffer_size() + len(data) > QUEUE_LIMIT:
            self.too_slow = True
            self.close(1008, "too slow: more than 1 MiB waiting to be sent")
            asyncio.get_running_loop().call_later(SLOW_GRACE, self.transport.abort)
            return
        self.transport.write(data)

    def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(LocalProtocolError):  # already closing
            self.transport.write(self.conn.send(Close(code, reason)))


@dataclass
class Chat:
    """What every connection shares: the rooms, and the keepalive period."""

    rooms: Rooms
    ping_interval: float | None = 20.0


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chat: Chat) -> None:
    """One TCP connection: an HTTP request, then perhaps a WebSocket."""
    try:
        await handle_http(reader, writer, chat)
    except (OSError, h11.ProtocolError) as error:
        log(f"connection lost: {error}")
    finally:
        writer.close()


def log(line: str) -> None:
    print(line, flush=True)


async def handle_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chat: Chat) -> None:
    http = h11.Connection(h11.SERVER)
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(await reader.read(RECEIVE_SIZE))
            continue
        break
    if not isinstance(event, h11.Request):
        return
    target = event.target.decode("latin-1")
    upgrade = dict(event.headers).get(b"upgrade", b"").lower() == b"websocket"
    if upgrade and target.startswith("/ws/"):
        conn = Connection(
            Role.SERVER,
            max_message_size=MAX_MESSAGE,
            extensions=[PerMessageDeflate()],
            ping_interval=chat.ping_interval,
            ping_timeout=20,
            close_timeout=10,
        )
        await open_websocket(conn, event, bytes(http.trailing_data[0]), reader, writer, chat.rooms)
        return
    status, body = (200, PAGE) if target == "/" else (404, b"not found\n")
    kind = b"text/html; charset=utf-8" if status == 200 else b"text/plain"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    writer.write(http.send(h11.Response(status_code=status, headers=headers)) or b"")
    writer.write(http.send(h11.Data(data=body)) or b"")
    writer.write(http.send(h11.EndOfMessage()) or b"")
    await writer.drain()


async def open_websocket(
    conn: Connection,
    request: h11.Request,
    early: bytes,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    rooms: Rooms,
) -> None:
    """The handshake from the request h11 read, then the chat."""
    try:
        conn.receive_request(request.method, request.target, request.headers)
    except RemoteProtocolError as error:
        writer.write(conn.send(Reject(error.status_code or 400, headers=error.headers, has_body=True)))
        writer.write(conn.send(RejectData(error.reason.encode())))
        return
    (ws_request,) = [e for e in conn.events() if isinstance(e, Request)]
    writer.write(conn.send(Accept()))
    if early:
        conn.receive_data(early)
    path, _, query = ws_request.target.partition("?")
    nickname = unquote(path[4:])
    room = parse_qs(query).get("room", [""])[0]
    client = Client(nickname, room, conn, writer)
    if not nickname.strip() or not await rooms.add(client):
        taken = "that nickname is taken: pick another"
        client.close(1008, taken if nickname.strip() else "a nickname cannot be empty")
        await read_loop(client, reader, None)  # until the user answers, or the close timeout
        return
    log(f"join {nickname!r} ({'compressed' if conn.extensions else 'uncompressed'})")
    await rooms.broadcast(client, {"type": "join", "user": nickname})
    try:
        await read_loop(client, reader, rooms)
    finally:
        await rooms.remove(client)
        log(f"leave {nickname!r} (close {client.close_code})")
        await rooms.broadcast(client, {"type": "leave", "user": nickname})
        try:
            async with asyncio.timeout(5):
                await writer.drain()  # what the user has not read yet
        except TimeoutError:  # a user that does not read: drop them
            writer.transport.abort()


async def read_loop(client: Client, reader: asyncio.StreamReader, rooms: Rooms | None) -> None:
    """Feed what arrives to the connection, with its timers, until it
    ends; route the messages to the user's room (with no rooms: a refused
    user, whose close frame is on its way)."""
    conn = client.conn
    loop = asyncio.get_running_loop()
    conn.handle_timer(loop.time())
    while not conn.should_close_transport:
        try:
            async with asyncio.timeout_at(conn.get_timer()):
                data = await reader.read(RECEIVE_SIZE)
        except TimeoutError:
            conn.handle_timer(loop.time())
        else:
            conn.receive_data(data, now=loop.time())
        for event in conn.events():
            if isinstance(event, Message) and rooms is not None:
                if isinstance(event.data, str):
                    await rooms.broadcast(client, {"sender": client.nickname, "msg": event.data})
                else:
                    client.close(1003, "this chat takes text messages only")
            elif isinstance(event, Close):
                client.close_code = event.code
        client.write(conn.data_to_send())


async def main() -> None:
    parser = argparse.ArgumentParser(description="The chat server: open the page in a browser.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--ping-interval", type=float, default=20, help="seconds between keepalive pings; 0: none"
    )
    parser.add_argument(
        "--redis", metavar="URL", help="share the rooms with other processes through this Redis"
    )
    args = parser.parse_args()
    rooms = Rooms()
    if args.redis:
        rooms = redis_rooms = RedisRooms(args.redis)
        await redis_rooms.start()
    chat = Chat(rooms, args.ping_interval or None)
    server = await asyncio.start_server(
        lambda reader, writer: serve(reader, writer, chat), args.host, args.port, backlog=BACKLOG
    )
    host, port = server.sockets[0].getsockname()[:2]
    print(f"chat on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        await rooms.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
