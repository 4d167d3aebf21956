"""Regressions of the second hostile-input pass: each test holds the code to
an RFC rule or to a sentence of the docs that outside testing found broken.
The number in each test's name is the defect's number in the issue."""

from __future__ import annotations

import os
from array import array

import pytest

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, RemoteProtocolError, Role
from wsproto_lite._frames import mask_key
from wsproto_lite.events import Accept, Close, Message, Ping, Reject, RejectData, Request
from wsproto_lite.extensions import PerMessageDeflate

from .helpers import events, frame, held, pair, server_open


def deflate_pair(**opts: object) -> tuple[Connection, Connection]:
    return pair(
        client_opts={"request": Request(host="h", target="/", extensions=[PerMessageDeflate()]), **opts},
        server_opts={"extensions": [PerMessageDeflate()], **opts},
    )


# -- 1. The message limit counts decompressed bytes (docs/howto/limits.md) ------------------


@pytest.mark.parametrize("sender", [Role.CLIENT, Role.SERVER])
def test_01_incompressible_message_at_the_limit_is_received(sender: Role) -> None:
    """docs/howto/limits.md: max_message_size counts a message "after decompression".
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


# -- 3. Memory: empty and tiny fragments (docs/howto/limits.md) --------------------------


def test_03_empty_continuations_hold_nothing() -> None:
    """docs/howto/limits.md: "a peer cannot make the connection buffer more than the
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


# -- 4. Masking keys after fork() (RFC 6455 10.3, docs/topics/security.md) -----------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_04_forked_child_never_reuses_the_parents_keys() -> None:
    """10.3: keys must be unpredictable; docs/topics/security.md: "handed out once
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
    """The issue's choice, documented in Connection.receive_data: b"" is the end of the
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


# -- 2. The handshake limit holds however the head is cut (docs/howto/limits.md) ---------

REQUEST_HEAD = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.mark.parametrize("read", [None, 1000])
@pytest.mark.parametrize("shape", ["one big header", "20,000 headers"])
def test_02_server_head_over_the_limit_is_431_whole_or_cut(shape: str, read: int | None) -> None:
    """docs/howto/limits.md: a server answers a head over max_handshake_size with 431."""
    extra = b"X-Big: " + b"a" * 100_000 + b"\r\n" if shape == "one big header" else b"X-A: b\r\n" * 20_000
    head = REQUEST_HEAD + extra + b"\r\n"
    server = Connection(Role.SERVER)
    step = read or len(head)

    def feed_all() -> None:
        for at in range(0, len(head), step):
            server.receive_data(head[at : at + step])

    with pytest.raises(RemoteProtocolError) as caught:
        feed_all()
    assert caught.value.status_code == 431
    assert server.send(Reject(431)).startswith(b"HTTP/1.1 431 ")


def test_02_head_at_the_limit_is_accepted() -> None:
    head = REQUEST_HEAD + b"\r\n"
    server = Connection(Role.SERVER, max_handshake_size=len(head))
    server.receive_data(head + frame(0x1, b"hi"))
    assert [type(e) for e in events(server)] == [Request]
    server = Connection(Role.SERVER, max_handshake_size=len(head) - 1)
    with pytest.raises(RemoteProtocolError, match="limit"):
        server.receive_data(head)


def test_02_client_refuses_a_response_head_over_the_limit() -> None:
    client = Connection(Role.CLIENT, max_handshake_size=4096)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    response = server.send(Accept(extra_headers=[("X-Big", "a" * 5000)]))
    with pytest.raises(RemoteProtocolError, match="limit"):
        client.receive_data(response)
    assert client.state is ConnectionState.CLOSED


# -- 6. One RSV1 extension at most (RFC 7692, section 5) ---------------------------


def test_06_server_with_two_deflates_accepts_one_offer() -> None:
    """RFC 7692 5: no two extensions may use RSV1; the message would be
    compressed twice."""
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate(), PerMessageDeflate()])
    server.receive_data(
        REQUEST_HEAD + b"Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n"
    )
    events(server)
    response = server.send(Accept())
    assert response.count(b"permessage-deflate") == 1
    assert len(server.extensions) == 1


# -- 7. Misuse raises LocalProtocolError; nothing goes out; the connection lives -----


def request_received(**opts: object) -> Connection:
    server = Connection(Role.SERVER, **opts)  # type: ignore[arg-type]
    server.receive_data(REQUEST_HEAD + b"Sec-WebSocket-Protocol: chat\r\n\r\n")
    events(server)
    return server


