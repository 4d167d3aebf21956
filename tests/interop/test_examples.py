"""The example adapters over real TCP sockets, against websockets' own
client and server (RFC 6455 end to end, 7.1.1 for who closes first)."""

from __future__ import annotations

import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Message, Request

from ..helpers import ROOT, echo_server, frame


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


# -- Misbehaving clients: a server survives each and logs one line for it ----

SERVERS = ["socket_echo.py", "asyncio_echo.py", "trio_echo.py"]
REQUEST = Connection(Role.CLIENT).send(Request(host="127.0.0.1", target="/"))
TEXT_FRAME = frame(0x1, b"x" * 1000)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER (1, 0): the peer gets a reset (RST), not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _pause_then_reset(sock: socket.socket) -> None:
    time.sleep(0.05)  # let the server read what came before
    _reset(sock)


def _handshake(sock: socket.socket) -> None:
    sock.sendall(REQUEST)
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        assert chunk, "the server closed during the handshake"
        response += chunk
    assert response.startswith(b"HTTP/1.1 101 ")


def _end_and_read_to_end(sock: socket.socket) -> None:
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass


def _reset_inside_the_request(sock: socket.socket) -> None:
    sock.sendall(REQUEST[:40])
    _pause_then_reset(sock)


def _reset_before_reading_the_answer(sock: socket.socket) -> None:
    sock.sendall(REQUEST)
    _reset(sock)


def _reset_inside_a_frame(sock: socket.socket) -> None:
    _handshake(sock)
    sock.sendall(TEXT_FRAME[:500])
    _pause_then_reset(sock)


def _reset_inside_a_fragmented_message(sock: socket.socket) -> None:
    _handshake(sock)
    sock.sendall(frame(0x1, b"first part", fin=False))
    _pause_then_reset(sock)


def _reset_while_the_server_writes(sock: socket.socket) -> None:
    _handshake(sock)
    sock.sendall(frame(0x2, bytes(900_000)))  # echoed into a 4 KiB receive buffer nobody reads
    time.sleep(0.3)
    _reset(sock)


def _garbage_instead_of_a_request(sock: socket.socket) -> None:
    sock.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(256)) + b"\r\n\r\n")
    _end_and_read_to_end(sock)


def _garbage_after_the_handshake(sock: socket.socket) -> None:
    _handshake(sock)
    sock.sendall(b"\xff" * 64)
    _end_and_read_to_end(sock)


def _end_inside_the_request(sock: socket.socket) -> None:
    sock.sendall(REQUEST[:40])
    _end_and_read_to_end(sock)


def _end_inside_a_message(sock: socket.socket) -> None:
    _handshake(sock)
    sock.sendall(TEXT_FRAME[:500])
    _end_and_read_to_end(sock)


MISBEHAVIOURS: list[Callable[[socket.socket], None]] = [
    _reset,
    _reset_inside_the_request,
    _reset_before_reading_the_answer,
    _reset_inside_a_frame,
    _reset_inside_a_fragmented_message,
    _reset_while_the_server_writes,
    _garbage_instead_of_a_request,
    _garbage_after_the_handshake,
    _end_inside_the_request,
    _end_inside_a_message,
]


def _misbehave(port: int, misbehaviour: Callable[[socket.socket], None]) -> int:
    """Connect, misbehave, and return the client's port (which the server logs)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", port))
        client_port: int = sock.getsockname()[1]
        misbehaviour(sock)
    return client_port


@contextmanager
def _server_logging_to(script: str, stderr: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Like helpers.echo_server, with the server's stderr going to a file."""
    with stderr.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / script), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert proc.stdout is not None
        assert select.select([proc.stdout], [], [], 10)[0], "the server did not start"
        match = re.search(r":(\d+)/", proc.stdout.readline())
        assert match, "the echo server did not report its port"
        yield int(match.group(1)), proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _lines(path: Path, at_least: int, timeout: float = 10) -> list[str]:
    """The lines of ``path`` once there are ``at_least`` of them (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while len(lines := path.read_text().splitlines()) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    return lines


@pytest.mark.parametrize("script", SERVERS)
def test_server_survives_resets_and_garbage_logging_one_line_each(script: str, tmp_path: Path) -> None:
    stderr = tmp_path / "stderr"
    with _server_logging_to(script, stderr) as (port, proc):
        clients = []
        for misbehaviour in MISBEHAVIOURS * 2:  # 12 resets, in 6 phases, and 8 more
            assert proc.poll() is None, stderr.read_text()
            clients.append(_misbehave(port, misbehaviour))
        lines = _lines(stderr, len(clients))
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=5, close_timeout=5) as ws:
            ws.send("still serving")
            assert ws.recv(timeout=5) == "still serving"
        time.sleep(0.3)  # a line about the good client would come now
        assert proc.poll() is None, stderr.read_text()
    log = stderr.read_text()
    assert "Traceback" not in log
    assert log.splitlines() == lines  # nothing about the good client
    logged = Counter(int(m[1]) for line in lines if (m := re.match(r"client 127\.0\.0\.1:(\d+): \S", line)))
    # trio's listener drops the address accept() returns: a client reset before
    # its task asked for the address can only be logged without it.
    unknown = [line for line in lines if line.startswith("client (address unknown): connection lost: ")]
    assert logged <= Counter(clients), log
    assert logged.total() + len(unknown) == len(lines) == len(clients), log
    assert script == "trio_echo.py" or not unknown, log


# -- A client whose server speaks without being asked ------------------------


def _chatty_server(listener: socket.socket) -> None:
    """Greet the client before it says anything, echo each message followed
    by one more, then close as a server does (RFC 6455, 7.1.1)."""
    sock, _ = listener.accept()
    conn = Connection(Role.SERVER)
    with sock:
        sock.settimeout(10)
        while not conn.should_close_transport:
            conn.receive_data(sock.recv(65536))
            for event in conn.events():
                if isinstance(event, Request):
                    sock.sendall(conn.send(Accept()) + conn.send(Message("welcome")))
                elif isinstance(event, Message):
                    sock.sendall(conn.send(event) + conn.send(Message("extra")))
            sock.sendall(conn.data_to_send())
        sock.shutdown(socket.SHUT_WR)
        with suppress(OSError):  # a client that crashed resets the connection
            while sock.recv(65536):
                pass


@pytest.mark.parametrize("client", ["socket_client.py", "asyncio_client.py", "trio_client.py"])
@pytest.mark.parametrize(
    ("messages", "received"),
    [
        (["one"], ["welcome", "one", "extra"]),
        (["one", "two"], ["welcome", "one", "extra", "two", "extra"]),
    ],
)
def test_each_client_prints_messages_it_did_not_ask_for(
    client: str, messages: list[str], received: list[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        server = threading.Thread(target=_chatty_server, args=(listener,), daemon=True)
        server.start()
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / client), url, *messages],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        server.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        f"connected to {url}",
        *(f"received str: {text!r}" for text in received),
        "closed: 1000 ",
    ]
    assert not server.is_alive()
