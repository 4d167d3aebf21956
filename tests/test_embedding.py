"""Embedding: a connection that a host opened itself (Connection.opened),
and extension negotiation without the HTTP/1.1 handshake (RFC 6455, 9.1;
RFC 7692; the way RFC 8441 and RFC 9220 hosts use them)."""

from __future__ import annotations

import pytest

from wsproto_lite import (
    Connection,
    ConnectionState,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    accept_token,
    split_comma_header,
)
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Request
from wsproto_lite.extensions import (
    DeflateSession,
    Extension,
    ExtensionSession,
    PerMessageDeflate,
    finalize,
    negotiate,
    offer,
)

from .helpers import events, pair

# -- The helpers embedders call ---------------------------------------------------


def test_1_3_accept_token_of_the_rfc_example() -> None:
    assert accept_token(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept_token("dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    ("value", "elements"),
    [
        (b"a, b ,c", ["a", "b", "c"]),
        ("a,,b,", ["a", "b"]),
        ('x; p="1,2", y', ['x; p="1,2"', "y"]),
        (b"", []),
    ],
)
def test_split_comma_header(value: bytes | str, elements: list[str]) -> None:
    assert split_comma_header(value) == elements


# -- Negotiation without HTTP/1.1 ---------------------------------------------------


def test_offer_is_the_header_a_client_sends() -> None:
    assert offer([]) is None
    assert offer([PerMessageDeflate()]) == "permessage-deflate; client_max_window_bits"
    assert offer([PerMessageDeflate(server_no_context_takeover=True, client_max_window_bits=10)]) == (
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"
    )


@pytest.mark.parametrize(
    "config",
    [
        PerMessageDeflate(),
        PerMessageDeflate(client_no_context_takeover=True, server_max_window_bits=12),
        PerMessageDeflate(client_max_window_bits=9),
    ],
    ids=repr,
)
def test_negotiate_answers_as_the_wire_handshake_does(config: PerMessageDeflate) -> None:
    """The same offer gets the same answer from negotiate() as from a
    server's Accept on HTTP/1.1, header for header."""
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER, extensions=[PerMessageDeflate(server_no_context_takeover=True)])
    request = client.send(Request(host="h", target="/", extensions=[config]))
    server.receive_data(request)
    events(server)
    response = server.send(Accept())
    wire = [line for line in response.split(b"\r\n") if line.startswith(b"Sec-WebSocket-Extensions: ")]
    offered = [line[26:] for line in request.split(b"\r\n") if line.startswith(b"Sec-WebSocket-Extensions: ")]
    for values in (offered, offered[0], offered[0].decode()):
        answer, sessions = negotiate(values, [PerMessageDeflate(server_no_context_takeover=True)])
        assert answer is not None
        assert wire == [b"Sec-WebSocket-Extensions: " + answer.encode()]
        assert [type(s) for s in sessions] == [DeflateSession]


def test_negotiate_takes_several_values_and_the_first_offer_it_can_honour() -> None:
    answer, sessions = negotiate(
        [b"x-unknown, permessage-deflate; server_max_window_bits=7", "permessage-deflate"],
        [PerMessageDeflate()],
    )
    assert answer == "permessage-deflate"
    assert len(sessions) == 1
    assert negotiate([], [PerMessageDeflate()]) == (None, [])
    assert negotiate("permessage-deflate", []) == (None, [])


class _OtherRsv1(Extension):
    """A second extension that would claim RSV1."""

    name = "x-other"

    def offer(self) -> str:
        return ""

    def accept(self, params: list[tuple[str, str | None]]) -> tuple[str, ExtensionSession] | None:
        return "", DeflateSession(
            PerMessageDeflate(),
            send_no_context_takeover=False,
            receive_no_context_takeover=False,
            send_window_bits=15,
            receive_window_bits=15,
        )

    def finalize(self, params: list[tuple[str, str | None]]) -> ExtensionSession:
        raise NotImplementedError


def test_negotiate_declines_a_second_extension_on_the_same_rsv_bit() -> None:
    """RFC 7692, 5: two extensions that both use RSV1 cannot both be accepted."""
    answer, sessions = negotiate("permessage-deflate, x-other", [PerMessageDeflate(), _OtherRsv1()])
    assert answer == "permessage-deflate"
    assert len(sessions) == 1


def test_finalize_returns_the_sessions_of_the_answer() -> None:
    offered = [PerMessageDeflate()]
    (session,) = finalize([b"permessage-deflate; server_max_window_bits=10"], offered)
    assert isinstance(session, DeflateSession)
    assert session.receive_window_bits == 10
    assert finalize([], offered) == []


@pytest.mark.parametrize(
    "answer",
    [
        "x-never-offered",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits",
    ],
)
def test_9_1_finalize_fails_with_1010_for_an_answer_it_cannot_honour(answer: str) -> None:
    with pytest.raises(RemoteProtocolError) as error:
        finalize(answer, [PerMessageDeflate()])
    assert error.value.code == 1010


# -- Connections a host opened ------------------------------------------------------


def opened_pair(deflate: bool = False, **options: object) -> tuple[Connection, Connection]:
    """A client and a server opened without HTTP/1.1, their extensions
    negotiated by the functions a host calls."""
    offered = [PerMessageDeflate()] if deflate else []
    answer, server_sessions = negotiate(offer(offered) or "", offered)
    client_sessions = finalize(answer or "", offered)
    client = Connection.opened(Role.CLIENT, extensions=client_sessions, **options)  # type: ignore[arg-type]
    server = Connection.opened(Role.SERVER, extensions=server_sessions, **options)  # type: ignore[arg-type]
    return client, server


