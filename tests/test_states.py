"""docs/topics/states.md tells the truth: every cell of its tables is checked here
against the state machine (RFC 6455, sections 4, 5.5 and 7)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import pytest

from wsproto_lite import (
    Connection,
    ConnectionClosedError,
    ConnectionState,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
)
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request

from .helpers import ROOT, events, frame, pair

STATES_MD = (ROOT / "docs" / "topics" / "states.md").read_text()
#: Where docs/topics/states.md says a refusal raises ConnectionClosedError.
CLOSING_OR_CLOSED = (ConnectionState.LOCAL_CLOSING, ConnectionState.REMOTE_CLOSING, ConnectionState.CLOSED)


def table(heading: str, index: int = 0) -> list[list[str]]:
    """The rows (cells stripped) of the ``index``-th table under ``heading``."""
    section = STATES_MD.split(f"## {heading}\n")[1].split("\n## ")[0]
    tables = re.findall(r"((?:^\|.*\|\n)+)", section, re.MULTILINE)
    lines = tables[index].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def handshake_pair() -> tuple[Connection, Connection]:
    """A client whose request was sent, and a server that read it."""
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    events(server)
    return client, server


def rejecting_server() -> Connection:
    client, server = handshake_pair()
    client.receive_data(server.send(Reject(403, has_body=True)))
    return server


def after_handshake(role: Role, state: ConnectionState, auto_reply: bool = True) -> Connection:
    client, server = pair(client_opts={"auto_reply": False}, server_opts={"auto_reply": False})
    conn, peer = (server, client) if role is Role.SERVER else (client, server)
    if state is ConnectionState.LOCAL_CLOSING:
        conn.send(Close())
    elif state is not ConnectionState.OPEN:
        conn.receive_data(peer.send(Close()))
        events(conn)
        if state is ConnectionState.CLOSED:
            conn.send(Close())
    conn.auto_reply = auto_reply
    assert conn.state is state
    return conn


#: What the peer would send next to a connection made for a row, by id().
NEXT_FROM_PEER: dict[int, bytes] = {}


def client_with_answer() -> Connection:
    """A client whose request was sent; the server's 101 is put aside."""
    client, server = handshake_pair()
    NEXT_FROM_PEER[id(client)] = server.send(Accept())
    return client


def client_rejected() -> Connection:
    """A client that read a Reject; the first piece of its body is put aside."""
    client, server = handshake_pair()
    client.receive_data(server.send(Reject(403, has_body=True)))
    events(client)
    NEXT_FROM_PEER[id(client)] = server.send(RejectData(b"no", body_finished=False))
    return client


def failed_server() -> Connection:
    """A server whose receive_data() raised for an invalid request."""
    server = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError):
        server.receive_data(b"NOT HTTP\r\n\r\n")
    return server


#: How to reach each row of the tables: the row's label -> (role, connection).
ROWS: dict[str, list[tuple[Role, Callable[[], Connection]]]] = {
    "`CONNECTING`, client, before its request": [(Role.CLIENT, lambda: Connection(Role.CLIENT))],
    "`CONNECTING`, client, request sent": [(Role.CLIENT, client_with_answer)],
    "`CONNECTING`, server, no request yet": [(Role.SERVER, lambda: Connection(Role.SERVER))],
    "`CONNECTING`, server, after `Request`": [(Role.SERVER, lambda: handshake_pair()[1])],
    "`CONNECTING`, server": [(Role.SERVER, lambda: Connection(Role.SERVER))],
    "`CONNECTING`, server, after an invalid request": [(Role.SERVER, failed_server)],
    "`REJECTING`, client": [(Role.CLIENT, client_rejected)],
    "`REJECTING`, server": [(Role.SERVER, rejecting_server)],
} | {
    label: [(role, partial(after_handshake, role, state, auto_reply)) for role in Role]
    for label, state, auto_reply in (
        ("`OPEN`", ConnectionState.OPEN, True),
        ("`OPEN` with `auto_reply=False`", ConnectionState.OPEN, False),
        ("`LOCAL_CLOSING`", ConnectionState.LOCAL_CLOSING, True),
        ("`REMOTE_CLOSING`", ConnectionState.REMOTE_CLOSING, True),
        ("`CLOSED`", ConnectionState.CLOSED, True),
    )
}


def reach(label: str) -> list[tuple[Role, Callable[[], Connection]]]:
    assert label in ROWS, f"docs/topics/states.md has a row this test cannot reach: {label}"
    return ROWS[label]


def state_of(label: str) -> ConnectionState:
    match = re.match(r"`(\w+)`", label)
    assert match
    return ConnectionState[match.group(1)]


# -- What may be sent -------------------------------------------------------------

SEND_TABLE = table("What may be sent in each state")
SENDS: list[list[Event]] = [
    [Request(host="h", target="/")],
    [Accept()],
    [Reject(403)],
    [RejectData(b"body")],
    [Message("m")],
    [Ping(), Pong()],
    [Close()],
]


def test_send_table_covers_every_state_and_event() -> None:
    assert {state_of(row[0]) for row in SEND_TABLE} == set(ConnectionState)
    header = STATES_MD.split("## What may be sent in each state\n")[1]
    assert (
        "| state | `Request` | `Accept` | `Reject` | `RejectData` | `Message` | `Ping`, `Pong` | `Close` |"
        in header
    )


