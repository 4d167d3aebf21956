"""The send side and memory under arbitrary input (hypothesis).

Sending: whatever event a careless caller builds, with whatever field
values, in whatever state, ``send()`` either returns bytes that a real peer
accepts, or raises ``LocalProtocolError`` having changed nothing: the state
is the same, queued replies are still queued, and the connection still does
what that state allows (README: "Clear errors for misuse").

Memory: whatever a peer sends and however it is cut, what a connection
holds stays within a small constant factor of its limit plus one read
(docs/howto/limits.md).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsproto_lite import Connection, ConnectionState, LocalProtocolError, Role
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request
from wsproto_lite.extensions import PerMessageDeflate

from .helpers import events, frame, held, pair

NASTY = ["", " ", "a,b", "a\r\nb", "\x00", "caf\u00e9", "\u20ac", "\ud800", "a\udc80", "x" * 200, "chat"]
texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=20))
bytes_likes = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(bytearray),
    st.binary(max_size=300).map(lambda b: memoryview(b)),
    st.tuples(st.sampled_from("bhid"), st.lists(st.integers(0, 100), max_size=40)).map(
        lambda t: memoryview(array(t[0], t[1]))
    ),
)
header_parts = st.one_of(
    texts, st.binary(max_size=20), st.sampled_from(["Host", "Content-Length", "Upgrade"])
)
headers = st.lists(
    st.one_of(st.tuples(header_parts, header_parts), st.tuples(header_parts)),  # a wrong shape too
    max_size=3,
)
extensions = st.lists(st.sampled_from([PerMessageDeflate(), "permessage-deflate"]), max_size=2)

anything: st.SearchStrategy[Callable[[], Event]] = st.one_of(
    st.builds(
        lambda *a, **k: lambda: Request(*a, **k),
        texts,
        texts,
        subprotocols=st.lists(texts, max_size=3),
        extensions=extensions,
        extra_headers=headers,
        origin=st.none() | texts,
    ),
    st.builds(
        lambda **k: lambda: Accept(**k),
        subprotocol=st.none() | texts,
        extensions=extensions,
        extra_headers=headers,
    ),
    st.builds(
        lambda *a, **k: lambda: Reject(*a, **k),
        st.integers(-1, 1100),
        headers=headers,
        has_body=st.booleans(),
    ),
    st.builds(lambda *a, **k: lambda: RejectData(*a, **k), bytes_likes, body_finished=st.booleans()),
    st.builds(lambda *a, **k: lambda: Message(*a, **k), texts | bytes_likes, message_finished=st.booleans()),
    st.builds(lambda a: lambda: Ping(a), bytes_likes),
    st.builds(lambda a: lambda: Pong(a), bytes_likes),
    st.builds(lambda *a: lambda: Close(*a), st.integers(-1, 70000), texts),
)

STAGES = [
    "client-fresh",
    "client-requested",
    "server-fresh",
    "server-request",
    "open-client",
    "open-server",
    "open-deflate",
    "local-closing",
    "remote-closing",
    "rejecting",
    "closed",
]
REQUEST_HEAD = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)


def stage(name: str) -> tuple[Connection, Connection | None]:
    """A connection in the named state, and its peer where it has one. Open
    connections have a pong queued (a ping came in and was not drained)."""
    if name == "client-fresh":
        return Connection(Role.CLIENT), None
    if name == "client-requested":
        conn = Connection(Role.CLIENT)
        conn.send(Request(host="h", target="/"))
        return conn, None
    if name in ("server-fresh", "server-request", "rejecting"):
        conn = Connection(Role.SERVER, extensions=[PerMessageDeflate()])
        if name != "server-fresh":
            conn.receive_data(REQUEST_HEAD)
            events(conn)
        if name == "rejecting":
            conn.send(Reject(403, has_body=True))
        return conn, None
    deflate: dict[str, Any] = {}
    if name == "open-deflate":
        offer = [PerMessageDeflate()]
        deflate = {"client_opts": {"request": Request(host="h", target="/", extensions=offer)}}
        deflate["server_opts"] = {"extensions": offer}
    if name == "remote-closing":
        deflate = {"server_opts": {"auto_reply": False}}
    client, server = pair(**deflate)
    conn, peer = (client, server) if name == "open-client" else (server, client)
    conn.receive_data(peer.send(Ping(b"queued")))
    events(conn)
    if name == "local-closing":
        peer.receive_data(conn.send(Close()))
    elif name == "remote-closing":
        conn.receive_data(peer.send(Close()))
        events(conn)
    elif name == "closed":
        conn.receive_data(b"")
        events(conn)
    return conn, peer


def usable(conn: Connection, peer: Connection | None) -> None:
    """The connection still does what its state allows."""
    state = conn.state
    if state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
        # A Ping fits between the pieces of a message the caller left unfinished.
        out = conn.send(Ping(b"still usable"))
        if peer is not None:
            peer.receive_data(out)
            assert Ping(b"still usable") in events(peer)
    elif state is ConnectionState.CONNECTING and conn.role is Role.CLIENT:
        if conn._request_sent:
            return
        conn.send(Request(host="h", target="/"))
    elif state is ConnectionState.CONNECTING:
        conn.send(Reject(400))
    elif state is ConnectionState.REJECTING and conn.role is Role.SERVER:
        # An empty piece fits any rejection (a 204 or a Content-Length may
        # leave no room for more body).
        conn.send(RejectData(b"", body_finished=False))


def peer_accepts(conn: Connection, peer: Connection | None, event: Event, out: bytes) -> None:
    """What send() returned is valid to the other side."""
    if peer is not None and out:
        peer.receive_data(out)
        for got in events(peer):
            assert not (isinstance(got, Close) and not got.by_peer), (event, got)
    elif isinstance(event, Request):
        server = Connection(Role.SERVER)
        server.receive_data(out)
        assert [type(e) for e in events(server)] == [Request]


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(STAGES), makers=st.lists(anything, min_size=1, max_size=4))
def test_send_raises_only_local_protocol_error_and_changes_nothing(
    name: str, makers: list[Callable[[], Event]]
) -> None:
    conn, peer = stage(name)
    for make in makers:
        try:
            event = make()
        except LocalProtocolError:
            continue  # the event itself was refused (a payload that is not bytes-like)
        before = conn.state
        queued = list(conn._out)
        try:
            out = conn.send(event)
        except LocalProtocolError:
            refused = True
        else:
            refused = False
            peer_accepts(conn, peer, event, out)
        if refused:
            assert conn.state is before, event
            assert conn._out == queued, "a refused send consumed the queued replies"
    usable(conn, peer)


# -- Memory ----------------------------------------------------------------------

LIMIT = 4096
frame_shapes = st.tuples(
    st.sampled_from([0x0, 0x0, 0x0, 0x1, 0x2, 0x9]),  # mostly continuations
    st.one_of(st.integers(0, 2), st.integers(0, 300)),  # often tiny
    st.booleans() | st.just(False),  # more often unfinished
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    opener=st.tuples(st.sampled_from([0x1, 0x2]), st.integers(0, 300), st.just(False)),
    pattern=st.lists(frame_shapes, min_size=1, max_size=8),
    repeat=st.one_of(st.integers(1, 50), st.integers(1000, 3000)),
    read=st.sampled_from([1, 7, 64, 1000, 65536]),
    deflate=st.booleans(),
    streaming=st.booleans(),
)
def test_memory_stays_within_the_limit_plus_one_read(
    opener: tuple[int, int, bool],
    pattern: list[tuple[int, int, bool]],
    repeat: int,
    read: int,
    deflate: bool,
    streaming: bool,
) -> None:
    """docs/howto/limits.md: a peer cannot make the connection hold more than a
    small multiple of the limit plus one read, whatever its frames' shape
    (here: a message opened, then a pattern of frames repeated)."""
    opts: dict[str, Any] = {"max_message_size": LIMIT, "stream_messages": streaming}
    offer = [PerMessageDeflate()] if deflate else []
    client, server = pair(
        client_opts={"request": Request(host="h", target="/", extensions=offer), **opts},
        server_opts={"extensions": offer, **opts},
    )
    wire = bytearray()
    for opcode, length, fin in [opener, *pattern * repeat]:
        if len(wire) > 400_000:
            break
        if opcode == 0x9:
            wire += frame(opcode, b"p")
        elif deflate and opcode in (0x1, 0x2):
            # A compressed message's first frame, as a real peer makes it.
            wire += client.send(Message(b"a" * length, message_finished=False))
            client._send_opcode = 0  # the next data frame may start anew
        else:
            wire += frame(opcode, b"a" * length, fin=fin)
    for at in range(0, len(wire), read):
        if server.state is ConnectionState.CLOSED:
            break
        server.receive_data(wire[at : at + read])
        events(server)
        server.data_to_send()
        assert held(server) <= 2 * LIMIT + read + 2048
