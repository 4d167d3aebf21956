"""WebSockets over HTTP/2: the extended CONNECT handshake of RFC 8441
(sections 4 and 5), as wsproto_lite.extended_connect builds and checks it,
alone and between two real h2 connections in memory."""

from __future__ import annotations

import pytest

from wsproto_lite import Connection, ConnectionState, InvalidEventError, RemoteProtocolError
from wsproto_lite import extended_connect as xc
from wsproto_lite.events import Accept, Close, Message, Ping, Pong, Reject, Request
from wsproto_lite.extensions import PerMessageDeflate

from .h2_pair import H2Pair, Stream
from .h3_pair import H3Pair

REQUEST = Request(
    "example.com", "/chat?room=1", subprotocols=["chat", "superchat"], origin="https://example.com"
)


def test_rfc8441_4_5_request_headers() -> None:
    headers = xc.request_headers(
        Request(
            "example.com",
            "/chat",
            subprotocols=["chat"],
            extensions=[PerMessageDeflate()],
            origin="https://example.com",
            extra_headers=[("X-Trace", "1")],
        ),
    )
    assert headers[:5] == [
        (b":method", b"CONNECT"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", b"example.com"),
        (b":path", b"/chat"),
    ]
    names = [name for name, _ in headers]
    assert (b"sec-websocket-version", b"13") in headers
    assert (b"sec-websocket-protocol", b"chat") in headers
    assert dict(headers)[b"sec-websocket-extensions"].startswith(b"permessage-deflate")
    assert (b"origin", b"https://example.com") in headers
    assert (b"x-trace", b"1") in headers  # lower case, as HTTP/2 requires
    # Section 5: no key, no Upgrade, no Connection, no Host.
    assert not {b"sec-websocket-key", b"upgrade", b"connection", b"host"} & set(names)
    assert xc.request_headers(Request("h", "/"), scheme="http")[2] == (b":scheme", b"http")


@pytest.mark.parametrize(
    ("request_", "scheme"),
    [
        (Request("h", "/", extra_headers=[("Connection", "keep-alive")]), "https"),
        (Request("h", "/", extra_headers=[(":path", "/x")]), "https"),
        (Request("h", "/", extra_headers=[("Sec-WebSocket-Version", "8")]), "https"),
        (Request("h", "/", extra_headers=[("x", "a\r\nb")]), "https"),
        (Request("h", "/", extra_headers=[("bad name", "v")]), "https"),
        (Request("h", "/", origin="https://a\r\nx: y"), "https"),
        (Request("h", "chat"), "https"),
        (Request("", "/"), "https"),
        (Request("h", "/"), "wss"),
        (Request("h", "/", subprotocols=["a b"]), "https"),
        (Request("h", "/", extensions=["permessage-deflate"]), "https"),
    ],
)
def test_a_request_that_cannot_be_sent_is_refused(request_: Request, scheme: str) -> None:
    with pytest.raises(InvalidEventError):
        xc.request_headers(request_, scheme=scheme)


def test_rfc8441_5_parse_request_round_trips() -> None:
    request = xc.parse_request(xc.request_headers(REQUEST))
    assert request.host == "example.com"
    assert request.target == "/chat?room=1"
    assert request.subprotocols == ("chat", "superchat")
    assert request.origin == "https://example.com"
    assert request.headers[0] == (b":method", b"CONNECT")
    # str headers (as some hosts give them) read as Latin-1.
    as_str = [(k.decode(), v.decode()) for k, v in xc.request_headers(REQUEST)]
    assert xc.parse_request(as_str) == request


def bad(headers: list[tuple[bytes, bytes]]) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as caught:
        xc.parse_request(headers)
    return caught.value


GOOD = xc.request_headers(Request("h", "/"))


def replaced(name: bytes, value: bytes | None) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in GOOD if k != name]
    if value is not None:
        out.insert(0 if name.startswith(b":") else len(out), (name, value))
    return out


def test_rfc8441_4_a_plain_request_is_refused_with_405() -> None:
    error = bad(replaced(b":method", b"GET"))
    assert error.status_code == 405
    assert error.headers == ((b"allow", b"CONNECT"),)


@pytest.mark.parametrize(
    "headers",
    [
        replaced(b":protocol", None),  # a plain CONNECT: a proxy tunnel, not ours
        replaced(b":protocol", b"webtransport"),
        replaced(b":path", None),
        replaced(b":scheme", None),
        replaced(b":authority", b""),
        [*GOOD, (b":status", b"200")],  # a pseudo-header after a header
        [(b":foo", b"1"), *GOOD],  # an unknown pseudo-header
        [*GOOD[:5], (b"Sec-WebSocket-Version", b"13")],  # upper case: malformed in HTTP/2
        [*GOOD, (b"connection", b"upgrade")],  # connection-specific
        [*GOOD[:1], *GOOD],  # a pseudo-header twice
    ],
)
def test_rfc8441_4_a_malformed_request_is_refused_with_400(headers: list[tuple[bytes, bytes]]) -> None:
    assert bad(headers).status_code == 400


