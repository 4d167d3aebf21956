"""permessage-deflate: RFC 7692."""

from __future__ import annotations

import re
import tracemalloc
import zlib

import pytest

from wsproto_lite import Connection, ConnectionState, Role
from wsproto_lite._frames import apply_mask
from wsproto_lite._headers import parse_extension
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Request
from wsproto_lite.extensions import DeflateSession, PerMessageDeflate

from .helpers import events, frame

BROWSER_REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)


def negotiate(
    offer: PerMessageDeflate | None = None,
    server: PerMessageDeflate | None = None,
    **opts: object,
) -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT, **opts)  # type: ignore[arg-type]
    srv = Connection(Role.SERVER, extensions=[server or PerMessageDeflate()], **opts)  # type: ignore[arg-type]
    srv.receive_data(client.send(Request(host="h", target="/", extensions=[offer or PerMessageDeflate()])))
    events(srv)
    client.receive_data(srv.send(Accept()))
    assert [type(e) for e in events(client)] == [Accept]
    return client, srv


def response_to(offer: str, server: PerMessageDeflate | None = None) -> str | None:
    """The server's answer (parameters) to one offer, or None if declined."""
    answer = (server or PerMessageDeflate()).accept(parse_extension(f"permessage-deflate; {offer}")[1])
    return None if answer is None else answer[0]


def session(conn: Connection) -> DeflateSession:
    (found,) = conn.extensions
    assert isinstance(found, DeflateSession)
    return found


# -- Negotiation, section 7.1 ------------------------------------------------------


def test_7_1_browser_offer_is_accepted() -> None:
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    server.receive_data(BROWSER_REQUEST)
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.extensions == ("permessage-deflate; client_max_window_bits",)
    response = server.send(Accept())
    assert b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n" in response
    assert isinstance(server.extensions[0], DeflateSession)


def test_7_1_client_offer() -> None:
    assert PerMessageDeflate().offer() == "client_max_window_bits"
    assert (
        PerMessageDeflate(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=9,
        ).offer()
        == "server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; "
        "client_max_window_bits=9"
    )


@pytest.mark.parametrize(
    ("offer", "config", "response"),
    [
        ("", PerMessageDeflate(), ""),
        ("client_max_window_bits", PerMessageDeflate(), ""),
        ("client_max_window_bits", PerMessageDeflate(client_max_window_bits=10), "client_max_window_bits=10"),
        ("client_max_window_bits=12", PerMessageDeflate(), "client_max_window_bits=12"),
        (
            "client_max_window_bits=12",
            PerMessageDeflate(client_max_window_bits=14),
            "client_max_window_bits=12",
        ),
        ("", PerMessageDeflate(client_max_window_bits=10), ""),  # 7.1.2.2: not offered, not answered
        ("server_max_window_bits=10", PerMessageDeflate(), "server_max_window_bits=10"),
        (
            "server_max_window_bits=10",
            PerMessageDeflate(server_max_window_bits=9),
            "server_max_window_bits=9",
        ),
        ("server_no_context_takeover", PerMessageDeflate(), "server_no_context_takeover"),
        ("client_no_context_takeover", PerMessageDeflate(), "client_no_context_takeover"),
        ("", PerMessageDeflate(server_no_context_takeover=True), "server_no_context_takeover"),
        ("", PerMessageDeflate(client_no_context_takeover=True), "client_no_context_takeover"),
        ('server_max_window_bits="11"', PerMessageDeflate(), "server_max_window_bits=11"),
    ],
)
def test_7_1_server_response(offer: str, config: PerMessageDeflate, response: str) -> None:
    assert response_to(offer, config) == response


@pytest.mark.parametrize(
    "offer",
    [
        "unknown_param",
        "server_no_context_takeover; server_no_context_takeover",
        "server_no_context_takeover=1",
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=010",
        "client_max_window_bits=abc",
        "client_max_window_bits=",
    ],
)
def test_7_1_malformed_offers_are_declined(offer: str) -> None:
    assert response_to(offer) is None


