"""Interoperability with the sans-IO cores of wsproto and websockets, in memory.

These are the real libraries, not mocks: each test runs the opening
handshake, messages of both types and sizes (fragmented too), ping and pong,
and the closing handshake in both directions.
"""

from __future__ import annotations

import wsproto
import wsproto.events as wp
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsproto_lite import Connection, ConnectionState, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Request

from ..helpers import events

BIG_TEXT = "ü" * 100_000
BIG_BYTES = bytes(range(256)) * 1000


# -- wsproto ----------------------------------------------------------------------


def test_wsproto_client_to_our_server() -> None:
    peer = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    ours = Connection(Role.SERVER)
    ours.receive_data(peer.send(wp.Request(host="example.com", target="/ws", subprotocols=["chat"])))
    (request,) = events(ours)
    assert isinstance(request, Request)
    assert request.subprotocols == ("chat",)
    peer.receive_data(ours.send(Accept(subprotocol="chat")))
    (accepted,) = peer.events()
    assert isinstance(accepted, wp.AcceptConnection)
    assert accepted.subprotocol == "chat"

    data = peer.send(wp.TextMessage(data="hello"))
    data += peer.send(wp.BytesMessage(data=BIG_BYTES))
    data += peer.send(wp.TextMessage(data="frag", message_finished=False))
    data += peer.send(wp.TextMessage(data="mented"))
    data += peer.send(wp.Ping(payload=b"ping"))
    ours.receive_data(data)
    assert events(ours) == [Message("hello"), Message(BIG_BYTES), Message("fragmented"), Ping(b"ping")]

    peer.receive_data(ours.data_to_send() + ours.send(Message(BIG_TEXT)) + ours.send(Message(b"\x00")))
    got = list(peer.events())
    assert isinstance(got[0], wp.Pong)
    assert got[0].payload == b"ping"
    assert "".join(e.data for e in got if isinstance(e, wp.TextMessage)) == BIG_TEXT
    assert isinstance(got[-1], wp.BytesMessage)

    ours.receive_data(peer.send(wp.CloseConnection(code=1001, reason="bye")))
    assert events(ours) == [Close(1001, "bye", by_peer=True)]
    peer.receive_data(ours.data_to_send())
    (closed,) = peer.events()
    assert isinstance(closed, wp.CloseConnection)
    assert closed.code == 1001
    assert ours.should_close_transport


def test_our_client_to_wsproto_server() -> None:
    peer = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    ours = Connection(Role.CLIENT)
    peer.receive_data(ours.send(Request(host="example.com", target="/", subprotocols=["a", "b"])))
    (request,) = peer.events()
    assert isinstance(request, wp.Request)
    assert request.subprotocols == ["a", "b"]
    ours.receive_data(peer.send(wp.AcceptConnection(subprotocol="b")))
    assert events(ours) == [Accept(subprotocol="b")]
    assert ours.subprotocol == "b"

    peer.receive_data(ours.send(Message(BIG_TEXT)) + ours.send(Ping(b"x")) + ours.send(Message(b"bin")))
    got = list(peer.events())
    assert "".join(e.data for e in got if isinstance(e, wp.TextMessage)) == BIG_TEXT
    assert any(isinstance(e, wp.Ping) for e in got)
    peer_out = b"".join(peer.send(e.response()) for e in got if isinstance(e, wp.Ping))
    peer_out += peer.send(wp.BytesMessage(data=BIG_BYTES))
    ours.receive_data(peer_out)
    assert events(ours) == [Pong(b"x"), Message(BIG_BYTES)]

    peer.receive_data(ours.send(Close(1000, "done")))
    (closed,) = peer.events()
    assert isinstance(closed, wp.CloseConnection)
    assert (closed.code, closed.reason) == (1000, "done")
    ours.receive_data(peer.send(closed.response()))
    assert events(ours) == [Close(1000, "done", by_peer=True)]
    assert ours.state is ConnectionState.CLOSED


def test_wsproto_rejection_reaches_our_client() -> None:
    peer = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    ours = Connection(Role.CLIENT)
    peer.receive_data(ours.send(Request(host="example.com", target="/")))
    list(peer.events())
    data = peer.send(wp.RejectConnection(status_code=403, headers=[(b"content-length", b"4")], has_body=True))
    data += peer.send(wp.RejectData(data=b"nope"))
    ours.receive_data(data)
    got = events(ours)
    assert got[0].status_code == 403  # type: ignore[union-attr]
    assert b"".join(getattr(e, "data", b"") for e in got[1:]) == b"nope"


