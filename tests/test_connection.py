"""The connection after the handshake: RFC 6455, sections 5 to 8."""

from __future__ import annotations

import pytest

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, Role
from wsproto_lite._frames import apply_mask
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request

from .helpers import client_open, events, frame, pair, server_open

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def close_code(data: bytes) -> int | None:
    """The code in the (unmasked) close frame that ``data`` ends with."""
    assert data[0] == 0x88, data
    payload = apply_mask(data[6:], data[2:6]) if data[1] & 0x80 else data[2:]
    return int.from_bytes(payload[:2], "big") if payload else None


def failed_with(conn: Connection, data: bytes) -> int:
    """Feed ``data``; return the close code the connection failed with."""
    conn.receive_data(data)
    got = events(conn)
    close = got[-1]
    assert isinstance(close, Close), got
    assert not close.by_peer
    assert conn.state is ConnectionState.CLOSED
    assert conn.should_close_transport
    assert close_code(conn.data_to_send()) == close.code
    return close.code


# -- Round trips -------------------------------------------------------------


def test_every_event_type_round_trips_in_memory() -> None:
    client, server = pair()
    sent: list[Event] = [
        Message("hello"),
        Message(b"\x00\x01"),
        Message("é" * 70000),
        Message(bytes(70000)),
        Ping(b"p"),
        Pong(b"q"),
        Message(""),
        Message(b""),
    ]
    for event in sent:
        server.receive_data(client.send(event))
    assert events(server) == sent
    # The server answered the client's ping by itself.
    client.receive_data(server.data_to_send())
    assert events(client) == [Pong(b"p")]
    for event in sent:
        client.receive_data(server.send(event))
    assert events(client) == sent
    server.receive_data(client.data_to_send())
    assert events(server) == [Pong(b"p")]
    server.receive_data(client.send(Close(1000, "done")))
    assert events(server) == [Close(1000, "done", by_peer=True)]
    client.receive_data(server.data_to_send())
    assert events(client) == [Close(1000, "", by_peer=True)]


def test_7_closing_handshake_client_first() -> None:
    client, server = pair()
    server.receive_data(client.send(Close(1001, "going")))
    assert client.state is ConnectionState.LOCAL_CLOSING
    assert events(server) == [Close(1001, "going", by_peer=True)]
    assert server.state is ConnectionState.CLOSED
    assert server.should_close_transport  # 7.1.1: the server closes first
    client.receive_data(server.data_to_send())
    assert events(client) == [Close(1001, "", by_peer=True)]
    assert client.state is ConnectionState.CLOSED
    assert not client.should_close_transport  # it waits for the server to close
    client.receive_data(None)
    assert events(client) == []
    assert client.should_close_transport


def test_7_closing_handshake_server_first() -> None:
    client, server = pair()
    client.receive_data(server.send(Close(4000, "app")))
    assert events(client) == [Close(4000, "app", by_peer=True)]
    server.receive_data(client.data_to_send())
    assert events(server) == [Close(4000, "", by_peer=True)]
    assert server.state is client.state is ConnectionState.CLOSED


def test_5_5_1_empty_close_is_1005_and_answered_empty() -> None:
    server = server_open()
    server.receive_data(frame(CLOSE))
    assert events(server) == [Close(1005, "", by_peer=True)]
    assert server.data_to_send() == b"\x88\x00"


def test_messages_in_local_closing_are_still_delivered() -> None:
    client, server = pair()
    server.send(Close())
    server.receive_data(client.send(Message("late")) + client.send(Close()))
    assert events(server) == [Message("late"), Close(1000, "", by_peer=True)]


def test_auto_reply_off_leaves_pong_and_close_to_the_caller() -> None:
    client, server = pair(server_opts={"auto_reply": False})
    server.receive_data(client.send(Ping(b"x")) + client.send(Close(1000)))
    assert events(server) == [Ping(b"x"), Close(1000, "", by_peer=True)]
    assert server.data_to_send() == b""
    assert server.state is ConnectionState.REMOTE_CLOSING
    server.receive_data(frame(TEXT, b"ignored after close"))
    assert events(server) == []
    out = server.send(Message("last words"))  # 5.5.1 allows finishing a message
    out += server.send(Close(1000))
    client.receive_data(out)
    assert events(client) == [Message("last words"), Close(1000, "", by_peer=True)]
    assert server.state is ConnectionState.CLOSED


