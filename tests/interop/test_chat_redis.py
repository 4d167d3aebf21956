"""Two chat processes sharing one room through a real redis-server (the
system's, installed by the test command; started on a free loopback port and
stopped by its process id): a message sent to one reaches a user of the
other, joins and leaves are announced on both, a nickname is taken across
both."""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed

from wsproto_lite import Connection, Role
from wsproto_lite.events import Request

from .chat_process import chat_server
from .test_chat import receive, user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def redis_server() -> Iterator[str]:
    exe = shutil.which("redis-server")
    assert exe, "no redis-server on PATH: python3 dev.py test installs it (apt-get install redis-server)"
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([exe, *options], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_two_processes_share_one_room_through_redis() -> None:
    with redis_server() as url, chat_server("--redis", url) as one, chat_server("--redis", url) as two:
        with user(one.port, "alice") as alice, user(two.port, "bob") as bob:
            assert receive(alice) == {"type": "join", "user": "bob"}  # bob joined the other process
            bob.send("hello from two")
            assert receive(alice) == {"sender": "bob", "msg": "hello from two"}
            alice.send("hello from one")
            # Alice's join was published before bob joined, and may still
            # have been on its way to the other process (rooms.py).
            first = receive(bob)
            if first == {"type": "join", "user": "alice"}:
                first = receive(bob)
            assert first == {"sender": "alice", "msg": "hello from one"}
            with pytest.raises(TimeoutError):
                alice.recv(timeout=0.3)  # nobody gets their own message back

            with user(two.port, "alice") as impostor, pytest.raises(ConnectionClosed):
                impostor.recv(timeout=5)  # taken on the other process
            assert impostor.close_code == 1008

            with user(two.port, "dave"):
                assert receive(alice) == {"type": "join", "user": "dave"}
                assert receive(bob) == {"type": "join", "user": "dave"}
            assert receive(alice) == {"type": "leave", "user": "dave"}  # announced on both
            assert receive(bob) == {"type": "leave", "user": "dave"}
        two.wait_for_line(r"^leave 'bob' \(close 1000\)$")


def test_a_user_gone_while_redis_was_asked_leaves_no_name_behind() -> None:
    """The handshake, then a reset at once, while the chat waits for Redis's
    answer about the nickname: the name must not stay taken."""
    request = Connection(Role.CLIENT).send(Request(host="127.0.0.1", target="/ws/ghost"))
    with redis_server() as url, chat_server("--redis", url) as chat:
        for _ in range(30):
            with socket.create_connection(("127.0.0.1", chat.port), timeout=5) as sock:
                sock.sendall(request)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(0.5)
        with user(chat.port, "ghost") as ghost, pytest.raises(TimeoutError):
            ghost.recv(timeout=0.3)  # not closed with 1008: the name was free