# -- websockets ---------------------------------------------------------------------


def _frames(peer: ServerProtocol | ClientProtocol) -> list[Frame]:
    return [e for e in peer.events_received() if isinstance(e, Frame)]


def _out(peer: ServerProtocol | ClientProtocol) -> bytes:
    return b"".join(peer.data_to_send())


def test_websockets_client_to_our_server() -> None:
    peer = ClientProtocol(parse_uri("ws://example.com/path"), subprotocols=["chat"], max_size=None)  # type: ignore[list-item]
    ours = Connection(Role.SERVER)
    peer.send_request(peer.connect())
    ours.receive_data(_out(peer))
    (request,) = events(ours)
    assert isinstance(request, Request)
    assert request.target == "/path"
    peer.receive_data(ours.send(Accept(subprotocol="chat")))
    peer.events_received()
    assert peer.state is State.OPEN
    assert peer.subprotocol == "chat"

    peer.send_text(b"hello")
    peer.send_binary(BIG_BYTES)
    peer.send_text(b"frag", fin=False)
    peer.send_continuation(b"mented", fin=True)
    peer.send_ping(b"p")
    ours.receive_data(_out(peer))
    assert events(ours) == [Message("hello"), Message(BIG_BYTES), Message("fragmented"), Ping(b"p")]

    peer.receive_data(ours.data_to_send() + ours.send(Message(BIG_TEXT)) + ours.send(Close(4001, "app")))
    got = _frames(peer)
    assert [f.opcode for f in got] == [Opcode.PONG, Opcode.TEXT, Opcode.CLOSE]
    assert bytes(got[1].data).decode() == BIG_TEXT
    ours.receive_data(_out(peer))
    assert events(ours) == [Close(4001, "app", by_peer=True)]
    assert ours.should_close_transport


def test_our_client_to_websockets_server() -> None:
    peer = ServerProtocol(subprotocols=["b"], max_size=None)  # type: ignore[list-item]
    ours = Connection(Role.CLIENT)
    peer.receive_data(ours.send(Request(host="example.com", target="/", subprotocols=["a", "b"])))
    (request,) = peer.events_received()
    peer.send_response(peer.accept(request))  # type: ignore[arg-type]
    ours.receive_data(_out(peer))
    (accept,) = events(ours)
    assert isinstance(accept, Accept)
    assert accept.subprotocol == ours.subprotocol == "b"
    assert b"date" in [name for name, _ in accept.extra_headers]

    peer.receive_data(ours.send(Message(BIG_TEXT)) + ours.send(Message(b"x")) + ours.send(Ping(b"1")))
    got = _frames(peer)
    assert [f.opcode for f in got] == [Opcode.TEXT, Opcode.BINARY, Opcode.PING]
    assert bytes(got[0].data).decode() == BIG_TEXT
    peer.send_binary(BIG_BYTES)
    ours.receive_data(_out(peer))
    assert events(ours) == [Pong(b"1"), Message(BIG_BYTES)]

    peer.receive_data(ours.send(Close(1000, "")))
    peer.events_received()
    ours.receive_data(_out(peer))
    assert events(ours) == [Close(1000, "", by_peer=True)]
    assert not ours.should_close_transport  # the server closes TCP first
    peer_eof = peer.close_expected()
    assert peer_eof
    ours.receive_data(None)
    assert ours.should_close_transport


def test_our_server_fails_a_websockets_client_that_breaks_the_rules() -> None:
    peer = ClientProtocol(parse_uri("ws://example.com/"))
    ours = Connection(Role.SERVER, max_message_size=10)
    peer.send_request(peer.connect())
    ours.receive_data(_out(peer))
    events(ours)
    peer.receive_data(ours.send(Accept()))
    peer.events_received()
    peer.send_binary(bytes(11))
    ours.receive_data(_out(peer))
    got: list[Event] = events(ours)
    assert [(type(e), getattr(e, "code", None)) for e in got] == [(Close, 1009)]
    peer.receive_data(ours.data_to_send())
    (close,) = peer.events_received()
    assert isinstance(close, Frame)
    assert close.opcode is Opcode.CLOSE
    assert close.data[:2] == (1009).to_bytes(2, "big")
