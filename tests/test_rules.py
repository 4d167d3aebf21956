"""Tests that pin rules a mutation audit found unguarded"""

from __future__ import annotations

import zlib

import pytest

from wsproto_lite import Connection, ConnectionState, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Request
from wsproto_lite.extensions import PerMessageDeflate

from .helpers import events, frame, pair, server_open

TEXT, BINARY, CONT, CLOSE, PING = 0x1, 0x2, 0x0, 0x8, 0x9


def failed(conn: Connection, data: bytes) -> Close:
    """Feed ``data``; the connection must fail with nothing delivered before
    it.  Returns the Close event it reports."""
    conn.receive_data(data)
    got = events(conn)
    assert [type(e) for e in got] == [Close], got
    close = got[0]
    assert isinstance(close, Close)
    assert not close.by_peer
    assert conn.state is ConnectionState.CLOSED
    return close


def run_of_equal_fragments_then(last: bytes) -> list[Event]:
    """What a server reports for a binary message whose first frame is
    followed by 39 equal one-byte continuation frames (a run long enough to
    be read column by column) and then ``last``, a frame whose second byte
    is the same as theirs."""
    server = server_open()
    run = b"".join(frame(CONT, b"x", fin=False) for _ in range(39))
    assert last[1] == run[1]  # same MASK bit and length: only the first byte differs
    server.receive_data(frame(BINARY, b"a", fin=False) + run + last)
    return events(server)


# -- 5.1: a client must mask every frame ---------------------------------------------


def test_5_1_server_fails_unmasked_frames_in_a_run_of_equal_fragments() -> None:
    """After a masked continuation frame come 40 that carry four bytes where
    a key would be but lack the MASK bit: they are not masked frames, and
    the connection fails with 1002 at the first of them."""
    server = server_open()
    unmasked = b"".join(
        bytes((masked[0], masked[1] & 0x7F)) + masked[2:]
        for masked in (frame(CONT, b"x", fin=i == 39) for i in range(40))
    )
    close = failed(server, frame(BINARY, b"a", fin=False) + frame(CONT, b"b", fin=False) + unmasked)
    assert close.code == 1002
    assert server.data_to_send() == b"\x88\x02\x03\xea"  # the server's close frame: 1002


# -- 5.2, 5.4, 5.5: only a continuation frame with FIN ends a run of fragments ----------


def test_5_2_rsv_bit_on_the_frame_after_a_run_of_equal_fragments_is_1002() -> None:
    got = run_of_equal_fragments_then(frame(CONT, b"y", rsv=0x40))
    assert [(type(e), getattr(e, "code", None)) for e in got] == [(Close, 1002)]


def test_5_4_new_data_frame_after_a_run_of_equal_fragments_is_1002() -> None:
    got = run_of_equal_fragments_then(frame(TEXT, b"y"))
    assert [(type(e), getattr(e, "code", None)) for e in got] == [(Close, 1002)]


def test_5_5_ping_after_a_run_of_equal_fragments_is_a_ping_not_the_last_piece() -> None:
    assert run_of_equal_fragments_then(frame(PING, b"y")) == [Ping(b"y")]


# -- 5.5.1: the body of a close frame starts with a two-byte code --------------------


def test_5_5_1_one_byte_close_payload_is_reported_as_such() -> None:
    """A one-byte body has no code to read: the connection fails with 1002
    and says why, rather than reading the byte as a code."""
    close = failed(server_open(), frame(CLOSE, b"\x03"))
    assert close == Close(1002, "close frame with a one-byte payload")


# -- 4.1: the client checks the server's subprotocol ----------------------------------


def test_4_1_client_fails_a_101_that_names_two_subprotocols() -> None:
    """The server selects one subprotocol (4.2.2): a response that names two,
    even two the client offered, fails the handshake."""
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", subprotocols=["a", "b"])))
    events(server)
    response = server.send(Accept(subprotocol="a"))
    assert b"Sec-WebSocket-Protocol: a\r\n" in response
    with pytest.raises(RemoteProtocolError, match="subprotocol"):
        client.receive_data(response.replace(b"Sec-WebSocket-Protocol: a", b"Sec-WebSocket-Protocol: a, b"))
    assert client.state is ConnectionState.CLOSED
    assert client.should_close_transport


# -- RFC 7692, 7.1.1.1: server_no_context_takeover ------------------------------------


def test_7_1_1_1_client_starts_each_message_with_an_empty_window() -> None:
    """With server_no_context_takeover agreed, each message the server sends
    starts a new LZ77 window: a server that still refers back into the
    previous message is not followed (1007), as the client does not keep it."""
    offer = PerMessageDeflate(server_no_context_takeover=True)
    client, _ = pair(
        client_opts={"request": Request(host="h", target="/", extensions=[offer])},
        server_opts={"extensions": [PerMessageDeflate()]},
    )
    data = bytes(range(200))
    deflater = zlib.compressobj(wbits=-15)  # a server that keeps its window
    first = (deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4]
    second = (deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(second) < len(data) // 4  # the second message is a reference back into the first
    client.receive_data(frame(BINARY, first, rsv=0x40, mask=False))
    assert events(client) == [Message(data)]
    close = failed(client, frame(BINARY, second, rsv=0x40, mask=False))
    assert close.code == 1007
