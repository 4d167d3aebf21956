"""Regressions of the second hostile-input pass: each test holds the code to
an RFC rule or to a sentence of the docs that outside testing found broken.
The number in each test's name is the defect's number in the issue."""

from __future__ import annotations

import os
import sys

import pytest

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Ping, Request
from wsproto_lite.extensions import PerMessageDeflate
from wsproto_lite.frames import mask_key

from .helpers import events, frame, pair, server_open


def deflate_pair(**opts: object) -> tuple[Connection, Connection]:
    return pair(
        client_opts={"request": Request(host="h", target="/", extensions=[PerMessageDeflate()]), **opts},
        server_opts={"extensions": [PerMessageDeflate()], **opts},
    )


# -- 1. The message limit counts decompressed bytes (docs/limits.md) ------------------


@pytest.mark.parametrize("sender", [Role.CLIENT, Role.SERVER])
def test_01_incompressible_message_at_the_limit_is_received(sender: Role) -> None:
    """docs/limits.md: max_message_size counts a message "after decompression".
    Random data grows when deflated; a message of exactly the limit arrives."""
    limit = 2**20
    client, server = deflate_pair(max_message_size=limit)
    source, sink = (client, server) if sender is Role.CLIENT else (server, client)
    data = os.urandom(limit)
    wire = source.send(Message(data))
    assert len(wire) > limit + 14  # bigger on the wire than the limit
    sink.receive_data(wire)
    assert events(sink) == [Message(data)]


def test_01_compressed_frame_announcing_too_much_still_fails_at_its_header() -> None:
    """RFC 6455 10.4: a frame far past any bound fails before its payload."""
    _client, server = deflate_pair(max_message_size=1000)
    server.receive_data(frame(0x2, b"", rsv=0x40, length=2**40)[:14])
    assert events(server) == [Close(1009, "message exceeds the limit of 1000 bytes")]


def test_01_compressed_continuation_is_bounded_by_what_is_left() -> None:
    client, server = deflate_pair(max_message_size=1000)
    first = client.send(Message(b"a" * 900, message_finished=False))
    server.receive_data(first)
    assert events(server) == []
    # 100 bytes are left: a continuation of 1,000 bytes on the wire cannot fit.
    server.receive_data(frame(0x0, b"\x00" * 1000, fin=True))
    assert events(server) == [Close(1009, "message exceeds the limit of 1000 bytes")]


# -- 3. Memory: empty and tiny fragments (docs/limits.md) --------------------------


def held(conn: Connection) -> int:
    """The bytes the connection holds for the message being received and its
    buffers: every list, string and buffer reachable from its slots."""
    seen: set[int] = set()

    def size(value: object) -> int:
        if id(value) in seen:
            return 0
        seen.add(id(value))
        if isinstance(value, list | tuple):
            return sys.getsizeof(value) + sum(size(item) for item in value)
        if isinstance(value, bytes | bytearray | str):
            return sys.getsizeof(value)
        return 0

    names = [name for cls in type(conn).__mro__ for name in getattr(cls, "__slots__", ())]
    return sum(size(getattr(conn, name, None)) for name in names)


def test_03_empty_continuations_hold_nothing() -> None:
    """docs/limits.md: "a peer cannot make the connection buffer more than the
    limit": 200,000 empty continuation frames of a 1-byte message."""
    server = server_open(max_message_size=65536)
    server.receive_data(frame(0x2, b"a", fin=False))
    events(server)
    baseline = held(server)
    empty = frame(0x0, b"", fin=False) * 10_000
    for _ in range(20):
        server.receive_data(empty)
        assert events(server) == []
    assert held(server) - baseline < len(empty) + 256  # the last read, and no more
    server.receive_data(frame(0x0, b"b"))
    assert events(server) == [Message(b"ab")]


def test_03_empty_compressed_continuations_hold_nothing() -> None:
    client, server = deflate_pair(max_message_size=65536)
    server.receive_data(client.send(Message(b"a", message_finished=False)))
    events(server)
    baseline = held(server)
    empty = client.send(Message(b"", message_finished=False)) * 5_000
    for _ in range(20):
        server.receive_data(empty)
        assert events(server) == []
    assert held(server) - baseline < len(empty) + 256
    server.receive_data(client.send(Message(b"b")))
    assert events(server) == [Message(b"ab")]


