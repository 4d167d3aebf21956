"""Time without a clock: keepalive pings (RFC 6455, 5.5.2 and 5.5.3), a late
pong failing with 1011, the closing handshake's timeout (7.1.1) and the
opening handshake's, driven by a fake clock: the tests tell the time."""

from __future__ import annotations

import pytest

from wsproto_lite import Connection, ConnectionState, Role
from wsproto_lite.events import Accept, Close, Message, Ping, Pong, Reject, RejectData, Request

from .helpers import events, pair


def opened_pair(**options: float) -> tuple[Connection, Connection]:
    return pair(client_opts=dict(options), server_opts=dict(options))


def test_no_timer_unless_a_timeout_is_set() -> None:
    client, server = opened_pair()
    for conn in (client, server):
        conn.handle_timer(0.0)
        assert conn.get_timer() is None
        conn.handle_timer(1e9)
        assert conn.data_to_send() == b""
        assert conn.state is ConnectionState.OPEN


def test_5_5_2_a_keepalive_ping_is_sent_when_due_and_its_pong_measured() -> None:
    client, server = opened_pair(ping_interval=10)
    client.handle_timer(100.0)
    assert client.get_timer() == 110.0
    client.handle_timer(109.9)
    assert client.data_to_send() == b""
    client.handle_timer(110.0)
    ping = client.data_to_send()
    server.receive_data(ping)
    (got,) = events(server)
    assert isinstance(got, Ping)
    assert client.get_timer() is None  # no ping_timeout: nothing to wait for
    client.receive_data(server.data_to_send(), now=110.25)  # the automatic pong
    assert events(client) == [Pong(got.payload)]
    assert client.latency == pytest.approx(0.25)
    assert client.get_timer() == 120.0  # from when the last ping went out


def test_a_pong_that_answers_another_ping_is_not_the_keepalive() -> None:
    client, server = opened_pair(ping_interval=10, ping_timeout=5)
    client.handle_timer(0.0)
    client.handle_timer(10.0)
    client.data_to_send()
    server.receive_data(client.send(Ping(b"mine")))
    events(server)
    client.receive_data(server.data_to_send(), now=11.0)
    assert events(client) == [Pong(b"mine")]
    assert client.latency is None
    assert client.get_timer() == 15.0


def test_a_late_pong_fails_the_connection_with_1011() -> None:
    client, server = opened_pair(ping_interval=10, ping_timeout=5)
    server.handle_timer(0.0)
    server.handle_timer(10.0)
    server.data_to_send()  # the ping, which the client never answers
    assert server.get_timer() == 15.0
    server.handle_timer(14.9)
    assert server.state is ConnectionState.OPEN
    server.handle_timer(15.0)
    assert events(server) == [Close(1011, "keepalive ping timeout")]
    assert server.state is ConnectionState.CLOSED
    assert server.should_close_transport
    client.receive_data(server.data_to_send())
    assert events(client) == [Close(1011, "keepalive ping timeout", by_peer=True)]  # the peer is told why


def test_7_1_1_a_closing_handshake_that_takes_too_long_closes_the_transport() -> None:
    client, _server = opened_pair(close_timeout=3)
    client.handle_timer(0.0)
    client.send(Close(), now=50.0)
    assert client.state is ConnectionState.LOCAL_CLOSING
    assert client.get_timer() == 53.0  # exact: the time came with the Close
    client.handle_timer(52.0)
    assert not client.should_close_transport
    client.handle_timer(53.0)
    assert client.state is ConnectionState.CLOSED
    assert client.should_close_transport
    assert events(client) == [Close(1006, "the closing handshake timed out")]