def test_remote_closing_then_end_of_stream() -> None:
    server = server_open(auto_reply=False)
    server.receive_data(frame(CLOSE, b"\x03\xe8"))
    events(server)
    server.receive_data(None)
    assert events(server) == []
    assert server.state is ConnectionState.CLOSED


def test_send_returns_pending_automatic_replies_first() -> None:
    server = server_open()
    server.receive_data(frame(PING, b"1"))
    events(server)
    out = server.send(Message("after"))
    assert out.startswith(b"\x8a\x011")  # the pong goes first
    assert server.data_to_send() == b""


def test_7_1_5_end_of_stream_without_close_is_1006() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"last"))
    server.receive_data(None)
    got = events(server)
    assert got[0] == Message("last")
    assert isinstance(got[1], Close)
    assert got[1].code == 1006
    assert not got[1].by_peer
    assert server.data_to_send() == b""  # nobody to send a close frame to


def test_end_of_stream_while_waiting_for_close_reply_is_1006() -> None:
    client = client_open()
    client.send(Close())
    client.receive_data(None)
    (close,) = events(client)
    assert isinstance(close, Close)
    assert close.code == 1006
    assert client.should_close_transport


def test_nothing_after_closed() -> None:
    server = server_open()
    server.receive_data(frame(CLOSE, b"\x03\xe8") + frame(TEXT, b"after"))
    assert [type(e) for e in events(server)] == [Close]
    server.receive_data(frame(TEXT, b"more"))
    server.receive_data(None)
    assert events(server) == []


# -- Masking, section 5.1 and 5.3 --------------------------------------------


def test_5_1_server_fails_unmasked_frames() -> None:
    assert failed_with(server_open(), frame(TEXT, b"x", mask=False)) == 1002


def test_5_1_client_fails_masked_frames() -> None:
    assert failed_with(client_open(), frame(TEXT, b"x", mask=True)) == 1002


@pytest.mark.parametrize("size", [125, 126, 127, 128, 129, 130, 2047, 2048, 4099, 65535])
def test_5_3_server_unmasks_whole_frames_of_every_length_form(size: int) -> None:
    """Each size is unmasked by its own technique (one integer, the key
    repeated as bytes with a partial last repetition, lanes)."""
    server = server_open()
    payload = bytes(i * 7 % 256 for i in range(size))
    server.receive_data(frame(BINARY, payload) + frame(TEXT, payload.hex()[:size].encode()))
    assert events(server) == [Message(payload), Message(payload.hex()[:size])]


def test_5_3_client_masks_every_frame() -> None:
    client = client_open()
    for event in (Message("a"), Message(b"b"), Ping(), Pong(), Close()):
        data = client.send(event)
        assert data[1] & 0x80
    # and the pong and close replies it makes itself
    client = client_open()
    client.receive_data(frame(PING, b"p", mask=False) + frame(CLOSE, mask=False))
    events(client)
    out = client.data_to_send()
    assert out[0] == 0x8A  # the pong: 2 header bytes, 4 key bytes, 1 payload byte
    assert out[1] & 0x80
    assert out[7] == 0x88  # the close reply starts at byte 7...
    assert out[8] & 0x80  # ...and its MASK bit is the top bit of its second byte


# -- Framing errors, section 5.2 to 5.5: every one fails with 1002 ------------


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_5_2_rsv_bits_without_extension(rsv: int) -> None:
    assert failed_with(server_open(), frame(TEXT, b"x", rsv=rsv)) == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_5_2_reserved_opcodes(opcode: int) -> None:
    assert failed_with(server_open(), frame(opcode, b"")) == 1002


def test_5_5_control_frame_over_125_bytes() -> None:
    assert failed_with(server_open(), frame(PING, bytes(126))) == 1002


def test_5_5_fragmented_control_frame() -> None:
    assert failed_with(server_open(), frame(PING, b"x", fin=False)) == 1002


def test_5_2_rsv_on_control_frame_with_extension_bits_allowed() -> None:
    conn = server_open()
    conn._rsv_allowed = 0x40  # as if an extension claimed RSV1
    assert failed_with(conn, frame(PING, b"", rsv=0x40)) == 1002


def test_5_4_continuation_with_nothing_to_continue() -> None:
    assert failed_with(server_open(), frame(CONT, b"x")) == 1002


def test_5_4_new_data_frame_inside_fragmented_message() -> None:
    assert failed_with(server_open(), frame(TEXT, b"a", fin=False) + frame(TEXT, b"b")) == 1002


def test_5_2_length_with_most_significant_bit_set() -> None:
    conn = server_open(max_message_size=None)
    assert failed_with(conn, b"\x82\xff" + b"\x80" + bytes(7)) == 1002


