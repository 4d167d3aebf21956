"""The opening handshake: RFC 6455, section 4 (and 1.3 for the accept key)."""

from __future__ import annotations

import base64

import pytest

from wsproto_lite import (
    Connection,
    ConnectionState,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    origin_allowed,
)
from wsproto_lite._headers import accept_token, parse_extension
from wsproto_lite.events import Accept, Close, Message, Reject, RejectData, Request

from .helpers import events, frame, pair

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def raw_request(*, method: str = "GET", version: str = "1.1", drop: str = "", add: str = "") -> bytes:
    headers = {
        "Host": "example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY.decode(),
        "Sec-WebSocket-Version": "13",
    }
    lines = [f"{method} /chat HTTP/{version}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k != drop]
    if add:
        lines.append(add)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def server_error(data: bytes) -> RemoteProtocolError:
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(data)
    return info.value


def test_1_3_accept_token_of_the_rfc_example() -> None:
    assert accept_token(KEY) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_4_2_2_server_answers_101_with_the_accept_value() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    (request,) = events(server)
    assert isinstance(request, Request)
    assert (request.host, request.target) == ("example.com", "/chat")
    response = server.send(Accept())
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert b"Upgrade: websocket\r\n" in response
    assert b"Connection: Upgrade\r\n" in response
    assert server.state is ConnectionState.OPEN


def test_4_2_1_header_tokens_are_case_insensitive_lists() -> None:
    data = (
        raw_request()
        .replace(b"Upgrade: websocket", b"Upgrade: WebSocket")
        .replace(b"Connection: Upgrade", b"Connection: keep-alive, UPGRADE")
    )
    server = Connection(Role.SERVER)
    server.receive_data(data)
    assert [type(e) for e in events(server)] == [Request]


def test_4_2_1_request_in_pieces() -> None:
    server = Connection(Role.SERVER)
    data = raw_request()
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
    assert [type(e) for e in events(server)] == [Request]


def test_4_2_1_not_get_is_405() -> None:
    error = server_error(raw_request(method="POST"))
    assert error.status_code == 405
    assert (b"Allow", b"GET") in error.headers


def test_4_2_1_http_1_0_is_400() -> None:
    assert server_error(raw_request(version="1.0")).status_code == 400


def test_4_2_1_missing_host_is_400() -> None:
    assert server_error(raw_request(drop="Host")).status_code == 400


def test_4_2_1_missing_upgrade_is_426() -> None:
    error = server_error(raw_request(drop="Upgrade"))
    assert error.status_code == 426
    assert (b"Upgrade", b"websocket") in error.headers


def test_4_2_1_missing_connection_upgrade_is_400() -> None:
    assert server_error(raw_request(drop="Connection")).status_code == 400


def test_4_2_2_wrong_version_is_426_with_supported_version() -> None:
    error = server_error(raw_request().replace(b"Version: 13", b"Version: 8"))
    assert error.status_code == 426
    assert (b"Sec-WebSocket-Version", b"13") in error.headers


@pytest.mark.parametrize(
    "key", [b"", b"not base64!", base64.b64encode(b"x" * 15), base64.b64encode(b"x" * 17)]
)
def test_4_2_1_key_must_decode_to_16_bytes(key: bytes) -> None:
    assert server_error(raw_request().replace(KEY, key)).status_code == 400


def test_4_2_1_two_keys_are_400() -> None:
    assert server_error(raw_request(add=f"Sec-WebSocket-Key: {KEY.decode()}")).status_code == 400


def test_4_2_1_request_with_a_body_is_400() -> None:
    assert server_error(raw_request(add="Content-Length: 3") + b"abc").status_code == 400


def test_unknown_transfer_coding_is_501() -> None:
    # RFC 9112, 6.1: a transfer coding the server does not understand is
    # answered with 501 (h11's hint); found by the fuzzer, which expected 4xx.
    error = server_error(raw_request(add="Transfer-Encoding: gzip"))
    assert error.status_code == 501
    assert error.reason


def test_oversized_head_is_431() -> None:
    server = Connection(Role.SERVER, max_handshake_size=1024)
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(raw_request(add="X-Big: " + "a" * 2000)[:-4])
    assert info.value.status_code == 431


def test_garbage_is_400() -> None:
    assert server_error(b"\x16\x03\x01 not http\r\n\r\n").status_code == 400


def test_4_2_2_server_answers_an_invalid_request_with_reject_and_body() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as info:
        server.receive_data(raw_request().replace(b"Version: 13", b"Version: 8"))
    error = info.value
    assert error.status_code is not None
    data = server.send(Reject(error.status_code, headers=error.headers, has_body=True))
    assert data.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13\r\n" in data
    assert server.state is ConnectionState.REJECTING
    data = server.send(RejectData(b"use version 13"))
    assert b"use version 13" in data
    assert server.state is ConnectionState.CLOSED
    assert server.should_close_transport
    with pytest.raises(LocalProtocolError, match="Accept"):
        Connection(Role.SERVER).send(Accept())


def test_reject_without_body_sends_content_length_0_and_closes() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    events(server)
    data = server.send(Reject(403, headers=[("X-Why", "no")]))
    assert data.startswith(b"HTTP/1.1 403 ")
    assert b"Content-Length: 0\r\n" in data
    assert b"Connection: close\r\n" in data
    assert server.state is ConnectionState.CLOSED
    with pytest.raises(LocalProtocolError, match=r"state CLOSED .*allowed now: nothing$"):
        server.send(RejectData(b"late"))


def test_reject_needs_a_final_status() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    events(server)
    with pytest.raises(LocalProtocolError, match="final status"):
        server.send(Reject(101))


def test_reject_data_needs_reject_first() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    events(server)
    with pytest.raises(LocalProtocolError, match="Reject"):
        server.send(RejectData(b"x"))


def test_4_1_client_request_has_fresh_key_and_headers() -> None:
    first = Connection(Role.CLIENT).send(
        Request(host="example.com", target="/x?y=1", subprotocols=["chat", "superchat"], origin="https://a.b")
    )
    second = Connection(Role.CLIENT).send(Request(host="example.com", target="/"))
    assert first.startswith(b"GET /x?y=1 HTTP/1.1\r\n")
    assert b"Sec-WebSocket-Version: 13\r\n" in first
    assert b"Sec-WebSocket-Protocol: chat, superchat\r\n" in first
    assert b"Origin: https://a.b\r\n" in first

    def key(data: bytes) -> bytes:
        return data.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]

    assert key(first) != key(second)
    assert len(base64.b64decode(key(first))) == 16