@pytest.mark.parametrize(
    "event",
    [
        Accept(extra_headers=[("X-Name", "caf\u00e9\u20ac")]),  # not Latin-1
        Accept(extra_headers=[("X-Na\u20acme", "v")]),
        Accept(extra_headers=[("X-A", "a\r\nSet-Cookie: x=1")]),
        Accept(extensions=["permessage-deflate"]),  # type: ignore[list-item]
        Accept(subprotocol="other"),
        Accept(extra_headers=[("Sec-WebSocket-Protocol", "chat")]),
        Reject(700),
        Reject(101),
        Reject(99),
        Reject(403, headers=[("X-A", "a\r\nSet-Cookie: x=1")]),
        Reject(403, headers=[("X-\u20ac", "v")]),
        Reject(403, headers=[("Content-Length", "5")]),
        Reject(403, headers=[("Content-Length", "five")], has_body=True),
        Reject(403, headers=[("Transfer-Encoding", "gzip")], has_body=True),
    ],
    ids=repr,
)
def test_07_server_misuse_raises_and_changes_nothing(event: Accept | Reject) -> None:
    """The README: "Clear errors for misuse: LocalProtocolError ... says why";
    the connection can still answer the request afterwards."""
    server = request_received()
    with pytest.raises(LocalProtocolError):
        server.send(event)
    assert server.state is ConnectionState.CONNECTING
    assert server.data_to_send() == b""
    assert server.send(Reject(403, headers=[("Content-Length", "2")], has_body=True)).startswith(
        b"HTTP/1.1 403"
    )
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        server.send(RejectData(b"abc"))
    with pytest.raises(LocalProtocolError, match="Content-Length"):
        server.send(RejectData(b"a", body_finished=True))
    assert server.send(RejectData(b"no")) == b"no"
    assert server.state is ConnectionState.CLOSED


def test_07_accept_after_a_refused_accept_works() -> None:
    server = request_received()
    with pytest.raises(LocalProtocolError):
        server.send(Accept(extra_headers=[("X-A", "\u20ac")]))
    assert server.send(Accept(subprotocol="chat")).startswith(b"HTTP/1.1 101")
    assert server.state is ConnectionState.OPEN


@pytest.mark.parametrize(
    "request_",
    [
        Request(host="bad\u3002\u3002host", target="/"),  # invalid IDNA
        Request(host="h", target="/", extra_headers=[("X-A", "\u20ac")]),
        Request(host="h", target="/", origin="https://\u20ac.example"),
        Request(host="h", target="/caf\u00e9"),
        Request(host="h", target="/", subprotocols=["a,b"]),
        Request(host="h", target="/", subprotocols=[""]),
        Request(host="h", target="/", subprotocols=["a", "a"]),
        Request(host="h", target="/", subprotocols=["a b"]),
        Request(host="h", target="/", extra_headers=[("Sec-WebSocket-Protocol", "x")]),
        Request(host="h", target="/", extra_headers=[("Host", "other")]),
        Request(host="h", target="/", extra_headers=[("sec-websocket-extensions", "x")]),
    ],
    ids=repr,
)
def test_07_09_refused_request_can_be_corrected_and_sent(request_: Request) -> None:
    """A refused Request was marked sent before it was checked, so the
    client could never send a valid one (RFC 6455 4.1 item 10 for names)."""
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError):
        client.send(request_)
    assert client.state is ConnectionState.CONNECTING
    data = client.send(Request(host="h", target="/", subprotocols=["chat"]))
    server = Connection(Role.SERVER)
    server.receive_data(data)
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.subprotocols == ("chat",)
    client.receive_data(server.send(Accept(subprotocol="chat")))
    assert [type(e) for e in events(client)] == [Accept]


@pytest.mark.parametrize(
    "event",
    [Message("\ud800"), Message("a\udc80b", message_finished=False), Close(1000, "\udc80"), Close(4000, 5)],  # type: ignore[arg-type]
    ids=repr,
)
def test_07_unencodable_text_raises_and_the_connection_goes_on(event: Message | Close) -> None:
    client, server = pair()
    with pytest.raises(LocalProtocolError):
        server.send(event)
    assert server.state is ConnectionState.OPEN
    client.receive_data(server.send(Message("still here")))
    assert events(client) == [Message("still here")]