def test_valid_message_before_a_bad_frame_is_delivered_first() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"good") + frame(TEXT, b"bad", rsv=0x20))
    stream = server.events()
    assert next(stream) == Message("good")
    # The application answers the good message before the connection fails.
    assert server.send(Message("echo")) == b"\x81\x04echo"
    close = next(stream)
    assert isinstance(close, Close)
    assert close.code == 1002
    assert close_code(server.data_to_send()) == 1002


# -- Messages, section 5.4 and 5.6 -------------------------------------------


def test_5_4_fragmented_message_with_interleaved_control_frames() -> None:
    server = server_open()
    server.receive_data(
        frame(TEXT, b"Hel", fin=False)
        + frame(PING, b"1")
        + frame(CONT, b"lo, ", fin=False)
        + frame(PONG, b"2")
        + frame(CONT, "wörld".encode())
    )
    assert events(server) == [Ping(b"1"), Pong(b"2"), Message("Hello, wörld")]


def test_5_4_many_fragments_reassemble_in_linear_time() -> None:
    server = server_open()
    data = b"".join(frame(CONT if i else BINARY, b"ab", fin=False) for i in range(20000))
    server.receive_data(data + frame(CONT, b"!"))
    assert events(server) == [Message(b"ab" * 20000 + b"!")]


def test_frames_split_at_every_byte() -> None:
    server = server_open()
    data = frame(TEXT, "grüße".encode()) + frame(BINARY, bytes(300)) + frame(PING, b"x")
    got: list[Event] = []
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
        got += events(server)
    assert got == [Message("grüße"), Message(bytes(300)), Ping(b"x")]


def test_stream_messages_delivers_pieces() -> None:
    server = server_open(stream_messages=True)
    server.receive_data(frame(TEXT, b"ab", fin=False) + frame(CONT, b"cd"))
    assert events(server) == [Message("ab", message_finished=False), Message("cd")]
    server.receive_data(frame(BINARY, b"xyz"))
    assert events(server) == [Message(b"xyz")]


def test_stream_messages_delivers_a_large_frame_as_it_arrives() -> None:
    server = server_open(stream_messages=True)
    data = frame(BINARY, bytes(range(256)) * 40)
    server.receive_data(data[:5000])
    first = events(server)
    assert len(first) == 1
    assert isinstance(first[0], Message)
    assert not first[0].message_finished
    server.receive_data(data[5000:])
    rest = events(server)
    assert rest[-1].message_finished  # type: ignore[union-attr]
    pieces = [e.data for e in first + rest if isinstance(e, Message)]
    assert all(type(p) is bytes for p in pieces)  # never a bytearray
    assert b"".join(p for p in pieces if isinstance(p, bytes)) == bytes(range(256)) * 40


def test_8_1_invalid_utf8_is_1007() -> None:
    assert failed_with(server_open(), frame(TEXT, b"\xff")) == 1007


def test_8_1_invalid_utf8_fails_at_once_across_frames() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"ok \xce", fin=False))
    assert events(server) == []
    assert server.state is ConnectionState.OPEN
    # The bad byte arrives before the message ends: fail now, not at FIN.
    assert failed_with(server, frame(CONT, b"\xff", fin=False)) == 1007


def test_8_1_invalid_utf8_fails_at_once_inside_one_frame() -> None:
    server = server_open()
    data = frame(TEXT, b"ok \xf4\x90\x80\x80 more text")
    server.receive_data(data[:11])  # up to the second byte of f4 90
    assert [e.code for e in events(server) if isinstance(e, Close)] == [1007]


def test_8_1_surrogate_prefix_fails_at_its_second_byte() -> None:
    server = server_open()
    assert failed_with(server, frame(TEXT, b"a\xed\xa0", fin=False)) == 1007


def test_8_1_code_point_split_across_frames_is_fine() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b"\xac"))
    assert events(server) == [Message("€")]


def test_8_1_truncated_code_point_at_end_of_message_is_1007() -> None:
    server = server_open()
    assert failed_with(server, frame(TEXT, b"a", fin=False) + frame(CONT, b"\xe2\x82")) == 1007


# -- Limits --------------------------------------------------------------------


def test_message_limit_exactly_and_plus_one() -> None:
    server = server_open(max_message_size=100)
    server.receive_data(frame(BINARY, bytes(100)))
    assert events(server) == [Message(bytes(100))]
    assert failed_with(server, frame(BINARY, bytes(101))) == 1009


