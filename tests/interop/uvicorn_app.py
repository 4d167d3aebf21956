"""A bare ASGI application for the uvicorn end-to-end tests: it echoes every
message, answers /deny with an HTTP denial response and a body, and serves a
page whose script runs the same exchange in a browser and sends back what it
saw as a "report" message, which is written to $WSPROTO_LITE_REPORT."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

Receive = Any
Send = Any

PAGE = (Path(__file__).parent / "peers" / "browser_page.html").read_bytes()


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": PAGE})
        return
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
        if (message.get("text") or "").startswith('{"report"'):
            Path(os.environ["WSPROTO_LITE_REPORT"]).write_text(
                json.dumps(json.loads(message["text"])["report"])
            )
            continue
        reply = {"type": "websocket.send"}
        reply.update({key: message[key] for key in ("text", "bytes") if message.get(key) is not None})
        await send(reply)