@pytest.mark.parametrize("text", [False, True])
@pytest.mark.parametrize("between", [b"", frame(0x9, b"p")])
def test_03_one_byte_fragments_hold_about_the_message(text: bool, between: bytes) -> None:
    """Each fragment kept as its own object cost ~43 times its byte. A ping
    after each fragment stops the fast path's runs; so does each new read."""
    limit = 65536
    server = server_open(max_message_size=limit)
    server.receive_data(frame(0x1 if text else 0x2, b"a", fin=False))
    one = frame(0x0, b"a", fin=False) + between
    for _ in range(limit // 64 - 1):
        server.receive_data(one * 64)
        assert all(isinstance(e, Ping) for e in events(server))
        server.data_to_send()  # the pongs, as an adapter writes them
        assert held(server) < 1.2 * limit + 2048
    server.receive_data(frame(0x0, b"a" * 63))
    got = [e for e in events(server) if not isinstance(e, Ping)]
    assert got == [Message(("a" if text else b"a") * limit)]


# -- 4. Masking keys after fork() (RFC 6455 10.3, docs/security.md) -----------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_04_forked_child_never_reuses_the_parents_keys() -> None:
    """10.3: keys must be unpredictable; docs/security.md: "handed out once
    each". The pool must not be inherited by a child."""
    mask_key()  # the pool is filled now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, b"".join(mask_key() for _ in range(64)))
        os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 4096):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(mask_key() for _ in range(64))
    child_keys = {child[i : i + 4] for i in range(0, len(child), 4)}
    parent_keys = {parent[i : i + 4] for i in range(0, len(parent), 4)}
    assert len(child_keys) == 64
    assert not child_keys & parent_keys


# -- 5. Window bits are ASCII digits (RFC 7692 7.1.2) --------------------------------

SUPERSCRIPT_ONE = "client_max_window_bits=\xb9"


def test_05_server_declines_an_offer_with_a_unicode_digit() -> None:
    """RFC 7692 7.1.2: the value is 1*DIGIT (ASCII); section 7: decline."""
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    server.receive_data(
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; " + SUPERSCRIPT_ONE.encode("latin-1") + b"\r\n\r\n"
    )
    events(server)
    response = server.send(Accept())
    assert b"101" in response
    assert b"permessage-deflate" not in response
    assert server.extensions == ()


def test_05_client_fails_a_response_with_a_unicode_digit_with_1010() -> None:
    """RFC 7692 section 7: a client that cannot accept the response fails
    the connection with 1010."""
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    request = client.send(Request(host="h", target="/", extensions=[PerMessageDeflate()]))
    server.receive_data(request)
    events(server)
    response = server.send(Accept())
    response = response.replace(
        b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate; " + SUPERSCRIPT_ONE.encode("latin-1")
    )
    response += b"\r\n\r\n"
    client.receive_data(response)
    (close,) = events(client)
    assert isinstance(close, Close)
    assert close.code == 1010
    assert client.state is ConnectionState.CLOSED


# -- 10. b"" is the end of the stream in every state ----------------------------------


@pytest.mark.parametrize("stage", ["server-connecting", "client-connecting", "open", "closing"])
def test_10_empty_bytes_end_the_stream_like_none(stage: str) -> None:
    """The issue's choice, documented in docs/api.md: b"" is the end of the
    stream everywhere, exactly like None."""
    results = []
    for end in (b"", None):
        if stage == "server-connecting":
            conn = Connection(Role.SERVER)
        elif stage == "client-connecting":
            conn = Connection(Role.CLIENT)
            conn.send(Request(host="h", target="/"))
        else:
            conn = pair()[1]
            if stage == "closing":
                conn.send(Close())
        conn.receive_data(end)
        results.append((events(conn), conn.state, conn.should_close_transport))
        # The end may be reported again; data after it is refused, and the
        # connection stays as it was.
        conn.receive_data(end)
        assert events(conn) == []
        with pytest.raises(LocalProtocolError, match="after the end of the stream"):
            conn.receive_data(b"more")
        assert results[-1][1:] == (conn.state, conn.should_close_transport)
    assert results[0] == results[1]
    assert results[0][1] is ConnectionState.CLOSED