def test_message_limit_is_checked_from_the_header_before_buffering() -> None:
    server = server_open(max_message_size=1000)
    # Only the header of a frame that announces 2**40 bytes arrives.
    assert failed_with(server, frame(BINARY, b"", length=2**40)[:14]) == 1009


def test_message_limit_counts_all_fragments() -> None:
    server = server_open(max_message_size=10)
    server.receive_data(frame(TEXT, b"12345", fin=False))
    assert events(server) == []
    assert failed_with(server, frame(CONT, b"123456")) == 1009


@pytest.mark.parametrize("limit", [400, 399])
def test_message_limit_in_a_long_run_of_equal_fragments(limit: int) -> None:
    """40 pieces of 10 bytes, the last with FIN: a run long enough to be
    read column by column must still stop at the limit (10.4: limit and limit
    plus one)."""
    server = server_open(max_message_size=limit)
    pieces = [bytes([48 + i % 10]) * 10 for i in range(40)]
    server.receive_data(
        frame(BINARY, pieces[0], fin=False)
        + b"".join(frame(CONT, piece, fin=i == 39) for i, piece in enumerate(pieces[1:], 1))
    )
    got = events(server)
    if limit == 400:
        assert got == [Message(b"".join(pieces))]
    else:
        assert got == [Close(1009, "message exceeds the limit of 399 bytes")]


def test_message_limit_starts_again_for_each_message() -> None:
    server = server_open(max_message_size=10)
    server.receive_data(frame(TEXT, b"12345", fin=False) + frame(CONT, b"12345") + frame(TEXT, b"1234567890"))
    assert events(server) == [Message("1234512345"), Message("1234567890")]


@pytest.mark.parametrize("name", ["max_message_size", "max_frame_size"])
def test_a_limit_set_on_an_open_connection_holds_for_the_next_frame(name: str) -> None:
    """The limits are attributes a server may change, per connection, after
    the handshake (10.4): a small whole frame over the new limit fails too."""
    server = server_open()
    setattr(server, name, 10)
    assert getattr(server, name) == 10
    server.receive_data(frame(TEXT, b"1234567890"))
    assert events(server) == [Message("1234567890")]
    assert failed_with(server, frame(TEXT, b"12345678901")) == 1009


def test_stream_messages_set_on_an_open_connection_reports_pieces() -> None:
    server = server_open()
    server.stream_messages = True
    assert server.stream_messages
    server.receive_data(frame(TEXT, b"ab", fin=False) + frame(CONT, b"cd"))
    assert events(server) == [Message("ab", message_finished=False), Message("cd")]


def test_default_message_limit_is_1_mib() -> None:
    server = server_open()
    assert server.max_message_size == 2**20
    assert failed_with(server, frame(BINARY, b"", length=2**20 + 1)[:14]) == 1009


def test_frame_limit() -> None:
    server = server_open(max_frame_size=4)
    server.receive_data(frame(BINARY, b"1234", fin=False))
    assert events(server) == []
    assert failed_with(server, frame(CONT, b"12345")) == 1009


def test_no_limit() -> None:
    server = server_open(max_message_size=None)
    server.receive_data(frame(BINARY, bytes(2**21)))
    assert events(server) == [Message(bytes(2**21))]


# -- Closing rules, sections 5.5.1 and 7.4 -------------------------------------


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_7_4_received_invalid_close_code_is_1002(code: int) -> None:
    assert failed_with(server_open(), frame(CLOSE, code.to_bytes(2, "big"))) == 1002


@pytest.mark.parametrize("code", [1012, 1013, 1014, 3000, 4999])
def test_7_4_registered_and_private_codes_are_accepted(code: int) -> None:
    server = server_open()
    server.receive_data(frame(CLOSE, code.to_bytes(2, "big") + b"why"))
    assert events(server) == [Close(code, "why", by_peer=True)]


def test_5_5_1_close_reason_not_utf8_is_1007() -> None:
    assert failed_with(server_open(), frame(CLOSE, b"\x03\xe8\xc0")) == 1007


def test_5_5_1_one_byte_close_is_1002() -> None:
    assert failed_with(server_open(), frame(CLOSE, b"\x03")) == 1002


def test_failing_after_our_close_sends_no_second_close() -> None:
    server = server_open()
    server.send(Close())
    server.receive_data(frame(TEXT, b"\xff"))
    got = events(server)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1007
    assert server.data_to_send() == b""


# -- API misuse ------------------------------------------------------------------


