"""The chat of examples/chat/ on websockets' asyncio server: the anchor that
benchmarks/c10k.py runs beside ours, as a user who picked websockets would
write it.

    python benchmarks/chat_websockets.py [--port 8001]

The same wire protocol (``/ws/<nickname>?room=<name>``, ``{"sender", "msg"}``
to everyone else in the room, ``{"type": "join" | "leave", "user"}``), the
same limits where websockets has them (64 KiB messages; 1003 for binary;
1008 for a taken or empty nickname), the same keepalive (20 s), and
websockets' own ``broadcast()`` for the fan-out, which is how its
documentation says to write one.  It serves no page: the benchmark does not
ask for one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import parse_qs, unquote

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

ROOMS: dict[str, dict[str, ServerConnection]] = {}


def announce(room: dict[str, ServerConnection], skip: str, payload: dict[str, str]) -> None:
    broadcast([ws for name, ws in room.items() if name != skip], json.dumps(payload))


async def chat(ws: ServerConnection) -> None:
    assert ws.request is not None
    path, _, query = ws.request.path.partition("?")
    nickname = unquote(path[4:])
    room_name = parse_qs(query).get("room", [""])[0]
    room = ROOMS.setdefault(room_name, {})
    if not path.startswith("/ws/") or not nickname.strip() or nickname in room:
        await ws.close(1008, "that nickname is taken: pick another" if nickname.strip() else "no nickname")
        return
    room[nickname] = ws
    announce(room, nickname, {"type": "join", "user": nickname})
    try:
        async for message in ws:
            if isinstance(message, bytes):
                await ws.close(1003, "this chat takes text messages only")
                break
            announce(room, nickname, {"sender": nickname, "msg": message})
    except ConnectionClosed:  # without a closing handshake: a leave all the same
        pass
    finally:
        del room[nickname]
        if not room:
            del ROOMS[room_name]
        announce(room, nickname, {"type": "leave", "user": nickname})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--ping-interval", type=float, default=20, help="seconds between keepalive pings; 0: none"
    )
    args = parser.parse_args()
    ping = args.ping_interval or None
    async with serve(
        chat, args.host, args.port, max_size=64 * 1024, ping_interval=ping, backlog=1024
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"websockets chat on http://{args.host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
