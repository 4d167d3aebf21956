"""The extension interface (RFC 6455, section 9), with a toy extension that
inverts every payload byte and claims RSV2."""

from __future__ import annotations

from wsproto_lite import Connection, ConnectionState, RemoteProtocolError, Role
from wsproto_lite.events import Accept, Close, Message, Request
from wsproto_lite.extensions import Extension, ExtensionSession, Params

from .helpers import events, frame

RSV2 = 0x20


class InvertSession(ExtensionSession):
    rsv = RSV2

    def __init__(self) -> None:
        self.closed = False

    def decode(self, payload: bytes | bytearray, *, fin: bool, limit: int | None) -> bytes:
        out = bytes(b ^ 0xFF for b in payload)
        if limit is not None and len(out) > limit:
            raise RemoteProtocolError("too big", code=1009)
        return out

    def encode(self, payload: bytes, first: bool, fin: bool) -> tuple[bytes, int]:
        return bytes(b ^ 0xFF for b in payload), RSV2 if first else 0

    def close(self) -> None:
        self.closed = True


class Invert(Extension):
    name = "x-invert"

    def __init__(self, offer: str = "") -> None:
        self._offer = offer

    def offer(self) -> str:
        return self._offer

    def accept(self, params: Params) -> tuple[str, ExtensionSession] | None:
        if params and params != [("strict", None)]:
            return None
        return "strict" if params else "", InvertSession()

    def finalize(self, params: Params) -> ExtensionSession:
        if params not in ([], [("strict", None)]):
            raise RemoteProtocolError(f"unexpected parameters {params}", code=1010)
        return InvertSession()


class Other(Invert):
    name = "x-other"


def negotiate(
    offer: list[Extension | str], supported: list[Extension], in_accept: bool = False
) -> tuple[Connection, Connection, bytes]:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, extensions=() if in_accept else supported)
    server.receive_data(client.send(Request(host="h", target="/", extensions=offer)))
    events(server)
    response = server.send(Accept(extensions=supported if in_accept else ()))
    client.receive_data(response)
    return client, server, response


def test_9_1_offer_and_accept() -> None:
    client, server, response = negotiate([Invert("strict")], [Invert()])
    assert b"Sec-WebSocket-Extensions: x-invert; strict\r\n" in response
    (accept,) = events(client)
    assert isinstance(accept, Accept)
    assert [type(e).__name__ for e in accept.extensions] == ["Invert"]
    assert [type(s) for s in client.extensions] == [InvertSession]
    assert [type(s) for s in server.extensions] == [InvertSession]


def test_extensions_given_in_accept_take_precedence() -> None:
    _client, server, response = negotiate([Invert()], [Invert()], in_accept=True)
    assert b"Sec-WebSocket-Extensions: x-invert\r\n" in response
    assert len(server.extensions) == 1


def test_server_offers_are_reported_as_strings() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", extensions=[Invert("strict"), Other()])))
    (request,) = events(server)
    assert isinstance(request, Request)
    assert request.extensions == ("x-invert; strict", "x-other")


def test_server_declines_an_offer_it_cannot_honour() -> None:
    client, server, response = negotiate([Invert("bogus=1")], [Invert()])
    assert b"Sec-WebSocket-Extensions" not in response
    assert server.extensions == ()
    assert client.state is ConnectionState.OPEN


def test_server_without_the_extension_ignores_the_offer() -> None:
    client, _server, response = negotiate([Invert()], [Other()])
    assert b"Sec-WebSocket-Extensions" not in response
    assert client.extensions == ()


def test_client_fails_parameters_it_cannot_honour() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, extensions=[Invert()])
    server.receive_data(client.send(Request(host="h", target="/", extensions=[Invert()])))
    events(server)
    response = server.send(Accept()).replace(b"x-invert", b"x-invert; weird")
    client.receive_data(response)
    (close,) = events(client)
    assert isinstance(close, Close)
    assert close.code == 1010
    assert client.state is ConnectionState.CLOSED


def test_payloads_are_transformed_and_rsv_claimed() -> None:
    client, server, _ = negotiate([Invert()], [Invert()])
    events(client)
    data = client.send(Message(b"abc", message_finished=False)) + client.send(Message(b"def"))
    assert data[0] & RSV2  # first frame
    server.receive_data(data)
    assert events(server) == [Message(b"abcdef")]
    client.receive_data(server.send(Message("text")))
    assert events(client) == [Message("text")]


def test_rsv_bits_of_another_extension_still_fail() -> None:
    _client, server, _ = negotiate([Invert()], [Invert()])
    server.receive_data(frame(0x1, b"x", rsv=0x40))
    assert [getattr(e, "code", None) for e in events(server)] == [1002]


def test_decode_limit_is_the_rest_of_the_message_budget() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, extensions=[Invert()], max_message_size=4)
    server.receive_data(client.send(Request(host="h", target="/", extensions=[Invert()])))
    events(server)
    server.send(Accept())
    server.receive_data(frame(0x2, b"\x00\x00", rsv=RSV2, fin=False) + frame(0x0, b"\x00\x00\x00"))
    assert [getattr(e, "code", None) for e in events(server)] == [1009]


def test_sessions_are_closed_with_the_connection() -> None:
    client, server, _ = negotiate([Invert()], [Invert()])
    events(client)
    server.receive_data(client.send(Message("x")) + frame(0x8, b"\x03\xe8"))
    events(server)
    assert all(isinstance(s, InvertSession) and s.closed for s in server.extensions)
