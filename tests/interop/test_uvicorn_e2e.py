"""uvicorn serving an ASGI application through wsproto_lite.uvicorn:
WebSocketProtocol, as a real process on a free loopback port, with real
clients: websockets and Node's ws (text, binary, compression negotiated, a
denial with a body, keepalive pings seen by the client) and a wsproto_lite
client on a plain socket (keepalive pings, RFC 6455, 5.5.2)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Close, Message, Ping, Request

from ..helpers import ROOT

NODE_CLIENT = ROOT / "tests" / "interop" / "peers" / "node_client.js"
NODE_MODULES = ROOT / ".cache" / "node"


def node_ws() -> dict[str, str]:
    """The environment that runs Node with the ws package, installed from
    npm into .cache/node on first use."""
    if not (NODE_MODULES / "node_modules" / "ws").exists():
        NODE_MODULES.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(NODE_MODULES), "ws@8"]
        subprocess.run(npm, check=True, timeout=300)
    return {**os.environ, "NODE_PATH": str(NODE_MODULES / "node_modules")}


def node_client(url: str, linger_ms: int = 600) -> dict[str, Any]:
    """What the Node ws client saw at ``url`` (see node_client.js)."""
    done = subprocess.run(
        ["node", str(NODE_CLIENT), url, str(linger_ms)],
        env=node_ws(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(*options: str, env: dict[str, str] | None = None) -> Iterator[int]:
    """uvicorn with our protocol class on a free port; stopped by its pid."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.interop.uvicorn_app:app", "--port", str(port)]
    command += ["--ws", "wsproto_lite.uvicorn:WebSocketProtocol", "--lifespan", "off", *options]
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 20
        for line in proc.stderr:
            if "Uvicorn running on" in line:
                break
            assert time.monotonic() < deadline, "uvicorn did not start in time"
        else:
            pytest.fail("uvicorn exited before it started")
        # Its log goes on being read, so that a full pipe never blocks it.
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_websockets_client_exchanges_text_and_binary_compressed() -> None:
    with (
        uvicorn_server() as port,
        connect(f"ws://127.0.0.1:{port}/echo", subprotocols=[Subprotocol("chat")]) as ws,
    ):
        assert ws.subprotocol == "chat"
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
        ws.send("héllo " * 1000)
        assert ws.recv() == "héllo " * 1000
        ws.send(bytes(range(256)) * 100)
        assert ws.recv() == bytes(range(256)) * 100
        ws.close(1000, "bye")
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == 1000


def test_a_denial_response_reaches_the_client_with_its_body() -> None:
    with (
        uvicorn_server() as port,
        pytest.raises(InvalidStatus) as error,
        connect(f"ws://127.0.0.1:{port}/deny"),
    ):
        pass  # pragma: no cover
    response = error.value.response
    assert response.status_code == 403
    assert response.body == b"not here"
    assert response.headers["x-why"] == "test"


def test_keepalive_pings_reach_a_client() -> None:
    options = ("--ws-ping-interval", "0.2", "--ws-ping-timeout", "5")
    with uvicorn_server(*options) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        client = Connection(Role.CLIENT)
        sock.sendall(client.send(Request(host="127.0.0.1", target="/echo")))
        pings = 0
        accepted = False
        deadline = time.monotonic() + 5
        while pings < 2 and time.monotonic() < deadline:
            client.receive_data(sock.recv(65536))
            for event in client.events():
                accepted = accepted or isinstance(event, Accept)
                pings += isinstance(event, Ping)
            sock.sendall(client.data_to_send())  # the pongs
        assert accepted
        assert pings >= 2
        sock.sendall(client.send(Message("still here")))
        got: list[object] = []
        while not any(isinstance(e, Message) for e in got):
            client.receive_data(sock.recv(65536))
            got.extend(client.events())
            sock.sendall(client.data_to_send())
        assert Message("still here") in got
        sock.sendall(client.send(Close()))
        while not client.should_close_transport:
            client.receive_data(sock.recv(65536))
            list(client.events())


def test_node_ws_client_exchanges_messages_compressed_and_sees_pings() -> None:
    with uvicorn_server("--ws-ping-interval", "0.2", "--ws-ping-timeout", "5") as port:
        seen = node_client(f"ws://127.0.0.1:{port}/echo", linger_ms=700)
    assert seen["protocol"] == "chat"
    assert seen["extensions"].startswith("permessage-deflate")
    assert seen["messages"] == [{"text": "héllo from node"}, {"binary": [0, 1, 2, 255]}]
    assert seen["pings"] >= 2
    assert seen["close"]["code"] == 1000


def test_node_ws_client_reads_a_denial_with_its_body() -> None:
    with uvicorn_server() as port:
        seen = node_client(f"ws://127.0.0.1:{port}/deny")
    assert seen == {"status": 403, "body": "not here"}


def chromium() -> str:
    """The Chromium that python3 dev.py installs (Debian's package)."""
    exe = next(filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None)
    assert exe, "no Chromium on PATH: python3 dev.py test installs it (apt-get install chromium)"
    return exe


def test_chromium_exchanges_messages_compressed_and_answers_pings(tmp_path: Path) -> None:
    """A real browser: the page (tests/interop/peers/browser_page.html) is
    served by the same uvicorn, is denied once, then echoes text and binary
    with compression negotiated, and stays open across several keepalive
    pings with a pong timeout shorter than its wait."""
    report = tmp_path / "report.json"
    env = {**os.environ, "WSPROTO_LITE_REPORT": str(report)}
    options = ("--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.5")
    with uvicorn_server(*options, env=env) as port, tempfile.TemporaryDirectory() as profile:
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
        flags += [
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={profile}",
        ]
        browser = subprocess.Popen(
            [chromium(), *flags, f"http://127.0.0.1:{port}/"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not report.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(timeout=10)
    assert report.exists(), "the browser sent no report within 30 s"
    seen = json.loads(report.read_text())
    assert seen["denied"] == 1006  # a script is not shown a denial's status or body
    assert seen["protocol"] == "chat"
    assert seen["extensions"].startswith("permessage-deflate")
    assert seen["messages"] == [{"text": "héllo from chromium"}, {"binary": [0, 1, 2, 255]}]
    assert seen["open_after_pings"] is True
