"""The documentation tells the truth: its code runs and its tables match."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Close, Event, Message, Request

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


def test_after_a_close_event_nothing_more_is_yielded() -> None:
    _, server = pair()
    server.receive_data(frame(0x8, b"\x03\xe8") + frame(0x1, b"after"))
    assert [type(e) for e in events(server)] == [Close]
    server.receive_data(frame(0x1, b"later"))
    assert events(server) == []