@pytest.mark.parametrize("row", SEND_TABLE, ids=lambda row: row[0].replace("`", ""))
def test_send_table_cell_by_cell(row: list[str]) -> None:
    label, cells = row[0], row[1:]
    allowed = [
        type(e).__name__ for cell, group in zip(cells, SENDS, strict=True) if cell != "no" for e in group
    ]
    for role, make in reach(label):
        for cell, group in zip(cells, SENDS, strict=True):
            for event in group:
                conn = make()
                assert conn.role is role
                if cell == "no":
                    with pytest.raises(LocalProtocolError) as error:
                        conn.send(event)
                    # Closing or closed: the error an ASGI server maps to a disconnect.
                    closed = state_of(label) in CLOSING_OR_CLOSED
                    assert type(error.value) is (ConnectionClosedError if closed else LocalProtocolError)
                    message = str(error.value)
                    assert f"in state {state_of(label).name} ({role.value})" in message
                    assert message.endswith(f"allowed now: {', '.join(allowed) or 'nothing'}"), message
                else:
                    assert isinstance(conn.send(event), bytes)
                    arrow = re.fullmatch(r"yes(?: → `(\w+)`)?", cell)
                    assert arrow, f"unreadable cell {cell!r}"
                    expected = ConnectionState[arrow.group(1)] if arrow.group(1) else state_of(label)
                    assert conn.state is expected, (label, event)


# -- What is received -------------------------------------------------------------

RECEIVE_TABLE = table("What happens to what is received in each state", 0)
HANDSHAKE_TABLE = table("What happens to what is received in each state", 1)


def frames_from_peer(role: Role) -> list[bytes | None]:
    """The columns of the receive table, as the peer of ``role`` sends them."""
    masked = role is Role.SERVER
    return [
        frame(0x1, b"m", mask=masked),
        frame(0x9, b"p", mask=masked),
        frame(0xA, b"p", mask=masked),
        frame(0x8, b"\x03\xe8", mask=masked),
        frame(0x1, b"m", rsv=0x40, mask=masked),  # RSV1 without an extension: 5.2
        None,
    ]


def check_outcome(conn: Connection, data: bytes | None, cell: str) -> None:
    """Feed ``data`` and check what ``cell`` says: an event, a new state,
    bytes queued, an exception, or nothing at all."""
    before = conn.state
    raised = re.fullmatch(r"raises `(\w+)`(?: → `(\w+)`)?", cell)
    if raised:
        error = {"RemoteProtocolError": RemoteProtocolError, "LocalProtocolError": LocalProtocolError}
        with pytest.raises(error[raised.group(1)]):
            conn.receive_data(data)
        assert conn.state is (ConnectionState[raised.group(2)] if raised.group(2) else before)
        return
    conn.receive_data(data)
    got = events(conn)
    if cell == "kept until `Accept`":
        assert got == []
        assert conn.state is before
        conn.send(Accept())
        assert events(conn) == [Message("early")]
        return
    if cell == "dropped":
        assert got == []
        assert conn.state is before
        assert conn.data_to_send() == b""
        return
    match = re.fullmatch(r"(?:`(\w+)`)? ?(?:→ `(\w+)`)?(, \w+ queued)?", cell)
    assert match, f"unreadable cell {cell!r}"
    name, state, queued = match.groups()
    assert [type(e).__name__ for e in got[:1]] == ([name] if name else []), (cell, got)
    assert conn.state is (ConnectionState[state] if state else before), cell
    assert bool(conn.data_to_send()) is bool(queued), cell


def test_receive_tables_cover_every_state() -> None:
    labels = [row[0] for row in RECEIVE_TABLE + HANDSHAKE_TABLE]
    assert {state_of(label) for label in labels} == set(ConnectionState)


@pytest.mark.parametrize("row", RECEIVE_TABLE, ids=lambda row: row[0].replace("`", ""))
def test_receive_table_cell_by_cell(row: list[str]) -> None:
    label, cells = row[0], row[1:]
    for role, make in reach(label):
        for cell, data in zip(cells, frames_from_peer(role), strict=True):
            conn = make()
            check_outcome(conn, data, cell)


REQUEST = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


#: The bytes each "what arrives" cell names, for the connection at hand.
HANDSHAKE_INPUTS: dict[str, Callable[[Connection], bytes | None]] = {
    "a valid request head": lambda conn: REQUEST,
    "an invalid request head": lambda conn: REQUEST.replace(b"Version: 13", b"Version: 12"),
    "end of stream": lambda conn: None,
    "a 101 response that fits the request": lambda conn: NEXT_FROM_PEER[id(conn)],
    "any other final response": lambda conn: b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n",
    "an invalid 101 response": lambda conn: b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "anything": lambda conn: b"GET / HTTP/1.1\r\n\r\n",
    "a head over `max_handshake_size`": lambda conn: REQUEST[:-2] + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n",
    "frames": lambda conn: frame(0x1, b"early", mask=True),
    "the rejection's body": lambda conn: NEXT_FROM_PEER[id(conn)],
    # The rejection's body is chunked (it has no Content-Length).
    "the end of the rejection's body": lambda conn: b"0\r\n\r\n",
    "a malformed body": lambda conn: b"zz\r\n",
}


@pytest.mark.parametrize("row", HANDSHAKE_TABLE, ids=lambda row: f"{row[0]} {row[1]}".replace("`", ""))
def test_handshake_receive_table_cell_by_cell(row: list[str]) -> None:
    label, what, cell = row
    assert what in HANDSHAKE_INPUTS, f"docs/topics/states.md names an input this test cannot make: {what}"
    for _, make in reach(label):
        conn = make()
        check_outcome(conn, HANDSHAKE_INPUTS[what](conn), cell)