def test_rfc9113_8_2_2_te_trailers_and_a_host_header_are_allowed() -> None:
    # TE is connection-specific except as "trailers"; Host is not forbidden
    # in HTTP/2 (a proxy may keep it), only :authority is what names the host.
    request = xc.parse_request([*GOOD, (b"te", b"trailers"), (b"host", b"h")])
    assert request.host == "h"
    assert bad([*GOOD, (b"te", b"gzip")]).status_code == 400
    assert (b"te", b"trailers") in xc.request_headers(Request("h", "/", extra_headers=[("TE", "trailers")]))
    with pytest.raises(InvalidEventError):
        xc.request_headers(Request("h", "/", extra_headers=[("Host", "other")]))


def test_rfc8441_5_a_wrong_version_is_400_naming_13_not_426() -> None:
    # 426 must carry Upgrade (RFC 9110, 15.5.22), which HTTP/2 forbids.
    error = bad(replaced(b"sec-websocket-version", b"8"))
    assert error.status_code == 400
    assert error.headers == ((b"sec-websocket-version", b"13"),)
    assert bad(replaced(b"sec-websocket-version", None)).status_code == 400


def test_accept_answers_200_with_what_was_negotiated() -> None:
    offer = [PerMessageDeflate()]
    request = xc.parse_request(
        xc.request_headers(Request("h", "/", subprotocols=["a", "b"], extensions=offer))
    )
    headers, conn = xc.accept(
        request, Accept(subprotocol="b", extra_headers=[("X-Served-By", "x")]), extensions=offer
    )
    assert headers[0] == (b":status", b"200")
    assert (b"sec-websocket-protocol", b"b") in headers
    assert dict(headers)[b"sec-websocket-extensions"].startswith(b"permessage-deflate")
    assert (b"x-served-by", b"x") in headers
    assert conn.state is ConnectionState.OPEN
    assert conn.subprotocol == "b"
    assert [type(e).__name__ for e in conn.extensions] == ["DeflateSession"]
    # Without extensions= and with none in the Accept: nothing negotiated.
    headers, conn = xc.accept(request, Accept())
    assert b"sec-websocket-extensions" not in dict(headers)
    assert conn.extensions == ()


def test_accept_refuses_what_the_client_did_not_offer() -> None:
    request = xc.parse_request(xc.request_headers(Request("h", "/", subprotocols=["a"])))
    with pytest.raises(InvalidEventError, match="not offered"):
        xc.accept(request, Accept(subprotocol="z"))
    with pytest.raises(InvalidEventError):
        xc.accept(request, Accept(extra_headers=[("Upgrade", "websocket")]))
    with pytest.raises(InvalidEventError, match="Extension objects"):
        xc.accept(request, Accept(extensions=["permessage-deflate"]))  # type: ignore[list-item]


def test_reject_is_a_final_status_that_is_not_a_success() -> None:
    assert xc.reject(Reject(403, headers=[("Content-Type", "text/plain")])) == [
        (b":status", b"403"),
        (b"content-type", b"text/plain"),
    ]
    for status in (101, 200, 204, 600):
        with pytest.raises(InvalidEventError):
            xc.reject(Reject(status))
    with pytest.raises(InvalidEventError):
        xc.reject(Reject(400, headers=[("Connection", "close")]))


def test_parse_response_opens_or_reports_the_refusal() -> None:
    offer = [PerMessageDeflate()]
    request = Request("h", "/", subprotocols=["a"], extensions=offer)
    server_request = xc.parse_request(xc.request_headers(request))
    headers, _ = xc.accept(server_request, Accept(subprotocol="a"), extensions=offer)
    conn = xc.parse_response(request, 200, headers)
    assert isinstance(conn, Connection)
    assert conn.state is ConnectionState.OPEN
    assert conn.subprotocol == "a"
    assert len(conn.extensions) == 1
    refusal = xc.parse_response(request, 403, [(b":status", b"403"), (b"content-length", b"0")])
    assert refusal == Reject(403, headers=[(b"content-length", b"0")], has_body=False)
    refusal = xc.parse_response(request, 404, [(b":status", b"404")])
    assert isinstance(refusal, Reject)
    assert refusal.has_body


def test_parse_response_refuses_a_subprotocol_or_extension_not_offered() -> None:
    request = Request("h", "/", subprotocols=["a"])
    with pytest.raises(RemoteProtocolError, match="not offered"):
        xc.parse_response(request, 200, [(b"sec-websocket-protocol", b"b")])
    with pytest.raises(RemoteProtocolError) as caught:
        xc.parse_response(request, 200, [(b"sec-websocket-extensions", b"permessage-deflate")])
    assert caught.value.code == 1010


