"""Capture real WebSocket opening handshakes from other implementations, over loopback.

The files under ``tests/fuzz/peers`` are seeds for the handshake fuzz targets.
``requests/<peer>.http`` is the head a client (websockets, wsproto, aiohttp, Node ``ws``, headless
Chromium) sent to a plain TCP listener on 127.0.0.1, byte for byte.  ``responses/<peer>.http`` is
what a server (websockets, wsproto, aiohttp, Node ``ws``) answered to a fixed request offering
``chat, superchat`` and permessage-deflate, its ``Sec-WebSocket-Accept`` value replaced by
``@ACCEPT@``; ``responses/<peer>-<case>.http`` answers a bad request (head and body).

Run ``python -m tests.fuzz.capture_peers``; a peer not installed is skipped with a note.  Node's
``ws`` is found through ``NODE_PATH`` (e.g. ``NODE_PATH=/tmp/x/node_modules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

PEERS = Path(__file__).resolve().parent / "peers"
TIMEOUT = 15.0
PROTOCOLS = ["chat", "superchat"]
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # for the key below
REQUEST = (  # % (path, port, version)
    b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: %s\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)
PAGE = '<!doctype html><script>new WebSocket("ws://127.0.0.1:%d/chat", ["chat", "superchat"])</script>'
NODE_CLIENT = """const WebSocket = require("ws");
const ws = new WebSocket(process.argv[1], ["chat", "superchat"], {perMessageDeflate: true});
ws.on("error", () => process.exit(0));"""
NODE_SERVER = """const {WebSocketServer} = require("ws");
const wss = new WebSocketServer({host: "127.0.0.1", port: 0, path: "/chat", perMessageDeflate: true,
  handleProtocols: (ps) => (ps.has("chat") ? "chat" : false)});
wss.on("listening", () => console.log(wss.address().port));
wss.on("connection", (ws) => ws.close());"""


class Skip(Exception):
    """The peer is not installed here."""


async def run_node(script: str, *args: str) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    probe = [str(node), "-e", 'require("ws")']
    if node is None or subprocess.run(probe, capture_output=True, timeout=TIMEOUT).returncode:
        raise Skip("node or its `ws` package not found (set NODE_PATH)")
    return await asyncio.create_subprocess_exec(
        node, "-e", script, *args, stdout=asyncio.subprocess.PIPE, start_new_session=True
    )


async def stop(proc: asyncio.subprocess.Process, wait: bool = False) -> None:
    """Wait for a process we started if asked, then end it and its children by its id."""
    try:
        if wait:
            await proc.wait()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: it and the children it started
            await proc.wait()


async def websockets_client(port: int) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    protocols = [Subprotocol(p) for p in PROTOCOLS]
    async with connect(f"ws://127.0.0.1:{port}/chat", subprotocols=protocols, compression="deflate"):
        pass


async def wsproto_client(port: int) -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request
    from wsproto.extensions import PerMessageDeflate

    offer = Request(f"127.0.0.1:{port}", "/chat", subprotocols=PROTOCOLS, extensions=[PerMessageDeflate()])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(WSConnection(ConnectionType.CLIENT).send(offer))
    await reader.read()
    writer.close()


async def aiohttp_client(port: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        await session.ws_connect(f"ws://127.0.0.1:{port}/chat", compress=15, protocols=PROTOCOLS)


async def node_client(port: int) -> None:
    await stop(await run_node(NODE_CLIENT, f"ws://127.0.0.1:{port}/chat"), wait=True)


async def chromium_client(port: int) -> None:
    exe = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    if exe is None:
        raise Skip("no chromium binary on PATH")
    with tempfile.TemporaryDirectory() as profile:
        flags = "--headless=new --no-sandbox --disable-gpu --no-first-run --disable-sync"
        flags += " --disable-background-networking --disable-component-update --user-data-dir="
        args = [*(flags + profile).split(), f"http://127.0.0.1:{port}/"]
        quiet = asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(exe, *args, stderr=quiet, start_new_session=True)
        await stop(proc, wait=True)


async def capture_request(client: Callable[[int], Coroutine[Any, Any, None]]) -> dict[str, bytes]:
    """Listen on a free loopback port: serve PAGE to plain GETs, keep the first upgrade head."""
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            if b"upgrade: websocket" not in head.lower():
                page = (PAGE % port).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n")
                writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(page), page))
                await writer.drain()
            elif not got.done():
                got.set_result(head)
        writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    task = asyncio.create_task(client(port))
    try:
        await asyncio.wait({got, task}, timeout=TIMEOUT * 2, return_when=asyncio.FIRST_COMPLETED)
        if not got.done():
            raise (task.done() and task.exception()) or TimeoutError("no handshake received")
        return {"": bytes(got.result())}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        await server.wait_closed()


async def exchange(port: int, data: bytes) -> bytes:
    """Send a raw request; return the response head, and the body of a rejection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        if head.startswith(b"HTTP/1.1 101 "):
            return head.replace(ACCEPT, b"@ACCEPT@")
        length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
        body = reader.readexactly(int(length[1])) if length else reader.read()
        return head + await asyncio.wait_for(body, TIMEOUT)
    finally:
        writer.close()