def test_server_sees_origin_subprotocols_extensions_and_headers() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(
        client.send(
            Request(
                host="h",
                target="/",
                subprotocols=["a", "b"],
                origin="https://site.example",
                extra_headers=[("X-Token", "t")],
            )
        )
    )
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.origin == "https://site.example"
    assert request.subprotocols == ("a", "b")
    assert (b"x-token", b"t") in request.extra_headers
    assert (b"origin", b"https://site.example") in request.headers
    assert all(name != b"sec-websocket-key" for name, _ in request.extra_headers)


def test_4_2_2_subprotocol_negotiation() -> None:
    client, server = pair(
        client_opts={"request": Request(host="h", target="/", subprotocols=["a", "b"])}, subprotocol="b"
    )
    assert client.subprotocol == server.subprotocol == "b"


def test_server_cannot_choose_an_unoffered_subprotocol() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", subprotocols=["a"])))
    events(server)
    with pytest.raises(LocalProtocolError, match="not offered"):
        server.send(Accept(subprotocol="z"))


def test_accept_extra_headers_reach_the_client() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    client.receive_data(server.send(Accept(extra_headers=[(b"Set-Cookie", b"a=b")])))
    (accept,) = events(client)
    assert isinstance(accept, Accept)
    assert accept.extra_headers == ((b"set-cookie", b"a=b"),)


def _client_and_response() -> tuple[Connection, bytes]:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", subprotocols=["a"])))
    events(server)
    return client, server.send(Accept())


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (b"Sec-WebSocket-Accept: ", b"Sec-WebSocket-Accept: x", "Accept"),
        (b"Upgrade: websocket", b"Upgrade: h2c", "Upgrade"),
        (b"Connection: Upgrade", b"Connection: close", "Connection"),
        (b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: zz\r\n\r\n", "subprotocol"),
    ],
)
def test_4_1_client_fails_a_bad_101(old: bytes, new: bytes, match: str) -> None:
    client, response = _client_and_response()
    with pytest.raises(RemoteProtocolError, match=match):
        client.receive_data(response.replace(old, new, 1))
    assert client.state is ConnectionState.CLOSED
    assert client.should_close_transport


