"""The documentation tells the truth: its code runs and its tables match."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Request

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


def test_origin_guide_rejects_other_sites() -> None:
    answer = run_blocks("docs/howto/origin.md")["answer"]
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


# -- docs/howto/ ------------------------------------------------------------------------


def test_embed_guide_upgrades_from_a_scope() -> None:
    namespace = run_blocks("docs/howto/embed.md")
    upgrade = namespace["upgrade_from_scope"]
    headers = [
        (b"host", b"h"),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-protocol", b"chat"),
    ]
    scope = {"type": "websocket", "raw_path": b"/ws", "headers": headers, "http_version": "1.1"}
    conn, data = upgrade(scope)
    assert data.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol: chat" in data
    assert conn.state.name == "OPEN"
    scope["headers"] = [(k, b"8" if k == b"sec-websocket-version" else v) for k, v in headers]
    conn, data = upgrade(scope)
    assert data.startswith(b"HTTP/1.1 426 ")


def test_embed_guide_opened_pair_talks_compressed() -> None:
    namespace = run_blocks("docs/howto/embed.md")
    client, server = namespace["client"], namespace["server"]
    assert client.extensions
    assert server.extensions
    server.receive_data(client.send(Message("squeeze " * 50)))
    assert events(server) == [Message("squeeze " * 50)]


def test_keepalive_guide_asyncio_loop_sends_pings() -> None:
    """The page's asyncio loop, as a server with a fast keepalive, against a
    client on loopback that reads for a while and then closes."""
    import asyncio

    namespace = run_blocks("docs/howto/keepalive.md")
    serve_connection = namespace["serve_connection"]
    servers: list[Connection] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(Role.SERVER, ping_interval=0.05, ping_timeout=1.0, close_timeout=1.0)
        servers.append(conn)
        data = await reader.readuntil(b"\r\n\r\n")
        conn.receive_data(data)
        for _ in conn.events():
            writer.write(conn.send(Accept()))
        await serve_connection(conn, reader, writer)

    async def main() -> list[Event]:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Connection(Role.CLIENT)
        writer.write(client.send(Request(host="h", target="/")))
        got: list[Event] = []
        loop = asyncio.get_running_loop()
        until = loop.time() + 0.4
        while loop.time() < until:
            try:
                data = await asyncio.wait_for(reader.read(65536), until - loop.time())
            except TimeoutError:
                break
            client.receive_data(data)
            got.extend(client.events())
            writer.write(client.data_to_send())  # the pongs
        writer.write(client.send(Close()))
        while not client.should_close_transport:
            client.receive_data(await asyncio.wait_for(reader.read(65536), 5))
            got.extend(client.events())
        writer.close()
        server.close()
        await server.wait_closed()
        return got

    got = asyncio.run(main())
    pings = [e for e in got if isinstance(e, Ping)]
    assert len(pings) >= 3
    assert got[-1] == Close(1000, "", by_peer=True)
    assert servers[0].latency is not None


def test_keepalive_guide_blocking_loop_fails_a_peer_that_never_answers_pings() -> None:
    """The page's blocking loop, as a server with a fast keepalive, against a
    client that reads but never answers: the server fails it with 1011."""
    namespace = run_blocks("docs/howto/keepalive.md")
    assert callable(namespace["serve_trio"])
    serve_blocking = namespace["serve_blocking"]
    server_sock, client_sock = socket.socketpair()
    client, server = pair(server_opts={"ping_interval": 0.05, "ping_timeout": 0.1})
    thread = threading.Thread(target=serve_blocking, args=(server, server_sock))
    thread.start()
    got: list[Event] = []
    with client_sock:
        client_sock.settimeout(5)
        while not client.should_close_transport:
            client.receive_data(client_sock.recv(65536))
            got.extend(client.events())  # its pongs are never written
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(got[0], Ping)
    assert got[-1] == Close(1011, "keepalive ping timeout", by_peer=True)


def test_http2_guide_host_answers_a_websocket_and_refuses_a_bad_request() -> None:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    from wsproto_lite import extended_connect

    on_request = run_blocks("docs/howto/http2.md")["on_request"]
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    server.local_settings = h2.settings.Settings(
        client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1}
    )
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    good = extended_connect.request_headers(Request("h", "/"))
    client.send_headers(1, good)
    client.send_headers(3, [(k, b"12" if k == b"sec-websocket-version" else v) for k, v in good])
    answers = [
        on_request(server, e)
        for e in server.receive_data(client.data_to_send())
        if isinstance(e, h2.events.RequestReceived)
    ]
    assert [type(a).__name__ for a in answers] == ["Connection", "NoneType"]
    statuses = [
        dict(e.headers)[b":status"]
        for e in client.receive_data(server.data_to_send())
        if isinstance(e, h2.events.ResponseReceived)
    ]
    assert statuses == [b"200", b"400"]