# -- 8. Bytes-like payloads are counted in bytes ------------------------------------


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
@pytest.mark.parametrize("typecode", ["b", "h", "i", "d"])
def test_08_memoryview_of_wide_items_is_sent_whole(role: Role, typecode: str) -> None:
    """5.2: the payload length is in bytes; an array of 3 ints is 12 bytes."""
    values = array(typecode, [1, 2, 3])
    client, server = pair()
    source, sink = (client, server) if role is Role.CLIENT else (server, client)
    for data in (memoryview(values), values, bytearray(values.tobytes())):
        event = Message(data)  # type: ignore[arg-type]
        assert event.data == values.tobytes()
        assert type(event.data) is bytes
        assert hash(event) == hash(Message(values.tobytes()))
        sink.receive_data(source.send(event))
        assert events(sink) == [Message(values.tobytes())]
    sink.receive_data(source.send(Ping(memoryview(values))))  # type: ignore[arg-type]
    assert [e for e in events(sink) if isinstance(e, Ping)] == [Ping(values.tobytes())]


def test_08_not_bytes_like_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="bytes-like"):
        Message(123)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="bytes-like"):
        Ping("text")  # type: ignore[arg-type]


# -- 11, 12. What arrives around the handshake ---------------------------------------


@pytest.mark.parametrize("before", [b"", REQUEST_HEAD[:20], REQUEST_HEAD + b"\r\n"])
@pytest.mark.parametrize("later", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"garbage\r\n\r\n"])
def test_11_server_in_rejecting_drops_input(before: bytes, later: bytes) -> None:
    """docs/topics/states.md: "REJECTING, server | anything | dropped", whether the
    server rejected before the request was complete or after it."""
    server = Connection(Role.SERVER)
    if before:
        server.receive_data(before)
        events(server)
    server.send(Reject(403, has_body=True))
    server.receive_data(later)
    assert events(server) == []
    assert b"bye" in server.send(RejectData(b"bye"))
    assert server.state is ConnectionState.CLOSED


def test_11_server_drops_input_after_an_invalid_request() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"NONSENSE\r\n\r\n")
    server.receive_data(b"more nonsense")
    assert events(server) == []
    assert server.send(Reject(400)).startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("cut", range(0, 9))
def test_12_frames_before_accept_are_kept_however_tcp_cut_them(cut: int) -> None:
    """The outcome must not depend on how TCP cut the bytes: a frame split
    between the request's read and a later one arrives once accepted."""
    head = REQUEST_HEAD + b"\r\n"
    wire = head + frame(0x1, b"hello") + frame(0x2, b"more")
    server = Connection(Role.SERVER)
    server.receive_data(wire[: len(head) + cut])
    assert [type(e) for e in events(server)] == [Request]
    server.receive_data(wire[len(head) + cut : len(head) + cut + 3])
    server.receive_data(wire[len(head) + cut + 3 :])
    server.send(Accept())
    assert events(server) == [Message("hello"), Message(b"more")]


# -- 13. Client extensions; rejections without a body ----------------------------


def test_13_client_connection_extensions_are_the_offer() -> None:
    """Connection(extensions=...) means the offer when the Request names none
    (it was silently ignored)."""
    client = Connection(Role.CLIENT, extensions=[PerMessageDeflate()])
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    data = client.send(Request(host="h", target="/"))
    assert b"permessage-deflate" in data
    server.receive_data(data)
    events(server)
    client.receive_data(server.send(Accept()))
    (accept,) = events(client)
    assert isinstance(accept, Accept)
    assert len(client.extensions) == 1


@pytest.mark.parametrize(
    ("head", "has_body"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nabc", True),
        (b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", True),
    ],
)
def test_13_client_reports_has_body_as_the_response_frames_it(head: bytes, has_body: bool) -> None:
    """events.Reject: has_body says whether RejectData with a body follows
    (RFC 9110 6.4.1: 204 and 304 have none, nor has Content-Length: 0)."""
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(head)
    reject, *rest = events(client)
    assert isinstance(reject, Reject)
    assert reject.has_body is has_body
    assert rest[-1] == RejectData(b"", body_finished=True)
    assert b"".join(e.data for e in rest if isinstance(e, RejectData)) == (b"abc" if has_body else b"")


def test_09_server_reports_only_subprotocol_names_that_are_tokens() -> None:
    """RFC 6455 4.1 item 10: names are tokens. h11 lets a control character
    through in a header value; such a name is not offered to the application,
    so Accept(subprotocol=<any offered name>) never fails (found by the
    handshake-server fuzz target)."""
    server = Connection(Role.SERVER)
    server.receive_data(REQUEST_HEAD + b"Sec-WebSocket-Protocol: \x01chat, superchat\r\n\r\n")
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.subprotocols == ("superchat",)
    assert b"Sec-WebSocket-Protocol: superchat\r\n" in server.send(Accept(subprotocol="superchat"))