def test_9_1_extension_not_offered_fails_the_connection_with_1010() -> None:
    client, response = _client_and_response()
    client.receive_data(response.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: x\r\n\r\n"))
    (close,) = events(client)
    assert isinstance(close, Close)
    assert close.code == 1010
    assert not close.by_peer
    assert "not offered" in close.reason
    out = client.data_to_send()
    assert out[:2] == b"\x88\x82"  # a masked close frame with a code
    assert bytes(b ^ k for b, k in zip(out[6:8], out[2:6], strict=False)) == b"\x03\xf2"
    assert client.state is ConnectionState.CLOSED
    assert client.should_close_transport


def test_4_1_non_101_reaches_the_client_as_reject_then_reject_data() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    data = server.send(Reject(403, headers=[("Content-Length", "6")], has_body=True))
    data += server.send(RejectData(b"go ", body_finished=False)) + server.send(RejectData(b"away"[:3]))
    client.receive_data(data)
    got = events(client)
    assert isinstance(got[0], Reject)
    assert got[0].status_code == 403
    assert got[0].has_body
    assert b"".join(e.data for e in got[1:] if isinstance(e, RejectData)) == b"go awa"
    last = got[-1]
    assert isinstance(last, RejectData)
    assert last.body_finished
    assert client.state is ConnectionState.CLOSED
    assert client.should_close_transport


def test_reject_without_body_still_ends_with_reject_data() -> None:
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert events(client) == [
        Reject(404, headers=[(b"content-length", b"0")], has_body=False),
        RejectData(b"", body_finished=True),
    ]


def test_reject_body_delimited_by_end_of_stream() -> None:
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nsome")
    client.receive_data(None)
    got = events(client)
    assert isinstance(got[0], Reject)
    assert got[-1] == RejectData(b"", body_finished=True)
    assert b"".join(e.data for e in got if isinstance(e, RejectData)) == b"some"
    assert client.state is ConnectionState.CLOSED


def test_reject_body_cut_short_is_1006() -> None:
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    client.receive_data(b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\nsome")
    client.receive_data(None)
    assert events(client)[-1] == Close(1006, "the stream ended inside the rejection's body")


def test_informational_responses_before_101_are_skipped() -> None:
    client, response = _client_and_response()
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\n" + response)
    assert [type(e) for e in events(client)] == [Accept]


def test_garbage_response_is_a_remote_error() -> None:
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    with pytest.raises(RemoteProtocolError, match="invalid HTTP response"):
        client.receive_data(b"NOT HTTP\r\n\r\n")


def test_frames_in_the_same_chunk_as_the_101_are_not_lost() -> None:
    client, response = _client_and_response()
    client.receive_data(response + frame(0x1, b"early", mask=False))
    assert events(client)[1:] == [Message("early")]


def test_frames_in_the_same_chunk_as_the_request_are_not_lost() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request() + frame(0x1, b"eager"))
    assert [type(e) for e in events(server)] == [Request]
    server.send(Accept())
    assert events(server) == [Message("eager")]


def test_end_of_stream_during_handshake_is_1006() -> None:
    for role in Role:
        conn = Connection(role)
        if role is Role.CLIENT:
            conn.send(Request(host="h", target="/"))
        conn.receive_data(None)
        (close,) = events(conn)
        assert isinstance(close, Close)
        assert close.code == 1006
        assert conn.state is ConnectionState.CLOSED
        assert conn.should_close_transport


def test_client_must_send_request_before_receiving() -> None:
    with pytest.raises(LocalProtocolError, match="Request"):
        Connection(Role.CLIENT).receive_data(b"HTTP/1.1 101 x\r\n\r\n")


def test_client_sends_one_request() -> None:
    client = Connection(Role.CLIENT)
    client.send(Request(host="h", target="/"))
    with pytest.raises(LocalProtocolError, match=r"CONNECTING .*wait for the server's Accept or Reject"):
        client.send(Request(host="h", target="/"))


@pytest.mark.parametrize("event", [Accept(), Reject(), RejectData()])
def test_client_cannot_send_server_events(event: Accept | Reject | RejectData) -> None:
    with pytest.raises(LocalProtocolError, match=r"\(client\): a client starts .*allowed now: Request$"):
        Connection(Role.CLIENT).send(event)


def test_server_cannot_send_request() -> None:
    with pytest.raises(LocalProtocolError, match=r"send Request in state CONNECTING \(server\)"):
        Connection(Role.SERVER).send(Request(host="h", target="/"))


@pytest.mark.parametrize(
    "request_",
    [
        Request(host="h", target="/", extra_headers=[("Bad Name", "x")]),
        Request(host="h", target="/", extra_headers=[("X-Evil", "a\r\nInjected: yes")]),
        Request(host="h\r\nInjected: yes", target="/"),
        Request(host="h", target="/a b"),
        Request(host="h", target="/\r\n"),
        Request(host="h", target="/ü"),
        Request(host="h", target=""),
    ],
)
def test_invalid_request_is_refused_before_anything_is_sent(request_: Request) -> None:
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError, match="cannot send"):
        client.send(request_)