def test_7_1_1_a_client_stops_waiting_for_the_server_to_close_tcp() -> None:
    client, server = opened_pair(close_timeout=3)
    server.receive_data(client.send(Close(), now=10.0))
    assert events(server) == [Close(1000, "", by_peer=True)]  # and the reply is queued
    client.receive_data(server.data_to_send(), now=11.0)
    assert events(client) == [Close(1000, "", by_peer=True)]
    assert client.state is ConnectionState.CLOSED
    assert not client.should_close_transport  # the server closes TCP first
    assert client.get_timer() == 13.0  # the deadline started with the Close
    client.handle_timer(12.9)
    assert not client.should_close_transport
    client.handle_timer(13.0)
    assert client.should_close_transport
    assert events(client) == []


def test_a_deadline_without_now_starts_at_the_next_time_told() -> None:
    """An adapter that passes now only to handle_timer: get_timer() asks to
    be called at once, and the deadline starts then (late, never early)."""
    client, _server = opened_pair(close_timeout=3)
    client.handle_timer(0.0)
    client.send(Close())  # at, say, 7.0 on the adapter's clock
    assert client.get_timer() == 0.0  # due now: call handle_timer
    client.handle_timer(7.0)
    assert client.get_timer() == 10.0
    assert client.state is ConnectionState.LOCAL_CLOSING


@pytest.mark.parametrize("role", list(Role))
def test_4_1_an_opening_handshake_that_takes_too_long_is_given_up(role: Role) -> None:
    conn = Connection(role, open_timeout=5)
    conn.handle_timer(100.0)
    if role is Role.CLIENT:
        conn.send(Request(host="h", target="/"))
    assert conn.get_timer() == 105.0
    conn.handle_timer(104.0)
    assert conn.state is ConnectionState.CONNECTING
    conn.handle_timer(105.5)
    assert conn.state is ConnectionState.CLOSED
    assert conn.should_close_transport
    assert events(conn) == [Close(1006, "the opening handshake timed out")]
    assert conn.get_timer() is None


def test_an_open_timeout_stops_mattering_once_open() -> None:
    client = Connection(Role.CLIENT, open_timeout=5)
    server = Connection(Role.SERVER, open_timeout=5)
    for conn in (client, server):
        conn.handle_timer(0.0)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    client.receive_data(server.send(Accept(), now=1.0))
    events(client)
    assert client.get_timer() is None
    assert server.get_timer() is None
    client.handle_timer(100.0)
    assert client.state is ConnectionState.OPEN
    server.receive_data(client.send(Message("still here")))
    assert events(server) == [Message("still here")]


@pytest.mark.parametrize("option", ["ping_interval", "ping_timeout", "close_timeout", "open_timeout"])
@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_a_timeout_is_a_positive_number_of_seconds(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        Connection(Role.CLIENT, **{option: value})  # type: ignore[arg-type]


def test_an_open_timeout_bounds_a_refusals_body_too() -> None:
    """A client that read a refusal's head waits for its body no longer than
    the opening handshake's deadline (counted from the first time told): a
    server that stalls mid-body would otherwise hold it for ever."""
    client = Connection(Role.CLIENT, open_timeout=5)
    client.send(Request(host="h", target="/"), now=0.0)
    client.receive_data(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\nab", now=1.0)
    assert [type(e) for e in client.events()] == [Reject, RejectData]
    assert client.state is ConnectionState.REJECTING
    assert client.get_timer() == 5.0
    client.handle_timer(5.0)
    assert client.state is ConnectionState.CLOSED
    assert list(client.events()) == [Close(1006, "the opening handshake timed out")]
    assert client.should_close_transport


def test_an_open_timeout_bounds_a_servers_refusal_until_its_body_ends() -> None:
    server = Connection(Role.SERVER, open_timeout=5)
    server.receive_data(Connection(Role.CLIENT).send(Request(host="h", target="/")), now=0.0)
    list(server.events())
    server.send(Reject(403, has_body=True), now=1.0)
    server.handle_timer(5.0)
    assert server.state is ConnectionState.CLOSED
    assert list(server.events()) == [Close(1006, "the opening handshake timed out")]
