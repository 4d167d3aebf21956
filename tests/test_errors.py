"""Which LocalProtocolError a misuse raises: ConnectionClosedError when the
state forbids sending because the connection is closing or closed,
InvalidEventError (also a ValueError) when the event itself is wrong, in any
state. A host such as an ASGI server maps only the first to a disconnect."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wsproto_lite import (
    Connection,
    ConnectionClosedError,
    ConnectionState,
    InvalidEventError,
    LocalProtocolError,
    Role,
)
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request

from .helpers import events, pair


def test_both_are_local_protocol_errors_and_exported() -> None:
    assert issubclass(ConnectionClosedError, LocalProtocolError)
    assert issubclass(InvalidEventError, LocalProtocolError)
    assert issubclass(InvalidEventError, ValueError)
    assert not issubclass(ConnectionClosedError, ValueError)


def server_with_request(**request: object) -> Connection:
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/", **request)))  # type: ignore[arg-type]
    events(server)
    return server


#: Events that are wrong in themselves, each with a connection in a state
#: that would otherwise accept its kind.
INVALID: dict[str, tuple[Callable[[], Connection], Callable[[], Event]]] = {
    "close code that may not be sent (7.4)": (lambda: pair()[0], lambda: Close(1005, "why")),
    "reserved close code": (lambda: pair()[0], lambda: Close(1006)),
    "close code that is not an int": (lambda: pair()[0], lambda: Close("1000")),  # type: ignore[arg-type]
    "close reason over 123 bytes (5.5)": (lambda: pair()[0], lambda: Close(1000, "x" * 124)),
    "ping payload over 125 bytes (5.5)": (lambda: pair()[0], lambda: Ping(bytes(126))),
    "pong payload over 125 bytes (5.5)": (lambda: pair()[0], lambda: Pong(bytes(126))),
    "text with a lone surrogate": (lambda: pair()[0], lambda: Message("\ud800")),
    "subprotocol not offered (4.2.2)": (
        lambda: server_with_request(subprotocols=["a"]),
        lambda: Accept(subprotocol="b"),
    ),
    "invalid header in Accept": (
        server_with_request,
        lambda: Accept(extra_headers=[(b"X-Bad", b"a\r\nb")]),
    ),
    "reject status that is not final": (server_with_request, lambda: Reject(101)),
    "invalid request target": (lambda: Connection(Role.CLIENT), lambda: Request(host="h", target="a b")),
    "subprotocol that is not a token": (
        lambda: Connection(Role.CLIENT),
        lambda: Request(host="h", target="/", subprotocols=["a b"]),
    ),
}


@pytest.mark.parametrize("case", INVALID, ids=str)
def test_an_invalid_event_raises_invalid_event_error(case: str) -> None:
    make, event = INVALID[case]
    conn = make()
    state = conn.state
    with pytest.raises(InvalidEventError) as error:
        conn.send(event())
    assert not isinstance(error.value, ConnectionClosedError)
    assert conn.state is state


def test_what_is_not_an_event_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEventError, match="is not an event"):
        pair()[0].send("hello")  # type: ignore[arg-type]


def test_a_piece_of_the_other_type_is_an_invalid_event() -> None:
    client, _ = pair()
    client.send(Message("a", message_finished=False))
    with pytest.raises(InvalidEventError):
        client.send(Message(b"b"))


def test_an_invalid_bytes_like_payload_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEventError):
        Ping(1234)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bytes-like"):
        RejectData("text")  # type: ignore[arg-type]


@pytest.mark.parametrize("event", [Message("m"), Ping(), Pong(), Close()], ids=lambda e: type(e).__name__)
def test_sending_after_close_raises_connection_closed_error(event: Event) -> None:
    client, server = pair()
    server.receive_data(client.send(Close()))
    events(server)
    assert server.state is ConnectionState.CLOSED
    with pytest.raises(ConnectionClosedError, match="in state CLOSED"):
        server.send(event)
    with pytest.raises(ConnectionClosedError, match="in state LOCAL_CLOSING"):
        client.send(event)


def test_sending_before_the_handshake_is_neither() -> None:
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError) as error:
        client.send(Message("too early"))
    assert type(error.value) is LocalProtocolError


def test_an_invalid_event_in_a_closed_state_is_refused_for_the_state_first() -> None:
    """The state is checked before the event's fields: a host sees that the
    connection is closed, whatever the application tried to send."""
    client, _server = pair()
    client.send(Close())
    with pytest.raises(ConnectionClosedError):
        client.send(Close(1006))
