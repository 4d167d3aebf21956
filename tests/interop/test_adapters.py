"""The six adapters of examples/ as real processes on 127.0.0.1: every client
against every server, over TLS with a certificate made at test time
(trustme), against websockets on the other side, and what sans-IO leaves to
an adapter: keepalive with a pong timeout, the closing handshake's timeout,
the server closing TCP first, and back-pressure (RFC 6455, 5.5.2-5.5.3 and
7.1.1).  tests/interop/test_examples.py has the resets and garbage."""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from websockets.sync.client import connect
from websockets.sync.server import Server, ServerConnection, serve

from wsproto_lite import Connection, ConnectionState, Role
from wsproto_lite.events import Accept, Close, Message, Ping, Request

from ..helpers import ROOT, example

SERVERS = ["socket_echo.py", "asyncio_echo.py", "trio_echo.py"]
CLIENTS = ["socket_client.py", "asyncio_client.py", "trio_client.py"]
#: Timers short enough for a test; the defaults are 20, 20 and 10 seconds.
QUICK = [
    "--ping-interval",
    "0.2",
    "--ping-timeout",
    "0.3",
    "--close-timeout",
    "0.5",
    "--write-timeout",
    "0.5",
]


@dataclass
class Certificates:
    server: Path  # the server's key and certificate chain
    ca: Path  # the authority that signed it, for the clients

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(folder / "server.pem")
    )
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return Certificates(folder / "server.pem", folder / "ca.pem")


def run_client(script: str, url: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "examples" / script), url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def dialogue(url: str, *received: str, closed: str = "closed: 1000 ") -> list[str]:
    """What a client prints for a clean exchange."""
    return [f"connected to {url}", *(f"received str: {text!r}" for text in received), closed]


# -- Every client, every server, plain and over TLS ---------------------------


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("server", SERVERS)
def test_every_client_and_every_server_over_tls(server: str, client: str, certificates: Certificates) -> None:
    with example(ROOT / "examples" / server, "--certfile", str(certificates.server)) as started:
        url = f"wss://127.0.0.1:{started.port}/"
        result = run_client(client, url, "one", "twö", "--cafile", str(certificates.ca))
        assert (result.returncode, result.stderr) == (0, "")
        # The server closed TCP first: the client did not have to.
        assert result.stdout.splitlines() == dialogue(url, "one", "twö")
        assert started.lines[1:] == []  # nothing to log about a good client


@pytest.mark.parametrize(("server", "client"), list(zip(SERVERS, CLIENTS, strict=True)))
def test_each_client_and_its_server_in_plain_tcp(server: str, client: str) -> None:
    with example(ROOT / "examples" / server) as started:
        url = f"ws://127.0.0.1:{started.port}/path?query=1"
        result = run_client(client, url, "hello")
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.splitlines() == dialogue(url, "hello")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_client_refuses_a_certificate_it_does_not_trust(client: str, certificates: Certificates) -> None:
    with example(ROOT / "examples" / "asyncio_echo.py", "--certfile", str(certificates.server)) as started:
        result = run_client(client, f"wss://127.0.0.1:{started.port}/", "hi")  # no --cafile
        assert result.returncode == 1
        assert result.stderr.startswith("connection lost: ")
        assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
        assert "Traceback" not in result.stderr


def _echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


@pytest.fixture
def websockets_tls_server(certificates: Certificates) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.server)
    with serve(_echo, "127.0.0.1", 0, ssl=context) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server
        server.shutdown()


@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_talks_to_websockets_over_tls(
    client: str, websockets_tls_server: Server, certificates: Certificates
) -> None:
    url = f"wss://127.0.0.1:{websockets_tls_server.socket.getsockname()[1]}/"
    result = run_client(client, url, "über", "--cafile", str(certificates.ca))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == dialogue(url, "über", closed="closed: 1000 done")


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_over_tls_to_a_websockets_client(server: str, certificates: Certificates) -> None:
    with example(ROOT / "examples" / server, "--certfile", str(certificates.server)) as started:
        url = f"wss://127.0.0.1:{started.port}/"
        with connect(url, ssl=certificates.context(), open_timeout=5, close_timeout=5) as ws:
            assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]
            ws.send("secret" * 1000)
            assert ws.recv(timeout=5) == "secret" * 1000
            ws.close(1001)
        assert ws.close_code == 1001


# -- Servers: a silent client, a client that never reads -----------------------


