"""Who is in which room, and how a message reaches them.

A user is in one room, named in the query of the URL they connect to
(``/ws/<nickname>?room=<name>``; without it, the room everyone shares, ``""``).
A nickname is unique within its room.

``Rooms`` keeps everything in this process (the default).  ``RedisRooms``
lets several chat processes, on one machine or many, share the rooms through
Redis: each room's nicknames are one Redis set (so a name is taken across
every process), and everything said in a room is published on that room's
channel; each process subscribes to all of them (one pattern, one Redis
connection) and delivers to its own users.

Publish/subscribe has no snapshot: a join or a message published just
before a user joins another process may still reach them there, as it
would have had they joined a moment earlier.

What this process says to Redis (messages, names given back) waits in an
outbox that one task empties in order; if Redis falls behind, the outbox
grows (a real deployment would bound it and stop reading from its users
meanwhile).

A process that dies without saying goodbye leaves its users' names in the
sets; a real deployment would give each name a lease (a key with a TTL that
the process renews), which is more Redis than this example needs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Member(Protocol):
    """What a room needs of a user: their name, their room, a way to reach them."""

    nickname: str
    room: str

    def deliver(self, text: str) -> None: ...


class Rooms:
    """Everyone connected to this process: room name -> nickname -> member."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, Member]] = {}

    async def add(self, member: Member) -> bool:
        """Add a member to their room; False when the nickname is taken there."""
        if member.nickname in self.rooms.get(member.room, {}) or not await self.claim(member):
            return False
        # The room is looked up again: while Redis was asked, its last member
        # may have left, and an emptied room is dropped.
        self.rooms.setdefault(member.room, {})[member.nickname] = member
        return True

    def remove(self, member: Member) -> None:
        room = self.rooms.get(member.room, {})
        if room.get(member.nickname) is member:
            del room[member.nickname]
            if not room:
                del self.rooms[member.room]
            self.release(member.room, member.nickname)

    async def claim(self, member: Member) -> bool:
        """Take a nickname that no member of this process has in that room;
        False when another process has it."""
        return True

    def release(self, room: str, nickname: str) -> None:
        """Give a nickname back."""

    def broadcast(self, sender: Member, payload: dict[str, str]) -> None:
        """Send ``payload`` to everyone in the sender's room but the sender."""
        self.deliver(sender.room, sender.nickname, json.dumps(payload))

    def deliver(self, room: str, skip: str, text: str) -> None:
        """Give ``text`` (encoded once for everyone) to the room, but ``skip``."""
        for member in list(self.rooms.get(room, {}).values()):
            if member.nickname != skip:
                member.deliver(text)

    async def close(self) -> None:
        """Release what the rooms hold."""


class RedisRooms(Rooms):
    """Rooms shared by every chat process connected to the same Redis."""

    PREFIX = "wsproto_lite:chat:"

    def __init__(self, url: str) -> None:
        import redis.asyncio  # only this mode needs redis-py

        super().__init__()
        self.redis: Any = redis.asyncio.from_url(url)
        self.pubsub: Any = self.redis.pubsub()
        # What is to be said to Redis, in order: one task says it.
        self.outbox: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe before the first user can join, so nothing is missed."""
        await self.pubsub.psubscribe(self.PREFIX + "room:*")
        self.tasks = [asyncio.create_task(self.listen()), asyncio.create_task(self.send())]

    async def send(self) -> None:
        while True:
            job = await self.outbox.get()
            await job()

    async def claim(self, member: Member) -> bool:
        return bool(await self.redis.sadd(self.PREFIX + "users:" + member.room, member.nickname))

    def release(self, room: str, nickname: str) -> None:
        self.outbox.put_nowait(lambda: self.redis.srem(self.PREFIX + "users:" + room, nickname))

    def broadcast(self, sender: Member, payload: dict[str, str]) -> None:
        # Every process delivers it, this one included (when Redis hands it
        # back): one path, and the same order everywhere.  A nickname is
        # unique in its room across the processes, so skipping it anywhere
        # is right.
        message = json.dumps({"skip": sender.nickname, "text": json.dumps(payload)})
        channel = self.PREFIX + "room:" + sender.room
        self.outbox.put_nowait(lambda: self.redis.publish(channel, message))

    async def listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] != "pmessage":
                continue
            room = message["channel"].decode().removeprefix(self.PREFIX + "room:")
            published = json.loads(message["data"])
            self.deliver(room, published["skip"], published["text"])

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        while not self.outbox.empty():  # what was left to say, then goodbye
            await self.outbox.get_nowait()()
        for room, members in list(self.rooms.items()):
            for nickname in list(members):
                await self.redis.srem(self.PREFIX + "users:" + room, nickname)
        await self.pubsub.aclose()
        await self.redis.aclose()