def test_client_offers_only_extension_objects() -> None:
    with pytest.raises(LocalProtocolError, match="Extension objects"):
        Connection(Role.CLIENT).send(Request(host="h", target="/", extensions=["permessage-deflate"]))


def test_9_1_extension_header_parsing() -> None:
    assert parse_extension('Permessage-Deflate; client_max_window_bits; server_max_window_bits="10"') == (
        "permessage-deflate",
        [("client_max_window_bits", None), ("server_max_window_bits", "10")],
    )


@pytest.mark.parametrize(
    "header",
    [("X-Evil", "a\r\nSet-Cookie: x=y"), ("Bad Name", "v"), ("X-Nul", "a\x00b"), ("X-Space", " padded")],
)
def test_accept_refuses_headers_that_could_inject(header: tuple[str, str]) -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    events(server)
    with pytest.raises(LocalProtocolError, match="invalid header"):
        server.send(Accept(extra_headers=[header]))
    assert server.state is ConnectionState.CONNECTING


def test_accept_with_valid_extra_headers_and_non_ascii_host() -> None:
    client = Connection(Role.CLIENT)
    data = client.send(Request(host="bücher.example", target="/"))
    assert b"Host: xn--bcher-kva.example\r\n" in data
    server = Connection(Role.SERVER)
    server.receive_data(data)
    events(server)
    response = server.send(Accept(extra_headers=[("X-Served-By", "node 1"), (b"X-Empty", b"")]))
    assert b"X-Served-By: node 1\r\n" in response
    assert b"X-Empty: \r\n" in response
    client.receive_data(response)
    (accept,) = events(client)
    assert isinstance(accept, Accept)
    assert (b"x-served-by", b"node 1") in accept.extra_headers


def _request_with_origin(origin: str | None) -> Request:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", origin=origin)))
    (request,) = events(server)
    assert isinstance(request, Request)
    return request


@pytest.mark.parametrize(
    ("origin", "allow_missing", "expected"),
    [
        ("https://app.example", False, True),
        ("HTTPS://App.Example", False, True),  # origins compare without case
        ("https://evil.example", False, False),
        ("https://app.example.evil.example", False, False),  # whole origins, not prefixes
        ("http://app.example", False, False),  # the scheme is part of the origin
        ("null", False, False),
        (None, False, False),
        (None, True, True),
    ],
)
def test_10_2_origin_check_against_cross_site_hijacking(
    origin: str | None, allow_missing: bool, expected: bool
) -> None:
    request = _request_with_origin(origin)
    assert origin_allowed(request, ["https://app.example"], allow_missing=allow_missing) is expected


def test_9_1_quoted_values_may_hold_commas() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(
        raw_request(
            add='Sec-WebSocket-Extensions: x-a; note="a, b", x-b, permessage-deflate; client_max_window_bits'
        )
    )
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.extensions == ('x-a; note="a, b"', "x-b", "permessage-deflate; client_max_window_bits")
    assert parse_extension(request.extensions[0]) == ("x-a", [("note", "a, b")])


def test_reject_body_longer_than_announced_is_refused() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(raw_request())
    events(server)
    server.send(Reject(403, headers=[("Content-Length", "2")], has_body=True))
    with pytest.raises(LocalProtocolError, match="cannot send this body"):
        server.send(RejectData(b"too long"))