@pytest.mark.parametrize("event", [Message("x"), Ping(), Pong(), Close()])
def test_sending_before_the_handshake(event: Event) -> None:
    with pytest.raises(
        LocalProtocolError, match=r"CONNECTING \(server\).*wait for the Request.*now: Reject$"
    ):
        Connection(Role.SERVER).send(event)


@pytest.mark.parametrize("event", [Message("x"), Ping(), Close()])
def test_sending_after_close(event: Event) -> None:
    client, server = pair()
    client.receive_data(server.send(Close()))
    with pytest.raises(LocalProtocolError, match="LOCAL_CLOSING"):
        server.send(event)
    events(client)
    server.receive_data(client.data_to_send())
    events(server)
    with pytest.raises(LocalProtocolError, match="CLOSED"):
        server.send(event)


def test_sending_something_that_is_not_an_event() -> None:
    with pytest.raises(LocalProtocolError, match=r"'hello' is not an event; see wsproto_lite\.events"):
        server_open().send("hello")  # type: ignore[arg-type]


def test_sending_after_a_rejection() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(Connection(Role.CLIENT).send(Request(host="h", target="/")))
    events(server)
    server.send(Reject(403, has_body=True))
    with pytest.raises(LocalProtocolError, match="REJECTING"):
        server.send(Message("x"))
    with pytest.raises(LocalProtocolError, match=r"REJECTING .*allowed now: RejectData$"):
        server.send(Accept())


def test_invalid_close_code_is_refused_not_rewritten() -> None:
    server = server_open()
    with pytest.raises(LocalProtocolError, match="1006 may not be sent"):
        server.send(Close(1006))
    with pytest.raises(LocalProtocolError, match="at most 123"):
        server.send(Close(1000, "x" * 124))
    assert server.state is ConnectionState.OPEN


def test_close_1005_sends_an_empty_close_frame() -> None:
    assert server_open().send(Close(1005)) == b"\x88\x00"


def test_control_payload_over_125_bytes_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="at most 125"):
        server_open().send(Ping(bytes(126)))


def test_fragmented_send_and_type_mismatch() -> None:
    client, server = pair()
    data = client.send(Message("ab", message_finished=False))
    with pytest.raises(LocalProtocolError, match="type of the first"):
        client.send(Message(b"cd"))
    data += client.send(Message("cd"))
    server.receive_data(data)
    assert events(server) == [Message("abcd")]
    frames = apply_mask(data[6:8], data[2:6])
    assert frames == b"ab"
    assert data[0] == 0x01  # TEXT without FIN, then a continuation
    assert data[8] == 0x80


def test_events_can_be_read_in_several_passes() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"1") + frame(TEXT, b"2"))
    first = next(server.events())
    assert first == Message("1")
    assert events(server) == [Message("2")]


def test_closing_while_reading_events_stops_decoding() -> None:
    _client, server = pair(server_opts={"auto_reply": False})
    server.receive_data(frame(CLOSE, b"\x03\xe8") + frame(TEXT, b"x"))
    got = events(server)
    assert [type(e) for e in got] == [Close]
    server.send(Close())
    assert server.state is ConnectionState.CLOSED
    assert RejectData is not None


# -- The fast paths give the same answers as the general one ------------------


def test_5_2_64_bit_length_frame_whole_in_one_read() -> None:
    server = server_open(max_message_size=None)
    payload = bytes(range(256)) * 300
    server.receive_data(frame(BINARY, payload) + frame(TEXT, b"after"))
    assert events(server) == [Message(payload), Message("after")]


def test_5_2_16_bit_length_frames_in_both_roles() -> None:
    client, server = pair()
    server.receive_data(client.send(Message("é" * 200)) + client.send(Message(bytes(300))))
    assert events(server) == [Message("é" * 200), Message(bytes(300))]
    client.receive_data(server.send(Message("ü" * 30000)))
    assert events(client) == [Message("ü" * 30000)]


def test_8_1_bad_utf8_in_small_continuations_fails_in_the_same_read() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"ok", fin=False) + frame(CONT, b"fine", fin=False))
    assert events(server) == []
    server.receive_data(frame(CONT, b"\xc0\xaf", fin=False))
    assert [getattr(e, "code", None) for e in events(server)] == [1007]


def test_8_1_pending_text_is_checked_before_a_following_ping() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"a", fin=False) + frame(CONT, b"\xff", fin=False) + frame(PING, b"p"))
    got = events(server)
    assert [type(e) for e in got] == [Close]
    assert got[0].code == 1007  # type: ignore[union-attr]