EVERY_EVENT: list[Event] = [
    Message("text"),
    Message(b"binary"),
    Message("x" * 70_000),
    Message("frag", message_finished=False),
    Message("mented"),
    Ping(b"p"),
    Pong(b"q"),
    Close(1000, "bye"),
]


def exchange(sender: Connection, receiver: Connection, event: Event) -> tuple[list[Event], bytes]:
    receiver.receive_data(sender.send(event))
    return events(receiver), receiver.data_to_send()


def wire_pair(deflate: bool) -> tuple[Connection, Connection]:
    offered: list[Extension] = [PerMessageDeflate()] if deflate else []
    request = Request(host="h", target="/", extensions=offered)
    return pair(client_opts={"request": request}, extensions=offered)


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_opened_connections_send_what_wire_started_ones_send(deflate: bool) -> None:
    """Server to client the bytes are the same (nothing is masked), and the
    client reports the same events."""
    (wire_client, wire_server), (client, server) = wire_pair(deflate), opened_pair(deflate)
    assert [type(s) for s in client.extensions] == [type(s) for s in wire_client.extensions]
    for event in EVERY_EVENT:
        data = server.send(event)
        assert data == wire_server.send(event)
        client.receive_data(data)
        wire_client.receive_data(data)
        assert events(client) == events(wire_client)
        # The client's replies (a pong, the close reply) are masked with fresh keys.
        assert len(client.data_to_send()) == len(wire_client.data_to_send())
    assert client.state is wire_client.state is ConnectionState.CLOSED


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_opened_connections_receive_what_wire_started_ones_receive(deflate: bool) -> None:
    """Client to server (masked with fresh keys): the same events, the same
    automatic replies, the same states."""
    (wire_client, wire_server), (client, server) = wire_pair(deflate), opened_pair(deflate)
    for event in EVERY_EVENT:
        assert exchange(client, server, event) == exchange(wire_client, wire_server, event)
        assert server.state is wire_server.state
    assert server.state is ConnectionState.CLOSED


def test_an_opened_client_talks_to_a_wire_started_server() -> None:
    """A host that offers with offer() and finalizes the server's 101 with
    finalize() interoperates with a server that did the HTTP/1.1 handshake,
    compression included."""
    offered = [PerMessageDeflate(client_max_window_bits=12)]
    server = Connection(Role.SERVER)
    server.receive_data(
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: " + (offer(offered) or "").encode() + b"\r\n\r\n"
    )
    events(server)
    response = server.send(Accept(extensions=[PerMessageDeflate()]))
    lines = response.split(b"\r\n")
    (answer,) = [line[26:] for line in lines if line.startswith(b"Sec-WebSocket-Extensions")]
    client = Connection.opened(Role.CLIENT, extensions=finalize(answer, offered))
    messages: list[Message] = [Message("hello " * 100), Message(b"\x00" * 5000)]
    for message in messages:
        server.receive_data(client.send(message))
        assert events(server) == [message]
        client.receive_data(server.send(message))
        assert events(client) == [message]
    server.receive_data(client.send(Ping(b"x")))
    assert events(server) == [Ping(b"x")]
    client.receive_data(server.data_to_send())
    assert events(client) == [Pong(b"x")]


def test_opened_takes_every_constructor_option() -> None:
    client, server = opened_pair(max_message_size=10, stream_messages=True, auto_reply=False)
    assert server.state is ConnectionState.OPEN
    assert (server.max_message_size, server.stream_messages, server.auto_reply) == (10, True, False)
    server.receive_data(client.send(Ping(b"p")))
    assert events(server) == [Ping(b"p")]
    assert server.data_to_send() == b""  # auto_reply is off
    server.receive_data(client.send(Message(b"12345678901")))
    assert [e.code for e in events(server) if isinstance(e, Close)] == [1009]


def test_opened_reports_its_subprotocol_and_sessions() -> None:
    (session,) = finalize("permessage-deflate", [PerMessageDeflate()])
    conn = Connection.opened(Role.SERVER, subprotocol="chat", extensions=[session])
    assert conn.subprotocol == "chat"
    assert conn.extensions == (session,)


@pytest.mark.parametrize(
    "extensions",
    [[PerMessageDeflate()], ["permessage-deflate"]],
    ids=["a configuration", "a header string"],
)
def test_opened_refuses_what_is_not_a_session(extensions: list[object]) -> None:
    with pytest.raises(LocalProtocolError, match="negotiated sessions"):
        Connection.opened(Role.CLIENT, extensions=extensions)  # type: ignore[arg-type]


def test_opened_refuses_two_sessions_on_one_rsv_bit() -> None:
    sessions = finalize("permessage-deflate", [PerMessageDeflate()]) * 2
    with pytest.raises(LocalProtocolError, match="RSV"):
        Connection.opened(Role.SERVER, extensions=sessions)


def test_the_core_does_not_import_uvicorn() -> None:
    """wsproto_lite.uvicorn is an optional integration: importing the
    library (and every public module) never imports uvicorn."""
    import subprocess
    import sys

    code = (
        "import sys, wsproto_lite, wsproto_lite.events, wsproto_lite.extensions, wsproto_lite.connection; "
        "assert 'uvicorn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