def test_7_server_accepts_the_first_offer_it_can_honour() -> None:
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    server.receive_data(
        BROWSER_REQUEST.replace(
            b"permessage-deflate; client_max_window_bits",
            b"permessage-deflate; x=1, permessage-deflate; server_max_window_bits=12, permessage-deflate",
        )
    )
    events(server)
    assert b"Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12\r\n" in server.send(
        Accept()
    )


def test_server_without_deflate_ignores_the_offer() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", extensions=[PerMessageDeflate()])))
    events(server)
    client.receive_data(server.send(Accept()))
    events(client)
    assert client.extensions == server.extensions == ()
    server.receive_data(client.send(Message("plain")))
    assert events(server) == [Message("plain")]


def _client_gets(response: str, offer: PerMessageDeflate | None = None) -> list[Event]:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    server.receive_data(client.send(Request(host="h", target="/", extensions=[offer or PerMessageDeflate()])))
    events(server)
    data = server.send(Accept())
    # The whole header line is replaced, so that nothing of the server's own
    # answer is left to make the response invalid for another reason.
    client.receive_data(re.sub(rb"Sec-WebSocket-Extensions: [^\r]*", response.encode(), data))
    return events(client)


@pytest.mark.parametrize(
    ("response", "offer", "why"),
    [
        ("Sec-WebSocket-Extensions: permessage-deflate; bogus", None, "invalid"),
        ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", None, "invalid"),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12",
            PerMessageDeflate(client_max_window_bits=10),
            "client_max_window_bits=12, above the offered 10",
        ),
        (
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12",
            PerMessageDeflate(server_max_window_bits=10),
            "server_max_window_bits=12, above the offered 10",
        ),
        ("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99", None, "invalid"),
        ("Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate", None, "not offered"),
    ],
)
def test_7_1_client_fails_a_response_it_cannot_honour_with_1010(
    response: str, offer: PerMessageDeflate | None, why: str
) -> None:
    got = _client_gets(response, offer)
    assert len(got) == 1
    assert isinstance(got[0], Close)
    assert got[0].code == 1010
    assert why in got[0].reason


def test_7_1_1_client_accepts_unrequested_no_context_takeover() -> None:
    got = _client_gets(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
        "client_no_context_takeover; client_max_window_bits=9; server_max_window_bits=10"
    )
    assert [type(e) for e in got] == [Accept]