# -- Between two real h2 connections -----------------------------------------------


@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("pair_type", [H2Pair, H3Pair], ids=["RFC 8441 (HTTP/2)", "RFC 9220 (HTTP/3)"])
def test_every_event_both_ways_on_a_stream(pair_type: type[H2Pair | H3Pair], deflate: bool) -> None:
    offer = [PerMessageDeflate()] if deflate else []
    pair = pair_type(Accept(subprotocol="chat"), extensions=offer)
    stream = pair.open(Request("localhost", "/chat", subprotocols=["chat"], extensions=offer))
    client, server = pair.client_streams[stream], pair.server_streams[stream]
    assert isinstance(server.events[0], Request)
    assert client.conn is not None
    assert server.conn is not None
    assert client.conn.subprotocol == server.conn.subprotocol == "chat"
    assert len(client.conn.extensions) == len(server.conn.extensions) == int(deflate)
    big = "é" * 100_000  # more than one h2 DATA frame and one flow-control window's worth
    for event in (Message("hello"), Message(b"\x00\xff"), Message(big), Ping(b"p")):
        pair.send(stream, event)
        pair.send(stream, event, side="server")
    assert client.events[:3] == [Message("hello"), Message(b"\x00\xff"), Message(big)]
    assert server.events[1:4] == [Message("hello"), Message(b"\x00\xff"), Message(big)]
    assert Ping(b"p") in client.events
    assert Pong(b"p") in client.events  # the answer to the client's own ping
    assert Pong(b"p") in server.events
    pair.send(stream, Close(1000, "bye"))
    assert Close(1000, "bye", by_peer=True) in server.events
    assert Close(1000, "", by_peer=True) in client.events
    assert server.conn.state is ConnectionState.CLOSED
    assert client.conn.state is ConnectionState.CLOSED
    assert server.ended == client.ended == "end"  # END_STREAM each way, as TCP FINs


def test_rfc8441_a_refusal_with_a_body() -> None:
    pair = H2Pair(Reject(403, headers=[("content-type", "text/plain")], has_body=True), body=b"no entry")
    stream = pair.open(Request("h", "/private"))
    client = pair.client_streams[stream]
    assert client.conn is None
    assert client.reject == Reject(403, headers=[(b"content-type", b"text/plain")], has_body=True)
    assert client.body == b"no entry"
    assert client.ended == "end"


def test_rfc8441_an_invalid_request_is_answered_as_the_error_says() -> None:
    pair = H2Pair()
    stream_id = pair.client.get_next_available_stream_id()
    pair.requests[stream_id] = Request("h", "/")
    pair.client_streams[stream_id] = client = Stream()
    pair.client.send_headers(stream_id, replaced(b"sec-websocket-version", b"8"))
    pair.pump()
    assert [error.status_code for error in pair.errors] == [400]
    assert client.reject == Reject(400, headers=[(b"sec-websocket-version", b"13")], has_body=True)
    assert client.ended == "end"


def test_rfc8441_5_a_stream_reset_mid_message_is_an_abnormal_close() -> None:
    pair = H2Pair()
    stream = pair.open(Request("h", "/"))
    client, server = pair.client_streams[stream], pair.server_streams[stream]
    assert client.conn is not None
    data = client.conn.send(Message(b"x" * 1000))
    pair.client.send_data(stream, data[:500])  # half a message...
    pair.client.reset_stream(stream)  # ...then RST_STREAM (CANCEL), as a TCP reset
    pair.pump()
    assert server.ended == "reset"
    assert server.events[-1] == Close(1006, server.events[-1].reason)  # type: ignore[union-attr]
    assert server.conn is not None
    assert server.conn.state is ConnectionState.CLOSED


# -- HTTP/3 (RFC 9220): the same handshake on a QUIC stream ----------------------------


def test_rfc9220_a_refusal_on_an_h3_stream() -> None:
    pair = H3Pair(Reject(403))
    stream = pair.open(Request("localhost", "/private"))
    assert pair.client_streams[stream].reject == Reject(403, headers=[], has_body=True)
    assert pair.client_streams[stream].conn is None


def test_rfc9220_a_stream_reset_mid_message_is_an_abnormal_close() -> None:
    pair = H3Pair()
    stream = pair.open(Request("localhost", "/"))
    client, server = pair.client_streams[stream], pair.server_streams[stream]
    assert client.conn is not None
    data = client.conn.send(Message(b"x" * 1000))
    pair.client.send_data(stream, data[:500], end_stream=False)
    pair.pump()
    pair.client_quic.reset_stream(stream, 0x010C)  # H3_REQUEST_CANCELLED
    pair.pump()
    assert server.ended == "reset"
    assert isinstance(server.events[-1], Close)
    assert server.events[-1].code == 1006
