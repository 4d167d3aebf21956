"""The chat server of examples/chat/, started as a real process on a free
loopback port, with websockets' client as its users: the seed documents'
wire protocol (messages to everyone else as {"sender", "msg"}, joins and
leaves as {"type", "user"}), the page over HTTP on the same port, and what
bad input and a slow client get."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Message, Request

from .chat_process import chat_server


def user(port: int, nickname: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{port}/ws/{nickname}", open_timeout=5)


def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    data = ws.recv(timeout=timeout)
    assert isinstance(data, str)
    result: dict[str, Any] = json.loads(data)
    return result


def test_messages_go_to_everyone_else_and_joins_and_leaves_are_announced() -> None:
    with chat_server() as chat, user(chat.port, "alice") as alice:
        with user(chat.port, "b%C3%B6b") as bob:  # URL-encoded: böb
            assert receive(alice) == {"type": "join", "user": "böb"}
            with user(chat.port, "carol") as carol:
                assert receive(alice) == {"type": "join", "user": "carol"}
                assert receive(bob) == {"type": "join", "user": "carol"}
                bob.send("hello, all")
                assert receive(alice) == {"sender": "böb", "msg": "hello, all"}
                assert receive(carol) == {"sender": "böb", "msg": "hello, all"}
                with pytest.raises(TimeoutError):
                    bob.recv(timeout=0.3)  # nobody gets their own message back
            assert receive(alice) == {"type": "leave", "user": "carol"}
            assert receive(bob) == {"type": "leave", "user": "carol"}
        assert receive(alice) == {"type": "leave", "user": "böb"}


def test_rooms_are_apart_and_a_nickname_is_unique_only_in_its_room() -> None:
    with (
        chat_server() as chat,
        user(chat.port, "ann?room=a") as ann,
        user(chat.port, "ann?room=b") as other_ann,
    ):
        with user(chat.port, "bo?room=a") as bo:
            assert receive(ann) == {"type": "join", "user": "bo"}
            bo.send("only room a")
            assert receive(ann) == {"sender": "bo", "msg": "only room a"}
            other_ann.send("only room b")
            with pytest.raises(TimeoutError):
                ann.recv(timeout=0.3)
            with pytest.raises(TimeoutError):
                other_ann.recv(timeout=0.1)  # nobody else in room b
        assert receive(ann) == {"type": "leave", "user": "bo"}


def test_a_burst_arrives_whole_and_in_order() -> None:
    """Many messages read in one go are written to each user in one call
    (the chat's Cork): none lost, none out of order, joins before them."""
    with chat_server() as chat, user(chat.port, "alice") as alice, user(chat.port, "bob") as bob:
        assert receive(alice) == {"type": "join", "user": "bob"}
        with socket.create_connection(("127.0.0.1", chat.port), timeout=5) as sock:
            burst = Connection(Role.CLIENT).send(Request(host="127.0.0.1", target="/ws/carol"))
            frames = Connection.opened(Role.CLIENT)  # frames as carol's will be, once open
            burst += b"".join(frames.send(Message(f"message {i}")) for i in range(200))
            sock.sendall(burst)  # the handshake and 200 messages, in one write
            expected = [{"type": "join", "user": "carol"}]
            expected += [{"sender": "carol", "msg": f"message {i}"} for i in range(200)]
            assert [receive(alice) for _ in expected] == expected
            assert [receive(bob) for _ in expected] == expected


def test_compression_is_accepted() -> None:
    with chat_server() as chat, user(chat.port, "zip") as ws:
        assert [type(e).__name__ for e in ws.protocol.extensions] == ["PerMessageDeflate"]


@pytest.mark.parametrize(
    ("nickname", "reason"),
    [("", "a nickname cannot be empty"), ("taken", "that nickname is taken: pick another")],
)
def test_an_empty_or_taken_nickname_is_closed_with_1008(nickname: str, reason: str) -> None:
    with chat_server() as chat, user(chat.port, "taken"):
        with user(chat.port, nickname) as ws, pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1008
        assert ws.close_reason == reason


def test_a_binary_message_is_closed_with_1003_and_others_stay() -> None:
    with chat_server() as chat, user(chat.port, "alice") as alice, user(chat.port, "mallory") as mallory:
        assert receive(alice) == {"type": "join", "user": "mallory"}
        mallory.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed):
            mallory.recv(timeout=5)
        assert mallory.close_code == 1003
        assert receive(alice) == {"type": "leave", "user": "mallory"}


def test_a_message_over_64_kib_fails_with_1009() -> None:
    with chat_server() as chat, user(chat.port, "big") as ws:
        ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1009
        chat.wait_for_line(r"^leave 'big' \(close 1009\)$")


def test_the_page_is_served_on_the_same_port_and_other_paths_are_404() -> None:
    with chat_server() as chat:
        with urllib.request.urlopen(f"{chat.url}", timeout=5) as response:
            assert response.status == 200
            assert b"new WebSocket" in response.read()
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{chat.url}nothing", timeout=5)
        assert error.value.code == 404


def test_a_client_that_never_reads_is_closed_and_never_holds_up_the_others() -> None:
    """A stuck client: its handshake done, it reads nothing more. The others
    keep chatting; the stuck one is dropped once 1 MiB waits for it."""
    with chat_server() as chat, user(chat.port, "alice") as alice, user(chat.port, "bob") as bob:
        assert receive(alice) == {"type": "join", "user": "bob"}
        with socket.create_connection(("127.0.0.1", chat.port), timeout=5) as stuck:
            conn = Connection(Role.CLIENT)
            stuck.sendall(conn.send(Request(host="127.0.0.1", target="/ws/stuck")))
            head = b""
            while b"\r\n\r\n" not in head:
                head += stuck.recv(1)
            conn.receive_data(head)
            assert [type(e) for e in conn.events()] == [Accept]
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            assert receive(alice) == {"type": "join", "user": "stuck"}
            assert receive(bob) == {"type": "join", "user": "stuck"}
            chunk = "y" * 60_000
            deadline = time.monotonic() + 30
            left = False
            while not left and time.monotonic() < deadline:
                alice.send(chunk)
                assert receive(bob) == {"sender": "alice", "msg": chunk}  # bob is never held up
                left = _poll(alice) == {"type": "leave", "user": "stuck"}
            assert left, "the stuck client was never dropped"


def _poll(ws: ClientConnection) -> dict[str, Any] | None:
    try:
        return receive(ws, timeout=0.05)
    except TimeoutError:
        return None


def test_a_leaving_user_closes_cleanly() -> None:
    with chat_server() as chat, user(chat.port, "alice") as alice:
        alice.close(1001, "bye")
        assert alice.protocol.close_rcvd is not None
        assert alice.protocol.close_rcvd.code == 1001  # the server echoes the code (5.5.1)
        chat.wait_for_line(r"^leave 'alice' \(close 1001\)$")
