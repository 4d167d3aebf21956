"""Fuzz targets: whatever a hostile peer sends, in every state, in both roles.

A target takes one input.  Its first byte is the setting:

* bits 0-1, the state the bytes arrive in: 0 the opening handshake (the rest
  of the input starts with the peer's HTTP head), 1 open, 2 closing (we sent
  ``Close`` first), 3 open with ``auto_reply=False`` (the harness then
  answers pings and closes itself, as an application would);
* bit 2, permessage-deflate offered and accepted;
* bit 3, ``stream_messages``;
* bits 4-7, how the bytes are cut: 0 all in one call, n in pieces of
  2**(n-1) bytes.

The rest is what the peer sends.  In a client's handshake, ``@ACCEPT@`` is
replaced by the ``Sec-WebSocket-Accept`` value of the key the client sent, so
the fuzzer can get past the handshake without guessing SHA-1.

What must hold (any other exception is a finding):

* ``receive_data`` raises only ``RemoteProtocolError``, and only during the
  handshake; a server answers it with the ``Reject`` it suggests;
* the events are the documented ones, none after a ``Close``, and a
  received message is never larger than the limit;
* a failed connection reports a close code the RFC allows;
* every byte we produce is valid to the peer: fed to a real ``Connection``
  of the other role, it never makes that peer fail the connection.

The ``twins`` target holds the compiled accelerator to its pure-Python
twins (wsproto_lite._speed): for any bytes, from every position, the same
result.  Its first byte: bit 0, frames from a client (masked) or a server;
bits 1-3, the limit.  The rest is the buffer.  (The other targets run in
whichever mode the suite runs in; ``python3 dev.py test`` runs both.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

from wsproto_lite import Connection, ConnectionState, RemoteProtocolError, Role, _speed
from wsproto_lite._frames import valid_wire_code
from wsproto_lite._headers import accept_token
from wsproto_lite._runs import small_frames
from wsproto_lite.events import Accept, Close, Message, Ping, Pong, Reject, RejectData, Request
from wsproto_lite.extensions import PerMessageDeflate

LIMIT = 4096  # small, so that the message limit is within the fuzzer's reach
ACCEPT_PLACEHOLDER = b"@ACCEPT@"
_KEY = re.compile(rb"Sec-WebSocket-Key: ([A-Za-z0-9+/=]+)")
_CLOSE_CODES = {1002, 1006, 1007, 1009, 1010}  # what we fail a connection with
_EVENTS = (Request, Accept, Reject, RejectData, Message, Ping, Pong, Close)


def fuzz_server(data: bytes) -> None:
    run(Role.SERVER, data)


def fuzz_client(data: bytes) -> None:
    run(Role.CLIENT, data)


def fuzz_handshake_server(data: bytes) -> None:
    handshake(Role.SERVER, data)


def fuzz_handshake_client(data: bytes) -> None:
    handshake(Role.CLIENT, data)


#: The limits the twins target tries (the fast path's and the run reader's).
_TWIN_LIMITS = (-1, 0, 1, 16, 125, 126, 4096, 0xFFFF)


def fuzz_twins(data: bytes) -> None:
    """The compiled functions equal the pure ones on any input."""
    speedups = _speed.speedups
    if speedups is None or not data:
        return
    masked = data[0] & 1
    head, expect_mask = (6, 0x80) if masked else (2, 0)
    limit = _TWIN_LIMITS[(data[0] >> 1) & 7]
    buf = bytearray(data[1:])
    end = len(buf)
    pure_whole = _speed.pure("whole_frame")
    for pos in range(min(end, 64) + 1):
        compiled = speedups.whole_frame(buf, pos, end, head, expect_mask, limit)
        assert compiled == pure_whole(buf, pos, end, head, expect_mask, limit), pos
        small = min(limit, 125)
        compiled_run = speedups.small_frames(buf, pos, end, head, expect_mask, small, 1 << 62)
        assert compiled_run == small_frames(buf, pos, end, head, expect_mask, small, 1 << 62), pos
    key = bytes(buf[:4]).ljust(4, b"\0")
    assert speedups.apply_mask(buf, key) == bytes(_speed.pure("apply_mask")(buf, key))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "twins": fuzz_twins,
    "server": fuzz_server,
    "client": fuzz_client,
    "handshake-server": fuzz_handshake_server,
    "handshake-client": fuzz_handshake_client,
}
_HANDSHAKE_EVENTS = (Accept, Reject, RejectData)


def setting(stage: int, *, deflate: bool = False, stream: bool = False, chunk_bits: int = 0) -> int:
    """The first byte of an input (see the module's docstring)."""
    return stage | deflate << 2 | stream << 3 | chunk_bits << 4


def connect(role: Role, settings: int) -> tuple[Connection, Connection | None]:
    """The connection under test, in the state ``settings`` names, and its
    peer (None while the handshake is still to be fuzzed)."""
    stage = settings & 3
    offer = [PerMessageDeflate()] if settings & 4 else []
    opts = {"max_message_size": LIMIT, "stream_messages": bool(settings & 8), "auto_reply": stage != 3}
    client = Connection(Role.CLIENT, **opts)  # type: ignore[arg-type]
    server = Connection(Role.SERVER, extensions=offer, **opts)  # type: ignore[arg-type]
    if stage == 0:
        return (server if role is Role.SERVER else client), None
    server.receive_data(client.send(Request(host="h", target="/", extensions=offer)))
    next(server.events())
    client.receive_data(server.send(Accept()))
    next(client.events())
    conn, peer = (server, client) if role is Role.SERVER else (client, server)
    if stage == 2:
        peer.receive_data(conn.send(Close()))
    return conn, peer


def run(role: Role, data: bytes) -> None:
    if not data:
        return
    settings, body = data[0], data[1:]
    conn, peer = connect(role, settings)
    if peer is None and role is Role.CLIENT:
        offer = [PerMessageDeflate()] if settings & 4 else []
        request = conn.send(Request(host="h", target="/", extensions=offer))
        match = _KEY.search(request)
        assert match is not None
        body = body.replace(ACCEPT_PLACEHOLDER, accept_token(match.group(1)))
    chunk = 1 << ((settings >> 4) - 1) if settings >> 4 else max(len(body), 1)
    sent: list[bytes] = []
    closed = [False]
    for start in range(0, len(body), chunk):
        if not feed(conn, body[start : start + chunk], sent, closed):
            return
    feed(conn, None, sent, closed)
    if peer is not None:
        check_peer_accepts(peer, b"".join(sent))


def feed(conn: Connection, data: bytes | None, sent: list[bytes], closed: list[bool]) -> bool:
    """Give ``conn`` the peer's bytes and act on its events as an
    application would; False once the handshake failed."""
    handshake = conn.state in (ConnectionState.CONNECTING, ConnectionState.REJECTING)
    failure: RemoteProtocolError | None = None
    try:
        conn.receive_data(data)
    except RemoteProtocolError as error:
        failure = error
    if failure is not None:
        assert handshake, f"raised after the handshake: {failure!r}"
        assert failure.reason
        if conn.role is Role.SERVER:
            assert failure.status_code is not None
            assert 400 <= failure.status_code < 600  # 501 for an unknown transfer coding
            conn.send(Reject(failure.status_code, headers=failure.headers))
        assert conn.state is ConnectionState.CLOSED
        return False
    for event in conn.events():
        assert isinstance(event, _EVENTS), event
        assert not closed[0], f"{event!r} after a Close"
        if isinstance(event, Request):
            sent.append(conn.send(Accept()))
        elif isinstance(event, Message):
            assert isinstance(event.data, str | bytes)
            assert len(event.data) <= LIMIT
        elif isinstance(event, Ping) and not conn.auto_reply and conn.state is ConnectionState.OPEN:
            sent.append(conn.send(Pong(event.payload)))
        elif isinstance(event, Close):
            closed[0] = True
            if event.by_peer:
                assert valid_wire_code(event.code) or event.code == 1005, event
                if conn.state is ConnectionState.REMOTE_CLOSING:
                    sent.append(conn.send(Close(1000)))
            else:
                assert event.code in _CLOSE_CODES, event
            assert conn.state in (ConnectionState.CLOSED, ConnectionState.REMOTE_CLOSING)
    sent.append(conn.data_to_send())
    return True


def check_peer_accepts(peer: Connection, wire: bytes) -> None:
    """Everything we sent is valid WebSocket to a real peer of the other role."""
    if not wire:
        return  # b"" would say the stream ended
    peer.receive_data(wire)
    for event in peer.events():
        if isinstance(event, Close):
            assert event.by_peer, f"our bytes made the peer fail: {event!r}"


# -- The opening handshake ----------------------------------------------------------
#
# The handshake targets take the peer's HTTP head (and whatever follows it)
# after a setting byte of their own:
#
# * bits 0-3, how the bytes are cut: 0 all in one call, n in pieces of
#   2**(n-1) bytes;
# * bit 4, permessage-deflate supported (server) or offered (client);
# * bit 5, the client offers subprotocols; the server picks the first offered;
# * bit 6, a small handshake limit (512 bytes), within the fuzzer's reach.
#
# What must hold: receive_data() raises only RemoteProtocolError, and a
# server can always answer with the Reject it suggests; send(Accept(...))
# for a reported Request never raises, and neither does the Reject a server
# may prefer; a client reports only Accept, or Reject followed by RejectData,
# or Close(1010); a head over the limit is never accepted.


def handshake_setting(
    *, chunk_bits: int = 0, deflate: bool = False, protocols: bool = False, small_limit: bool = False
) -> int:
    """The first byte of a handshake target's input."""
    return chunk_bits | deflate << 4 | protocols << 5 | small_limit << 6


def handshake(role: Role, data: bytes) -> None:
    if not data:
        return
    settings, body = data[0], data[1:]
    offer = [PerMessageDeflate()] if settings & 0x10 else []
    limit = 512 if settings & 0x40 else 16384
    conn = Connection(role, extensions=offer, max_handshake_size=limit)
    if role is Role.CLIENT:
        protocols = ["chat", "superchat"] if settings & 0x20 else []
        request = conn.send(Request(host="h", target="/", subprotocols=protocols))
        match = _KEY.search(request)
        assert match is not None
        body = body.replace(ACCEPT_PLACEHOLDER, accept_token(match.group(1)))
    chunk = 1 << ((settings & 0x0F) - 1) if settings & 0x0F else max(len(body), 1)
    seen: list[object] = []
    for start in range(0, len(body), chunk):
        if not handshake_step(conn, body[start : start + chunk], seen, settings):
            return
    handshake_step(conn, b"", seen, settings)


def handshake_step(conn: Connection, data: bytes, seen: list[object], settings: int) -> bool:
    """One read of the handshake; False once the connection is done with it."""
    failure: RemoteProtocolError | None = None
    try:
        conn.receive_data(data)
    except RemoteProtocolError as error:
        failure = error
    if failure is not None:
        assert failure.reason
        if conn.role is Role.SERVER:
            assert failure.status_code is not None
            assert 400 <= failure.status_code < 600, failure
            assert conn.send(Reject(failure.status_code, headers=failure.headers)).startswith(b"HTTP/1.1 ")
        assert conn.state is ConnectionState.CLOSED or conn.role is Role.SERVER
        return False
    for event in conn.events():
        seen.append(type(event))
        if isinstance(event, Request):
            assert conn.role is Role.SERVER
            assert len(event.headers) > 0
            choice = event.subprotocols[0] if settings & 0x20 and event.subprotocols else None
            response = conn.send(Accept(subprotocol=choice))
            assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
            assert response.endswith(b"\r\n\r\n")
            assert conn.state is ConnectionState.OPEN
        elif isinstance(event, Accept):
            assert seen == [Accept], seen
            assert conn.state is ConnectionState.OPEN
        elif isinstance(event, Reject | RejectData):
            assert seen[0] is Reject, seen
            assert seen.count(Reject) == 1, seen
        elif isinstance(event, Close):
            assert event.code in (1006, 1010) or event.by_peer or event.code in _CLOSE_CODES, event
        else:
            assert isinstance(event, Message | Ping | Pong), event
    conn.data_to_send()
    return conn.state is not ConnectionState.CLOSED
