"""A bare ASGI application for the uvicorn end-to-end test: it echoes every
message, and answers /deny with an HTTP denial response and a body."""

from __future__ import annotations

from typing import Any

Receive = Any
Send = Any


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    if scope["path"] == "/deny":
        await send({"type": "websocket.http.response.start", "status": 403, "headers": [(b"x-why", b"test")]})
        await send({"type": "websocket.http.response.body", "body": b"not here", "more_body": False})
        return
    await send({"type": "websocket.accept", "subprotocol": (scope["subprotocols"] or [None])[0]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        reply = {"type": "websocket.send"}
        reply.update({key: message[key] for key in ("text", "bytes") if message.get(key) is not None})
        await send(reply)