def _open(port: int) -> tuple[socket.socket, bytes]:
    """A hand-made client: the handshake done, then whatever the test does."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(Connection(Role.CLIENT).send(Request(host="127.0.0.1", target="/")))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock, head


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_fails_a_silent_client_after_the_pong_timeout_and_drops_it(server: str) -> None:
    """Half-open: the client neither answers pings nor closes.  The server
    pings, fails the connection with 1011 when the pong is late, and drops
    TCP when the closing handshake times out too."""
    with example(ROOT / "examples" / server, *QUICK) as started:
        sock, _ = _open(started.port)
        with sock:
            started.wait_for_line(r"client 127\.0\.0\.1:\d+: closed with 1011: keepalive ping timeout$")
            received = b""
            started_at = time.monotonic()
            while chunk := sock.recv(65536):  # the ping, the close frame, then the server's end
                received += chunk
            assert time.monotonic() - started_at < 5
        conn = Connection.opened(Role.CLIENT, auto_reply=False)
        conn.receive_data(received)
        *pings, close = conn.events()
        assert pings
        assert all(isinstance(ping, Ping) for ping in pings)  # our silence was their only answer
        assert close == Close(1011, "keepalive ping timeout", by_peer=True)
    assert not [line for line in started.lines if "Traceback" in line]


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


@pytest.mark.parametrize("server", SERVERS)
def test_each_server_drops_a_client_that_never_reads_and_holds_little_for_it(server: str) -> None:
    """Back-pressure: the client sends 64 MiB of messages and reads nothing.
    The server echoes into a full socket, stops reading, and drops the client
    after --write-timeout; its memory never holds more than a few messages."""
    with example(ROOT / "examples" / server, *QUICK) as started:
        before = _rss_kib(started.proc.pid)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", started.port))
        with sock:
            sock.sendall(Connection(Role.CLIENT).send(Request(host="127.0.0.1", target="/")))
            message = Connection.opened(Role.CLIENT).send(Message(bytes(65536)))
            sent = 0
            with suppress(OSError):  # reset (or timed out) once the server drops us
                while sent < 64 * 2**20:
                    sock.sendall(message)
                    sent += len(message)
            started.wait_for_line(r"client 127\.0\.0\.1:\d+: stopped reading: dropped after 0\.5 s$")
            grown = _rss_kib(started.proc.pid) - before
        assert sent < 16 * 2**20, "the server kept reading from a client that never reads"
        assert grown < 16 * 1024, f"the server grew by {grown} KiB for one client"
        # and it serves the next client
        with connect(f"ws://127.0.0.1:{started.port}/", open_timeout=5) as ws:
            ws.send("next")
            assert ws.recv(timeout=5) == "next"


# -- Clients: servers that misbehave -------------------------------------------


def _one_server(
    behaviour: Callable[[socket.socket, Connection], None],
) -> tuple[socket.socket, threading.Thread]:
    """A hand-made server for one client: accept, shake hands, then ``behaviour``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def run() -> None:
        sock, _ = listener.accept()
        conn = Connection(Role.SERVER)
        with sock:
            sock.settimeout(10)
            while not any(isinstance(e, Request) for e in conn.events()):
                conn.receive_data(sock.recv(65536))
            sock.sendall(conn.send(Accept()))
            behaviour(sock, conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


def _echo_then_keep_tcp_open(sock: socket.socket, conn: Connection) -> None:
    """Finish the closing handshake, then never close TCP (7.1.1 says the
    server should): the client has to, after its close timeout."""
    while conn.state is not ConnectionState.CLOSED:
        conn.receive_data(sock.recv(65536))
        for event in conn.events():
            if isinstance(event, Message):
                sock.sendall(conn.send(event))
        sock.sendall(conn.data_to_send())
    with suppress(OSError):
        while sock.recv(65536):  # until the client closes
            pass


def _go_silent(sock: socket.socket, conn: Connection) -> None:
    """Read nothing, answer nothing, close nothing: until the client gives up."""
    sock.settimeout(20)
    with suppress(OSError):
        time.sleep(0.2)
        while sock.recv(65536):
            pass


def _greet_then_reset(sock: socket.socket, conn: Connection) -> None:
    sock.sendall(conn.send(Message("welcome")))
    time.sleep(0.2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset


@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_closes_tcp_itself_when_the_server_never_does(client: str) -> None:
    listener, thread = _one_server(_echo_then_keep_tcp_open)
    with listener:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        started_at = time.monotonic()
        result = run_client(client, url, "hi", *QUICK)
        thread.join(timeout=10)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        *dialogue(url, "hi"),
        "the server did not close the connection in time; closed it ourselves",
    ]
    assert time.monotonic() - started_at < 10


@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_fails_a_server_that_stops_answering_pings(client: str) -> None:
    listener, thread = _one_server(_go_silent)
    with listener:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        result = run_client(client, url, "anyone there?", *QUICK)
        thread.join(timeout=30)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [f"connected to {url}", "closed: 1011 keepalive ping timeout"]


@pytest.mark.parametrize("client", CLIENTS)
def test_each_client_reports_a_reset_in_one_line(client: str) -> None:
    listener, thread = _one_server(_greet_then_reset)
    with listener:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        result = run_client(client, url, "a", "b", *QUICK)
        thread.join(timeout=10)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"connected to {url}", "received str: 'welcome'"]
    assert result.stderr.startswith("connection lost: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