Cases = dict[str, tuple[bytes, bytes]]  # case name: (path, Sec-WebSocket-Version)
CASES: Cases = {"": (b"/chat", b"13"), "version8": (b"/chat", b"8")}
ROUTED: Cases = {**CASES, "notfound": (b"/nowhere", b"13")}


async def exchanges(port: int, cases: Cases) -> dict[str, bytes]:
    return {case: await exchange(port, REQUEST % (path, port, v)) for case, (path, v) in cases.items()}


async def websockets_server(cases: Cases) -> dict[str, bytes]:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.typing import Subprotocol

    async def handler(ws: ServerConnection) -> None:
        await ws.close()

    protocols = [Subprotocol(p) for p in PROTOCOLS]
    async with serve(handler, "127.0.0.1", 0, subprotocols=protocols, compression="deflate") as server:
        return await exchanges(next(iter(server.sockets)).getsockname()[1], cases)


async def wsproto_server(cases: Cases) -> dict[str, bytes]:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Event, RejectConnection
    from wsproto.extensions import PerMessageDeflate
    from wsproto.utilities import RemoteProtocolError

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = WSConnection(ConnectionType.SERVER)
        try:
            conn.receive_data(await reader.readuntil(b"\r\n\r\n"))  # raises on a bad request
            list(conn.events())
            reply: Event = AcceptConnection(subprotocol="chat", extensions=[PerMessageDeflate()])
        except RemoteProtocolError as exc:
            reply = exc.event_hint or RejectConnection()
        writer.write(conn.send(reply))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    async with server:
        return await exchanges(server.sockets[0].getsockname()[1], cases)


async def aiohttp_server(cases: Cases) -> dict[str, bytes]:
    from aiohttp import web

    async def chat(req: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=True, protocols=PROTOCOLS)
        await ws.prepare(req)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/chat", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return await exchanges(runner.addresses[0][1], cases)
    finally:
        await runner.cleanup()


async def node_server(cases: Cases) -> dict[str, bytes]:
    proc = await run_node(NODE_SERVER)
    try:
        assert proc.stdout is not None
        return await exchanges(int(await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)), cases)
    finally:
        await stop(proc)


def versions() -> list[str]:
    """The version of each peer found, for provenance."""
    out = []
    for name in ("websockets", "wsproto", "aiohttp"):
        with contextlib.suppress(ImportError):
            out.append(f"{name} {__import__(name).__version__}")
    node = ["node", "-p", 'require("ws/package.json").version + " (node " + process.version + ")"']
    for label, cmd in [("node ws", node), ("chromium", ["chromium", "--version"])]:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=True)
            out.append(f"{label} {done.stdout.strip()}")
    return out


async def main() -> int:
    jobs = {
        "requests/websockets": partial(capture_request, websockets_client),
        "requests/wsproto": partial(capture_request, wsproto_client),
        "requests/aiohttp": partial(capture_request, aiohttp_client),
        "requests/node-ws": partial(capture_request, node_client),
        "requests/chromium": partial(capture_request, chromium_client),
        "responses/websockets": partial(websockets_server, CASES),
        "responses/wsproto": partial(wsproto_server, CASES),
        "responses/aiohttp": partial(aiohttp_server, ROUTED),
        "responses/node-ws": partial(node_server, ROUTED),
    }
    failed = 0
    for job, run in jobs.items():
        try:
            answers = await run()
        except Exception as exc:
            missing = isinstance(exc, ImportError | Skip)
            failed += not missing
            print(f"{'skip' if missing else 'FAILED'} {job}: {exc!r}")
            continue
        for case, data in answers.items():
            file = PEERS / f"{job}{'-' if case else ''}{case}.http"
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
            print(f"{file.relative_to(PEERS)}: {len(data)} bytes")
    (PEERS / "versions.txt").write_text("".join(f"{v}\n" for v in versions()))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