def test_8_1_code_point_split_over_many_small_continuations() -> None:
    server = server_open()
    data = frame(TEXT, b"\xf0", fin=False) + frame(CONT, b"\x9f", fin=False)
    data += frame(CONT, b"\x98", fin=False) + frame(CONT, b"\x80")
    server.receive_data(data)
    assert events(server) == [Message("😀")]


def test_8_1_truncated_code_point_in_last_small_continuation_is_1007() -> None:
    server = server_open()
    server.receive_data(frame(TEXT, b"a", fin=False) + frame(CONT, b"\xe2\x82"))
    assert [getattr(e, "code", None) for e in events(server)] == [1007]


def test_message_limit_on_small_continuations() -> None:
    server = server_open(max_message_size=150)
    server.receive_data(frame(BINARY, bytes(100), fin=False) + frame(CONT, bytes(50), fin=False))
    assert events(server) == []
    server.receive_data(frame(CONT, bytes(1)))
    assert [getattr(e, "code", None) for e in events(server)] == [1009]


def test_frame_limit_applies_to_the_fast_path() -> None:
    server = server_open(max_frame_size=100)
    server.receive_data(frame(TEXT, b"x" * 100) + frame(TEXT, b"x" * 101))
    got = events(server)
    assert got[0] == Message("x" * 100)
    assert getattr(got[1], "code", None) == 1009


def test_header_claiming_2_63_minus_1_bytes_fails_at_once_and_allocates_nothing() -> None:
    import tracemalloc

    server = server_open()
    header = b"\x82\xff" + (2**63 - 1).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    tracemalloc.start()
    server.receive_data(header)
    got = events(server)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [getattr(e, "code", None) for e in got] == [1009]
    assert peak < 64 * 1024  # nothing near the announced size


def test_a_peer_that_never_reads_costs_no_more_than_one_read() -> None:
    # A peer floods pings and reads none of our pongs. The adapter reads the
    # events and writes data_to_send() after each receive, as it must; the
    # pongs then pile up in its socket, not in the connection, which holds
    # no more than the chunk at hand however long the flood goes on.
    import tracemalloc

    server = server_open()
    chunk = b"".join(frame(PING, b"p" * 125) for _ in range(500))  # 65.5 KB
    tracemalloc.start()
    for _ in range(40):  # 2.6 MB in all, 40 times what the connection may hold
        server.receive_data(chunk)
        for _ in server.events():
            pass
        assert len(server.data_to_send()) == 500 * 127
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * len(chunk)


def test_8_1_invalid_utf8_in_a_64_bit_length_frame_is_1007() -> None:
    assert failed_with(server_open(max_message_size=None), frame(TEXT, b"a" * 70000 + b"\xff")) == 1007


def test_5_2_64_bit_header_arriving_in_pieces() -> None:
    server = server_open(max_message_size=None)
    data = frame(BINARY, bytes(70000)) + frame(TEXT, b"next")
    server.receive_data(data[:5])
    assert events(server) == []
    server.receive_data(data[5:])
    assert events(server) == [Message(bytes(70000)), Message("next")]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_data_fed_between_events_is_read_after_what_came_before(kind: type) -> None:
    # receive_data() while events() is being iterated: the new bytes join
    # the buffer after what is unread, whatever object the caller passes
    # (a bytes object may become the buffer itself: see Receiver._buffer).
    _, server = pair()
    three = frame(0x2, b"three" * 100, fin=False)
    first = frame(0x1, b"one") + frame(0x1, b"two") + three[:40]
    rest = three[40:] + frame(0x0, b"!") + frame(0x1, b"four")
    server.receive_data(first)
    got: list[Event] = []
    for event in server.events():
        got.append(event)
        if len(got) == 1:
            server.receive_data(kind(rest[:7]))
            server.receive_data(kind(rest[7:]))
    assert got == [Message("one"), Message("two"), Message(b"three" * 100 + b"!"), Message("four")]


def test_the_callers_buffer_may_change_after_receive_data() -> None:
    # What was fed is what is read, even if the caller reuses its buffer
    # (as a recv_into loop does) before reading the events.
    _, server = pair()
    buffer = bytearray(frame(0x1, b"hello"))
    server.receive_data(buffer)
    buffer[:] = frame(0x1, b"HELLO")
    view = memoryview(bytearray(frame(0x1, b"world")))
    server.receive_data(view)
    view[:] = frame(0x1, b"WORLD")
    assert events(server) == [Message("hello"), Message("world")]
