"""The chat server of the documents this project grew from, on asyncio.

    python examples/chat/server.py [--host 127.0.0.1] [--port 8000] [--redis URL]

One process serves the page over plain HTTP and the WebSockets on the same
port: h11 reads each request; ``GET /`` gets the page, an upgrade to
``/ws/<nickname>`` (URL-encoded) becomes a WebSocket through
``Connection.receive_request``, anything else a 404.  Each TCP connection is
an ``asyncio.Protocol`` (``ChatProtocol``): no task, no stream objects,
the connection's timers on the loop's ``call_at`` (so that ten thousand
users cost little memory each: benchmarks/c10k.py).  The wire protocol:

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
from dataclasses import dataclass, field
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
#: Seconds a client over the queue limit has to read its close frame.
SLOW_GRACE = 1.0
#: Connections the kernel may hold for us before we accept them: many
#: users arriving at once (a reconnect storm) are not refused.
BACKLOG = 1024


class Cork:
    """Writes gathered per user and loop iteration.  A user's first write of
    an iteration goes out at once; what else the iteration has for them
    waits for its end and goes out in one system call.  A burst of joins or
    messages then costs a send per user, not per message (the kernel's part
    of a send is most of its cost: benchmarks/c10k.py)."""

    def __init__(self) -> None:
        self.corked: list[Client] = []

    def add(self, client: Client) -> None:
        if not self.corked:
            asyncio.get_running_loop().call_soon(self.flush)
        self.corked.append(client)

    def flush(self) -> None:
        corked, self.corked = self.corked, []
        for client in corked:
            client.uncork()


@dataclass
class Chat:
    """What every connection shares: the rooms, the keepalive period, and
    the cork."""

    rooms: Rooms
    ping_interval: float | None = 20.0
    cork: Cork = field(default_factory=Cork)


def log(line: str) -> None:
    print(line, flush=True)


class ChatProtocol(asyncio.Protocol):
    """One TCP connection: its HTTP request through h11, then the page, a
    404, or a WebSocket (a ``Client``), to which all it receives then goes."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.http: h11.Connection | None = h11.Connection(h11.SERVER)
        self.client: Client | None = None
        self.transport: asyncio.Transport | None = None
        self.joining: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.client is not None:
            self.client.receive(data)
        elif self.http is not None:
            self.http.receive_data(data)
            self.read_request()

    def eof_received(self) -> bool:
        if self.client is not None:
            self.client.receive(b"")
            return True  # the client closes the transport when the connection says so
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:  # the end of the stream, told again if it was already
            self.client.receive(b"")

    def read_request(self) -> None:
        assert self.http is not None
        assert self.transport is not None
        try:
            event = self.http.next_event()
        except h11.RemoteProtocolError as error:
            log(f"bad request: {error}")
            self.transport.close()
            return
        if event is h11.NEED_DATA:
            return
        if not isinstance(event, h11.Request):
            self.transport.close()
            return
        target = event.target.decode("latin-1")
        upgrade = dict(event.headers).get(b"upgrade", b"").lower() == b"websocket"
        if upgrade and target.startswith("/ws/"):
            early = bytes(self.http.trailing_data[0])
            self.http = None  # h11's part is over
            self.upgrade(event, early)
        else:
            self.respond(target)

    def respond(self, target: str) -> None:
        """The page, or a 404; then close."""
        assert self.http is not None
        assert self.transport is not None
        status, body = (200, PAGE) if target == "/" else (404, b"not found\n")
        kind = b"text/html; charset=utf-8" if status == 200 else b"text/plain"
        headers = [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(self.http.send(h11.Response(status_code=status, headers=headers)) or b"")
        self.transport.write(self.http.send(h11.Data(data=body)) or b"")
        self.transport.write(self.http.send(h11.EndOfMessage()) or b"")
        self.transport.close()

    def upgrade(self, request: h11.Request, early: bytes) -> None:
        """The handshake from the request h11 read, then the chat."""
        assert self.transport is not None
        conn = Connection(
            Role.SERVER,
            max_message_size=MAX_MESSAGE,
            extensions=[PerMessageDeflate()],
            ping_interval=self.chat.ping_interval,
            ping_timeout=20,
            close_timeout=10,
        )
        try:
            conn.receive_request(request.method, request.target, request.headers)
        except RemoteProtocolError as error:
            self.transport.write(
                conn.send(Reject(error.status_code or 400, headers=error.headers, has_body=True))
            )
            self.transport.write(conn.send(RejectData(error.reason.encode())))
            self.transport.close()
            return
        (ws_request,) = [e for e in conn.events() if isinstance(e, Request)]
        self.transport.write(conn.send(Accept()))
        path, _, query = ws_request.target.partition("?")
        nickname = unquote(path[4:])
        room = parse_qs(query).get("room", [""])[0]
        self.client = Client(nickname, room, conn, self.transport, self.chat)
        if early:  # sent behind the request, in the same read (b"" would mean the end)
            self.client.receive(early)
        # Kept: a task with no reference to it may be collected mid-way.
        self.joining = asyncio.get_running_loop().create_task(self.client.join())


class Client:
    """One user: their connection, and their transport, whose buffer holds
    what they have not read yet."""

    def __init__(
        self, nickname: str, room: str, conn: Connection, transport: asyncio.Transport, chat: Chat
    ) -> None:
        self.nickname = nickname
        self.room = room
        self.conn = conn
        self.transport = transport
        self.rooms = chat.rooms
        self.cork = chat.cork
        self.pending: list[bytes] | None = None  # None: nothing written this iteration
        self.pending_size = 0
        self.loop = asyncio.get_running_loop()
        self.joined = False  # events wait until the room has said yes
        self.left = False
        self.too_slow = False
        self.close_code = 1006  # until a Close event says otherwise
        self.timer: asyncio.TimerHandle | None = None
        self.deadline: float | None = None
        conn.handle_timer(self.loop.time())

    async def join(self) -> None:
        nickname = self.nickname
        added = bool(nickname.strip()) and await self.rooms.add(self)
        if self.left:  # gone while the room was asked
            if added:
                self.rooms.remove(self)
            return
        if not added:
            taken = "that nickname is taken: pick another"
            self.close(1008, taken if nickname.strip() else "a nickname cannot be empty")
            self.left = True  # never joined: nothing to announce
        else:
            self.joined = True
            log(f"join {nickname!r} ({'compressed' if self.conn.extensions else 'uncompressed'})")
            self.rooms.broadcast(self, {"type": "join", "user": nickname})
        self.process()

    def receive(self, data: bytes) -> None:
        self.conn.receive_data(data, now=self.loop.time())
        self.process()

    def process(self) -> None:
        """Handle what the connection has for us, write what it owes the
        user, and keep its timer; close TCP when it says so."""
        conn = self.conn
        if self.joined:
            for event in conn.events():
                if isinstance(event, Message):
                    if isinstance(event.data, str):
                        self.rooms.broadcast(self, {"sender": self.nickname, "msg": event.data})
                    else:
                        self.close(1003, "this chat takes text messages only")
                elif isinstance(event, Close):
                    self.close_code = event.code
        elif self.left:  # refused: only the closing handshake is left
            for _ in conn.events():
                pass
        self.write(conn.data_to_send())
        if conn.should_close_transport:
            self.uncork()
            self.transport.close()  # the server closes first (RFC 6455, 7.1.1)
            self.leave()
        self.keep_time()

    def keep_time(self) -> None:
        deadline = self.conn.get_timer()
        if deadline == self.deadline or self.transport.is_closing():
            return
        if self.timer is not None:
            self.timer.cancel()
        self.deadline = deadline
        self.timer = None if deadline is None else self.loop.call_at(deadline, self.on_timer)

    def on_timer(self) -> None:
        self.deadline = None
        self.conn.handle_timer(self.loop.time())
        self.process()

    def leave(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.left:
            return
        self.left = True
        if self.joined:
            self.rooms.remove(self)
            log(f"leave {self.nickname!r} (close {self.close_code})")
            self.rooms.broadcast(self, {"type": "leave", "user": self.nickname})

    def deliver(self, text: str) -> None:
        """Send a message to this user (the rooms call it)."""
        if self.conn.state is ConnectionState.OPEN:
            self.write(self.conn.send(Message(text)))

    def write(self, data: bytes) -> None:
        """Write, or close a user with more than QUEUE_LIMIT bytes unread.

        The transport's buffer (with this iteration's corked writes) is the
        user's queue: asyncio writes what the socket takes at once and keeps
        the rest.  Over the limit, the close frame waits behind what the
        user has not read, and a user that reads nothing at all is dropped
        after SLOW_GRACE."""
        if self.too_slow or not data:
            return
        if self.transport.get_write_buffer_size() + self.pending_size + len(data) > QUEUE_LIMIT:
            self.too_slow = True
            self.close(1008, "too slow: more than 1 MiB waiting to be sent")
            self.loop.call_later(SLOW_GRACE, self.transport.abort)
            return
        self.put(data)

    def put(self, data: bytes) -> None:
        """The first write of an iteration now, the others at its end (Cork)."""
        if self.transport.is_closing():
            return
        if self.pending is None:
            self.transport.write(data)
            self.pending = []
            self.cork.add(self)
        else:
            self.pending.append(data)
            self.pending_size += len(data)

    def uncork(self) -> None:
        """Write what this iteration gathered, in one call."""
        pending, self.pending, self.pending_size = self.pending, None, 0
        if pending and not self.transport.is_closing():
            self.transport.write(b"".join(pending))

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame behind what is queued, limit or not: it is the
        last frame the user gets."""
        with contextlib.suppress(LocalProtocolError):  # already closing
            self.put(self.conn.send(Close(code, reason), now=self.loop.time()))


async def main() -> None:
    parser = argparse.ArgumentParser(description="The chat server: open the page in a browser.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ping-interval", type=float, default=20, help="seconds between pings; 0: none")
    parser.add_argument(
        "--redis", metavar="URL", help="share the rooms with other processes through this Redis"
    )
    args = parser.parse_args()
    rooms = Rooms()
    if args.redis:
        rooms = redis_rooms = RedisRooms(args.redis)
        await redis_rooms.start()
    chat = Chat(rooms, args.ping_interval or None)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ChatProtocol(chat), args.host, args.port, backlog=BACKLOG)
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
