"""Connection.receive_request: the opening handshake from a request another
HTTP parser read (RFC 6455, 4.2.1), equal to the wire path on the same
heads: the same Request, or the same status and headers to answer with,
then the same 101 or rejection bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Event, Message, Reject, RejectData, Request

from .helpers import events, frame

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
VALID = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]
#: Other values each header may take, valid and not.
VARIANTS = {
    "Host": ["example.com:8080", "", "[::1]"],
    "Upgrade": ["WebSocket", "h2c", "websocket, foo", "foo"],
    "Connection": ["keep-alive, Upgrade", "close", "upgrade"],
    "Sec-WebSocket-Key": ["short", "AAAAAAAAAAAAAAAAAAAAAA==", KEY + "x", ""],
    "Sec-WebSocket-Version": ["8", "13, 8", "", "14"],
}
OPTIONAL = [
    ("Sec-WebSocket-Protocol", st.sampled_from(["chat", "chat, superchat", "a b", "x,,y"])),
    ("Sec-WebSocket-Extensions", st.sampled_from(["permessage-deflate", "x; a=1, permessage-deflate"])),
    ("Origin", st.sampled_from(["https://example.com", "null"])),
    ("X-Extra", st.sampled_from(["1", "caf\xe9"])),
    ("Content-Length", st.sampled_from(["0", "5"])),
    ("Transfer-Encoding", st.just("chunked")),
]


@st.composite
def heads(draw: st.DrawFn) -> tuple[str, str, str, list[tuple[str, str]]]:
    """A request head: method, target, version and headers, valid or not."""
    headers = []
    for name, value in VALID:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue  # missing
        if choice == 1:
            value = draw(st.sampled_from(VARIANTS[name]))
        headers.append((draw(st.sampled_from([name, name.lower(), name.upper()])), value))
        if choice == 2:
            headers.append((name, value))  # twice
    for name, values in OPTIONAL:
        if draw(st.booleans()):
            headers.append((name, draw(values)))
    headers = draw(st.permutations(headers))
    method = draw(st.sampled_from(["GET", "GET", "GET", "POST", "HEAD"]))
    target = draw(st.sampled_from(["/", "/chat?room=1", "/caf%C3%A9"]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.1", "1.0"]))
    return method, target, version, headers


def wire_bytes(method: str, target: str, version: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/{version}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def outcome(start: object) -> tuple[object, ...]:
    """What a server made of a request: the events, or the error's hints."""
    try:
        start()  # type: ignore[operator]
    except RemoteProtocolError as error:
        return ("error", error.status_code, error.headers)
    return ("events",)


@given(heads(), st.booleans())
def test_receive_request_is_the_wire_path(
    head: tuple[str, str, str, list[tuple[str, str]]], as_bytes: bool
) -> None:
    method, target, version, headers = head
    wire, parsed = Connection(Role.SERVER), Connection(Role.SERVER)
    given_headers: list[tuple[bytes | str, bytes | str]] = [
        (name.encode("latin-1"), value.encode("latin-1")) if as_bytes else (name, value)
        for name, value in headers
    ]
    got_wire = outcome(lambda: wire.receive_data(wire_bytes(method, target, version, headers)))
    got_parsed = outcome(
        lambda: parsed.receive_request(
            method.encode() if as_bytes else method, target, given_headers, http_version=version
        )
    )
    assert got_parsed == got_wire
    assert events(parsed) == events(wire)
    answer: Event = Accept() if got_wire == ("events",) else Reject(400)
    assert parsed.send(answer) == wire.send(answer)
    assert parsed.state is wire.state


def request_headers(**changes: str) -> list[tuple[str, str]]:
    return [(name, changes.get(name, value)) for name, value in VALID]


def test_a_request_from_asgi_opens_and_exchanges_messages() -> None:
    """ASGI gives lower-case bytes names; early frames come through receive_data."""
    server = Connection(Role.SERVER)
    server.receive_request(
        b"GET",
        b"/chat",
        [(name.lower().encode(), value.encode()) for name, value in VALID],
        http_version=b"1.1",
    )
    (request,) = events(server)
    assert isinstance(request, Request)
    assert (request.host, request.target) == ("example.com", "/chat")
    server.receive_data(frame(0x1, b"early"))
    assert events(server) == []
    assert server.send(Accept()).startswith(b"HTTP/1.1 101 ")
    assert server.state is ConnectionState.OPEN
    assert events(server) == [Message("early")]


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Upgrade": "h2c"}, 426),
        ({"Sec-WebSocket-Key": "short"}, 400),
    ],
)
def test_4_2_1_an_invalid_request_raises_with_its_answer(changes: dict[str, str], status: int) -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as error:
        server.receive_request("GET", "/", request_headers(**changes))
    assert error.value.status_code == status
    data = server.send(Reject(status, headers=error.value.headers, has_body=True))
    assert data.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"bye" in server.send(RejectData(b"bye"))  # chunked: no Content-Length was given
    assert server.state is ConnectionState.CLOSED


def test_a_head_over_the_limit_is_431() -> None:
    server = Connection(Role.SERVER, max_handshake_size=1000)
    with pytest.raises(RemoteProtocolError) as error:
        server.receive_request("GET", "/", [*VALID, ("X-Big", "a" * 1000)])
    assert error.value.status_code == 431


def test_text_that_is_not_latin1_is_a_bad_request() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as error:
        server.receive_request("GET", "/", [*VALID, ("X-Name", "\u20ac")])
    assert error.value.status_code == 400


def test_receive_request_is_for_a_server_waiting_for_its_request() -> None:
    with pytest.raises(LocalProtocolError, match="client"):
        Connection(Role.CLIENT).receive_request("GET", "/", VALID)
    server = Connection(Role.SERVER)
    server.receive_request("GET", "/", VALID)
    with pytest.raises(LocalProtocolError, match="has one"):
        server.receive_request("GET", "/", VALID)
    assert [type(e) for e in events(server)] == [Request]
