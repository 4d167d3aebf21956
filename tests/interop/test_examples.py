"""The example adapters over real TCP sockets, against websockets' own
client and server (RFC 6455 end to end, 7.1.1 for who closes first)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

from ..helpers import ROOT, echo_server


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with echo_server() as port:
        yield port


@pytest.mark.parametrize("script", ["socket_echo.py", "asyncio_echo.py", "trio_echo.py"])
def test_every_adapter_echoes_and_closes_cleanly(script: str) -> None:
    with echo_server(script=script) as port, connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        ws.send("text")
        assert ws.recv() == "text"
        ws.send(bytes(300_000))
        assert ws.recv() == bytes(300_000)
        ws.close(1001, "leaving")
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == 1001


def test_echo_server_echoes_each_type_to_a_websockets_client(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        big = "x" * 500_000
        ws.send(big)
        assert ws.recv() == big
        ws.send(["frag", "mented"])
        assert ws.recv() == "fragmented"
        assert ws.ping(b"p").wait(5)
        ws.close(1000, "bye")
        # The server closed the TCP connection first, cleanly.
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == 1000


def test_echo_server_fails_an_oversized_message_with_1009(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        ws.send(b"x" * (2**20 + 1))
        with pytest.raises(Exception) as info:  # noqa: PT011 - websockets' closed-error type varies
            ws.recv()
        assert ws.protocol.close_rcvd is not None
        assert ws.protocol.close_rcvd.code == 1009, info.value


def test_echo_server_answers_a_plain_http_request_with_426(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while chunk := sock.recv(4096):
            response += chunk
    assert response.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13\r\n" in response


def _echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


@pytest.fixture
def websockets_server() -> Iterator[Server]:
    with serve(_echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server
        server.shutdown()


def test_socket_client_talks_to_a_websockets_server(websockets_server: Server) -> None:
    port = websockets_server.socket.getsockname()[1]
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "socket_client.py"),
            f"ws://127.0.0.1:{port}/",
            "one",
            "twö",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines() == [
        f"connected to ws://127.0.0.1:{port}/",
        "received str: 'one'",
        "received str: 'twö'",
        "closed: 1000 done",  # websockets echoes the reason of our close
    ]


def test_socket_client_against_the_echo_server(port: int) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "socket_client.py"), f"ws://127.0.0.1:{port}/", "hi"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "received str: 'hi'" in result.stdout
    assert result.stdout.splitlines()[-1] == "closed: 1000 "