def test_parameters_are_validated() -> None:
    for kwargs in (
        {"server_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"compress_level": 10},
        {"mem_level": 0},
    ):
        with pytest.raises(ValueError, match="must be from"):
            PerMessageDeflate(**kwargs)  # type: ignore[arg-type]


# -- Compression, section 7.2 -------------------------------------------------------


HELLO = bytes.fromhex("f248cdc9c90700")


def client_receiving() -> Connection:
    client, _ = negotiate()
    return client


def test_7_2_3_1_a_message_compressed_in_one_frame() -> None:
    client = client_receiving()
    client.receive_data(b"\xc1\x07" + HELLO)
    assert events(client) == [Message("Hello")]


def test_7_2_3_2_sharing_the_lz77_window() -> None:
    client = client_receiving()
    client.receive_data(b"\xc1\x07" + HELLO + b"\xc1\x05" + bytes.fromhex("f200110000"))
    assert events(client) == [Message("Hello"), Message("Hello")]


def test_7_2_3_3_a_stored_block() -> None:
    client = client_receiving()
    client.receive_data(b"\xc1\x0b" + bytes.fromhex("000500faff48656c6c6f00"))
    assert events(client) == [Message("Hello")]


def test_7_2_3_4_bfinal_set_then_another_message() -> None:
    client = client_receiving()
    client.receive_data(b"\xc1\x08" + bytes.fromhex("f348cdc9c9070000") + b"\xc1\x07" + HELLO)
    assert events(client) == [Message("Hello"), Message("Hello")]


def test_7_2_3_5_two_blocks_in_one_message() -> None:
    client = client_receiving()
    client.receive_data(b"\xc1\x0d" + bytes.fromhex("f24805000000ffffcac9c90700"))
    assert events(client) == [Message("Hello")]


def test_7_2_3_1_fragmented_compressed_message() -> None:
    client = client_receiving()
    client.receive_data(b"\x41\x03" + HELLO[:3] + b"\x80\x04" + HELLO[3:])
    assert events(client) == [Message("Hello")]


def test_6_rsv1_only_on_the_first_frame() -> None:
    client = client_receiving()
    client.receive_data(b"\x41\x03" + HELLO[:3] + b"\xc0\x04" + HELLO[3:])
    got = events(client)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1002


def test_6_1_control_frames_are_never_compressed() -> None:
    client, server = negotiate()
    data = client.send(Ping(b"ping"))
    assert data[0] == 0x89
    server.receive_data(frame(0x9, b"p", rsv=0x40))
    got = events(server)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1002


def test_uncompressed_messages_still_arrive() -> None:
    _, server = negotiate()
    server.receive_data(frame(0x1, b"plain"))
    assert events(server) == [Message("plain")]


def test_invalid_compressed_data_is_1007() -> None:
    _, server = negotiate()
    server.receive_data(frame(0x1, b"\xff\xff\xff", rsv=0x40))
    got = events(server)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1007


def _unmasked(data: bytes) -> tuple[int, bytes]:
    """The first byte and payload of one client frame (length < 126)."""
    length = data[1] & 0x7F
    return data[0], bytes(apply_mask(data[6 : 6 + length], data[2:6]))


def test_7_2_1_sending_strips_the_tail_and_sets_rsv1() -> None:
    client, server = negotiate()
    data = client.send(Message("Hello"))
    first, payload = _unmasked(data)
    assert first == 0xC1
    assert not payload.endswith(b"\x00\x00\xff\xff")
    assert zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff") == b"Hello"
    server.receive_data(data)
    assert events(server) == [Message("Hello")]


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_7_1_1_context_takeover_in_both_directions(no_context_takeover: bool) -> None:
    offer = PerMessageDeflate(
        server_no_context_takeover=no_context_takeover, client_no_context_takeover=no_context_takeover
    )
    client, server = negotiate(offer)
    text = "a fairly repetitive message " * 3
    for sender, receiver in ((client, server), (server, client)):
        first = sender.send(Message(text))
        second = sender.send(Message(text))
        if no_context_takeover:
            assert len(second) == len(first)
        else:
            assert len(second) < len(first)  # the second refers back to the first
        receiver.receive_data(first + second)
        assert events(receiver) == [Message(text), Message(text)]


def test_fragmented_sends_are_compressed_as_one_message() -> None:
    client, server = negotiate()
    data = client.send(Message(b"x" * 1000, message_finished=False))
    data2 = client.send(Message(b"y" * 1000))
    assert data[0] == 0x42  # BINARY + RSV1, no FIN
    assert data2[0] == 0x80  # CONTINUATION + FIN, no RSV1
    server.receive_data(data + data2)
    assert events(server) == [Message(b"x" * 1000 + b"y" * 1000)]


def test_7_1_1_no_context_takeover_holds_for_fragmented_sends() -> None:
    client, server = negotiate(PerMessageDeflate(client_no_context_takeover=True))
    text = "a fairly repetitive message " * 3
    sent = [client.send(Message(text, message_finished=False)) + client.send(Message("")) for _ in range(2)]
    assert len(sent[0]) == len(sent[1])  # the second could not refer back to the first
    server.receive_data(b"".join(sent))
    assert events(server) == [Message(text), Message(text)]


def test_extension_interface_encodes_a_whole_message_like_the_connection() -> None:
    # Connection deflates whole messages through its fast path; the generic
    # ExtensionSession.encode (used when other extensions are negotiated too)
    # must produce the same RSV1 payload.
    client, _ = negotiate()
    other, _ = negotiate()
    payload, rsv = session(client).encode(b"Hello, Hello", True, True)
    assert rsv == 0x40
    assert payload == session(other).compress_message(b"Hello, Hello")
    assert zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff") == b"Hello, Hello"


def test_streaming_mode_with_compression() -> None:
    client, server = negotiate(stream_messages=True)
    text = "streamed " * 2000
    server.receive_data(client.send(Message(text)))
    got = events(server)
    assert "".join(e.data for e in got if isinstance(e, Message) and isinstance(e.data, str)) == text
    assert got[-1].message_finished  # type: ignore[union-attr]


def test_8_bit_window_is_honoured_by_sending_uncompressed() -> None:
    offer = PerMessageDeflate(client_max_window_bits=8)
    client, server = negotiate(offer, server=PerMessageDeflate(server_max_window_bits=8))
    assert session(client).send_window_bits == 8
    data = client.send(Message("abc" * 100))
    assert data[0] == 0x81  # no RSV1
    server.receive_data(data)
    assert events(server) == [Message("abc" * 100)]
    reply = server.send(Message("def" * 100))
    assert reply[0] == 0x81
    client.receive_data(reply)
    assert events(client) == [Message("def" * 100)]


def test_8_bit_window_receive_with_zlib() -> None:
    client, _server = negotiate(PerMessageDeflate(server_max_window_bits=8))
    assert session(client).receive_window_bits == 8
    # A peer that can keep to 256 bytes of history: literal-only blocks do.
    compressor = zlib.compressobj(0, zlib.DEFLATED, -9)
    payload = compressor.compress(b"z" * 300) + compressor.flush(zlib.Z_SYNC_FLUSH)
    client.receive_data(frame(0x2, payload[:-4], rsv=0x40, mask=False))
    assert events(client) == [Message(b"z" * 300)]


# -- Limits and memory -----------------------------------------------------------


def test_compression_bomb_fails_with_1009_and_memory_stays_bounded() -> None:
    limit = 2**20
    _client, server = negotiate(max_message_size=limit)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(bytes(200 * limit)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < limit // 4  # 200 MiB of zeros in about 200 KiB
    data = frame(0x2, bomb[:-4], rsv=0x40)
    tracemalloc.start()
    server.receive_data(data)
    got = events(server)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1009
    assert peak < 3 * limit + 2 * len(data)  # the limit and the input, never 200 MiB


def test_message_exactly_at_the_limit_inflates() -> None:
    client, server = negotiate(max_message_size=5000)
    server.receive_data(client.send(Message(bytes(5000))))
    assert events(server) == [Message(bytes(5000))]
    server.receive_data(client.send(Message(bytes(5001))))
    got = events(server)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1009


def test_limit_counts_inflated_bytes_over_fragments() -> None:
    client, server = negotiate(max_message_size=3000)
    data = client.send(Message(bytes(2000), message_finished=False)) + client.send(Message(bytes(1001)))
    server.receive_data(data)
    got = events(server)
    assert isinstance(got[-1], Close)
    assert got[-1].code == 1009


def test_zlib_state_is_allocated_lazily_and_released_on_close() -> None:
    client, server = negotiate()
    state = session(server)
    assert state._deflater is None
    assert state._inflater is None
    server.receive_data(client.send(Message("x")))
    events(server)
    assert state._inflater is not None
    client.receive_data(server.send(Message("y")))
    assert state._deflater is not None
    server.receive_data(client.send(Close()))
    events(server)
    assert server.state is ConnectionState.CLOSED
    assert state._deflater is None
    assert state._inflater is None
    assert "send_window_bits=15" in repr(state)
