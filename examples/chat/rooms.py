"""Who is in the chat, and how a message reaches them.

``Room`` keeps everything in this process (the default).  ``RedisRoom``
lets several chat processes, on one machine or many, share one room through
Redis: nicknames are members of one Redis set (so a name is taken across
every process), and every message and announcement is published on one
channel that each process subscribes to and delivers to its own users.

Publish/subscribe has no snapshot: a join or a message published just
before a user joins another process may still reach them there, as it
would have had they joined a moment earlier.

A process that dies without saying goodbye leaves its users' names in the
set; a real deployment would give each name a lease (a key with a TTL that
the process renews), which is more Redis than this example needs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol


class Member(Protocol):
    """What a room needs of a user: their name and a way to reach them."""

    nickname: str

    def deliver(self, payload: dict[str, str]) -> None: ...


class Room:
    """Everyone connected to this process, by nickname."""

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}

    async def add(self, member: Member) -> bool:
        """Add a member; False when the nickname is taken."""
        if member.nickname in self.members or not await self.claim(member.nickname):
            return False
        self.members[member.nickname] = member
        return True

    async def remove(self, member: Member) -> None:
        if self.members.get(member.nickname) is member:
            del self.members[member.nickname]
            await self.release(member.nickname)

    async def claim(self, nickname: str) -> bool:
        """Take a nickname that no member of this process has; False when
        another process has it."""
        return True

    async def release(self, nickname: str) -> None:
        """Give a nickname back."""

    async def broadcast(self, sender: Member | None, payload: dict[str, str]) -> None:
        """Send ``payload`` to everyone but ``sender``."""
        self.deliver(None if sender is None else sender.nickname, payload)

    def deliver(self, skip: str | None, payload: dict[str, str]) -> None:
        for member in list(self.members.values()):
            if member.nickname != skip:
                member.deliver(payload)

    async def close(self) -> None:
        """Release what the room holds."""


class RedisRoom(Room):
    """One room shared by every chat process connected to the same Redis."""

    USERS = "wsproto_lite:chat:users"
    CHANNEL = "wsproto_lite:chat"

    def __init__(self, url: str) -> None:
        import redis.asyncio  # only this mode needs redis-py

        super().__init__()
        self.redis: Any = redis.asyncio.from_url(url)
        self.pubsub: Any = self.redis.pubsub()
        self.listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before the first user can join, so nothing is missed."""
        await self.pubsub.subscribe(self.CHANNEL)
        self.listener = asyncio.create_task(self.listen())

    async def claim(self, nickname: str) -> bool:
        return bool(await self.redis.sadd(self.USERS, nickname))

    async def release(self, nickname: str) -> None:
        await self.redis.srem(self.USERS, nickname)

    async def broadcast(self, sender: Member | None, payload: dict[str, str]) -> None:
        # Every process delivers it, this one included (when Redis hands it
        # back): one path, and the same order everywhere.  A nickname is
        # unique across the processes, so skipping it anywhere is right.
        skip = None if sender is None else sender.nickname
        await self.redis.publish(self.CHANNEL, json.dumps({"skip": skip, "payload": payload}))

    async def listen(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] != "message":
                continue
            published = json.loads(message["data"])
            self.deliver(published["skip"], published["payload"])

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
        for nickname in list(self.members):
            await self.release(nickname)
        await self.pubsub.aclose()
        await self.redis.aclose()
