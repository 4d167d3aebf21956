"""permessage-deflate against websockets' own implementation (RFC 7692), in
memory through its sans-IO core, both roles, context takeover on and off."""

from __future__ import annotations

import json

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Message, Request
from wsproto_lite.extensions import DeflateSession, PerMessageDeflate

from ..helpers import events

MESSAGES: list[str | bytes] = [
    *(
        json.dumps({"user": f"name{i}", "items": list(range(i % 7)), "text": "hello " * (i % 5)})
        for i in range(20)
    ),
    b"\x00\x01" * 3000,
    "ü" * 5000,
]


def _out(peer: ServerProtocol | ClientProtocol) -> bytes:
    return b"".join(peer.data_to_send())


def _frames(peer: ServerProtocol | ClientProtocol) -> list[Frame]:
    return [e for e in peer.events_received() if isinstance(e, Frame)]


def _send_all(peer: ServerProtocol | ClientProtocol) -> None:
    for message in MESSAGES:
        if isinstance(message, str):
            peer.send_text(message.encode())
        else:
            peer.send_binary(message)


def _rsv1_frames(data: bytes, masked: bool) -> int:
    """How many frames in ``data`` (no extended lengths over 64 KiB) have RSV1."""
    count, pos = 0, 0
    while pos < len(data):
        count += bool(data[pos] & 0x40)
        length = data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        pos += length + (4 if masked else 0)
    return count


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_websockets_client_with_compression_to_our_server(no_context_takeover: bool) -> None:
    peer = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=no_context_takeover,
                client_no_context_takeover=no_context_takeover,
            )
        ],
        max_size=None,
    )
    ours = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    peer.send_request(peer.connect())
    ours.receive_data(_out(peer))
    events(ours)
    peer.receive_data(ours.send(Accept()))
    peer.events_received()
    assert peer.state is State.OPEN
    (state,) = ours.extensions
    assert isinstance(state, DeflateSession)
    assert state.send_no_context_takeover is no_context_takeover

    _send_all(peer)
    data = _out(peer)
    assert _rsv1_frames(data, masked=True) == len(MESSAGES)  # the peer did compress
    ours.receive_data(data)
    assert events(ours) == [Message(m) for m in MESSAGES]

    out = b"".join(ours.send(Message(m)) for m in MESSAGES)
    assert _rsv1_frames(out, masked=False) == len(MESSAGES)
    peer.receive_data(out)
    got = _frames(peer)
    assert [bytes(f.data) for f in got] == [m.encode() if isinstance(m, str) else m for m in MESSAGES]
    assert [f.opcode for f in got] == [Opcode.TEXT if isinstance(m, str) else Opcode.BINARY for m in MESSAGES]


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_our_client_with_compression_to_a_websockets_server(no_context_takeover: bool) -> None:
    peer = ServerProtocol(
        extensions=[ServerPerMessageDeflateFactory(server_no_context_takeover=no_context_takeover)],
        max_size=None,
    )
    offer = PerMessageDeflate(client_no_context_takeover=no_context_takeover)
    ours = Connection(Role.CLIENT, max_message_size=None)
    peer.receive_data(ours.send(Request(host="example.com", target="/", extensions=[offer])))
    (request,) = peer.events_received()
    peer.send_response(peer.accept(request))  # type: ignore[arg-type]
    ours.receive_data(_out(peer))
    (accept,) = events(ours)
    assert isinstance(accept, Accept)
    assert accept.extensions == (offer,)
    (state,) = ours.extensions
    assert isinstance(state, DeflateSession)
    assert state.send_no_context_takeover is no_context_takeover
    assert state.receive_no_context_takeover is no_context_takeover

    # Our client compresses, with context takeover unless it said otherwise.
    out = b"".join(ours.send(Message(m)) for m in MESSAGES)
    assert _rsv1_frames(out, masked=True) == len(MESSAGES)
    peer.receive_data(out)
    assert [bytes(f.data) for f in _frames(peer)] == [
        m.encode() if isinstance(m, str) else m for m in MESSAGES
    ]

    _send_all(peer)
    data = _out(peer)
    assert _rsv1_frames(data, masked=False) == len(MESSAGES)
    ours.receive_data(data)
    assert events(ours) == [Message(m) for m in MESSAGES]


def test_websockets_client_limiting_our_window() -> None:
    peer = ClientProtocol(
        parse_uri("ws://example.com/"),
        extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=9)],
    )
    ours = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
    peer.send_request(peer.connect())
    ours.receive_data(_out(peer))
    events(ours)
    response = ours.send(Accept())
    assert b"server_max_window_bits=10" in response
    peer.receive_data(response)
    peer.events_received()
    assert peer.state is State.OPEN
    long_text = "".join(f"line {i} of a long text\n" for i in range(3000))
    ours_out = ours.send(Message(long_text))
    peer.receive_data(ours_out)
    assert bytes(_frames(peer)[0].data).decode() == long_text
    peer.send_text(long_text.encode())
    ours.receive_data(_out(peer))
    assert events(ours) == [Message(long_text)]
