"""The documentation tells the truth: its code runs and its tables match."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, Request

from .helpers import ROOT, events, frame, pair


def code_blocks(path: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / path).read_text(), re.DOTALL)


def run_blocks(path: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    for block in code_blocks(path):
        exec(compile(block, path, "exec"), namespace)
    return namespace


def test_readme_server_snippet_answers_a_handshake_and_echoes() -> None:
    namespace = run_blocks("README.md")
    on_bytes: Callable[[bytes], bytes] = namespace["on_bytes"]
    client = Connection(Role.CLIENT)
    client.receive_data(on_bytes(client.send(Request(host="h", target="/"))))
    client.receive_data(on_bytes(client.send(Message("hi"))))
    assert [type(e) for e in events(client)] == [Accept, Message]
    client.receive_data(on_bytes(client.send(Close())))
    assert events(client) == [Close(1000, "", by_peer=True)]


def test_tutorial_server_and_client_talk_over_a_socket_pair() -> None:
    namespace = run_blocks("docs/tutorial.md")
    serve_one = namespace["serve_one"]
    server_sock, client_sock = socket.socketpair()
    thread = threading.Thread(target=serve_one, args=(server_sock,))
    thread.start()
    conn = Connection(Role.CLIENT)
    client_sock.sendall(conn.send(Request(host="h", target="/")))
    got: list[Event] = []
    with client_sock:
        while not conn.should_close_transport:
            conn.receive_data(client_sock.recv(65536) or None)
            for event in conn.events():
                got.append(event)
                if isinstance(event, Accept):
                    client_sock.sendall(conn.send(Message("ping?")) + conn.send(Close()))
    thread.join(5)
    assert got == [Accept(), Message("you said: ping?"), Close(1000, "", by_peer=True)]
    assert callable(namespace["hello"])


def test_security_origin_example_rejects_other_sites() -> None:
    answer = run_blocks("docs/security.md")["answer"]
    for origin, status in (("https://app.example.com", b"101"), ("https://evil.example", b"403")):
        client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
        server.receive_data(client.send(Request(host="h", target="/", origin=origin)))
        (request,) = events(server)
        assert answer(server, request).startswith(b"HTTP/1.1 " + status)


def in_state(role: Role, state: ConnectionState) -> Connection:
    """A connection of ``role`` in ``state``."""
    if state is ConnectionState.CONNECTING:
        conn = Connection(role)
        if role is Role.CLIENT:
            conn.send(Request(host="h", target="/"))
        return conn
    if state is ConnectionState.REJECTING:
        client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
        server.receive_data(client.send(Request(host="h", target="/")))
        events(server)
        client.receive_data(server.send(Reject(403, has_body=True)))
        events(client)
        conn = server if role is Role.SERVER else client
    else:
        client, server = pair(client_opts={"auto_reply": False}, server_opts={"auto_reply": False})
        conn = server if role is Role.SERVER else client
        peer = client if role is Role.SERVER else server
        if state is ConnectionState.LOCAL_CLOSING:
            conn.send(Close())
        elif state is ConnectionState.REMOTE_CLOSING:
            conn.receive_data(peer.send(Close()))
            events(conn)
        elif state is ConnectionState.CLOSED:
            conn.receive_data(peer.send(Close()))
            events(conn)
            conn.send(Close())
    assert conn.state is state
    return conn


def send_table() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "docs" / "states.md").read_text()
    section = text.split("## What may be sent in each state")[1].split("\n\n")[1]
    rows = [line.strip("|").split("|") for line in section.splitlines()[2:]]
    return [(s.strip(" `"), m.strip(), c.strip(), cl.strip()) for s, m, c, cl in rows]


def test_states_table_lists_every_state() -> None:
    assert {row[0] for row in send_table()} == {state.name for state in ConnectionState}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("row", send_table(), ids=lambda row: row[0])
def test_states_table_matches_the_state_machine(role: Role, row: tuple[str, str, str, str]) -> None:
    state = ConnectionState[row[0]]
    cells: list[tuple[str, Event]] = [
        (row[1], Message("m")),
        (row[2], Ping()),
        (row[2], Pong()),
        (row[3], Close()),
    ]
    for cell, event in cells:
        conn = in_state(role, state)
        if cell.startswith("yes"):
            conn.send(event)
            arrow = re.search(r"→ `(\w+)`", cell)
            expected = ConnectionState[arrow.group(1)] if arrow else state
            assert conn.state is expected, (cell, event)
        else:
            with pytest.raises(LocalProtocolError, match=f"state {state.name}"):
                conn.send(event)


def test_after_a_close_event_nothing_more_is_yielded() -> None:
    _, server = pair()
    server.receive_data(frame(0x8, b"\x03\xe8") + frame(0x1, b"after"))
    assert [type(e) for e in events(server)] == [Close]
    server.receive_data(frame(0x1, b"later"))
    assert events(server) == []
