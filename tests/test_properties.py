"""Properties that must hold for any input (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wsproto_lite import ConnectionState, Role
from wsproto_lite.events import Close, Event, Message

from .helpers import events, frame, pair, server_open

#: Close codes a peer's bytes may end a connection with (sections 7.4.1, 7.1.5).
FAILURE_CODES = {1002, 1006, 1007, 1009}

opcodes = st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB])
payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(lambda s: s.encode()),
    st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\x03\xe8", b"\x03\xe8ok", b"\x00\x01", b"\xce"]),
)


@st.composite
def frames(draw: st.DrawFn, mask: bool = True) -> bytes:
    opcode = draw(opcodes)
    payload = draw(payloads)
    if opcode == 0x8 and len(payload) == 1:
        payload += b"\xe8"
    return frame(
        opcode,
        payload,
        fin=draw(st.booleans()) or opcode >= 0x8,
        rsv=draw(st.sampled_from([0, 0, 0, 0x40])),
        mask=mask,
    )


def feed(role: Role, data: bytes, cuts: list[int], **opts: object) -> tuple[list[Event], bytes]:
    client, server = pair(client_opts=dict(opts), server_opts=dict(opts))
    conn = server if role is Role.SERVER else client
    got: list[Event] = []
    out = b""
    points = sorted({c % (len(data) + 1) for c in cuts})
    for start, stop in zip([0, *points], [*points, len(data)], strict=True):
        if start == stop:
            continue  # b"" would say the stream ended
        conn.receive_data(data[start:stop])
        got += events(conn)
        out += conn.data_to_send()
    conn.receive_data(None)
    got += events(conn)
    return got, out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), max_size=8), st.lists(st.integers(min_value=0), max_size=10), st.booleans())
def test_any_split_of_the_input_gives_the_same_events(
    stream: list[bytes], cuts: list[int], streaming: bool
) -> None:
    data = b"".join(stream)
    whole, whole_out = feed(Role.SERVER, data, [], stream_messages=streaming)
    split, split_out = feed(Role.SERVER, data, cuts, stream_messages=streaming)
    if streaming:
        # Pieces may be cut differently; what they add up to may not.
        whole, split = _joined(whole), _joined(split)
    assert split == whole
    assert split_out == whole_out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.binary(max_size=130), st.booleans()), max_size=40),
    st.sampled_from(list(Role)),
    st.sampled_from([None, 64, 300]),
    st.lists(st.integers(min_value=0), max_size=4),
)
def test_whole_messages_are_the_streamed_pieces_joined(
    pieces: list[tuple[bytes, bool]], role: Role, limit: int | None, cuts: list[int]
) -> None:
    """Runs of small fragments take a fast path in whole-message mode only;
    whatever it decides must match the general path's pieces, joined (RFC
    6455, 5.4: fragments; 5.1: masking; 10.4: the message limit)."""
    masked = role is Role.SERVER  # what the server receives is masked
    data = b"".join(
        frame(0x2 if i == 0 else 0x0, payload, fin=fin or i == len(pieces) - 1, mask=masked)
        for i, (payload, fin) in enumerate(pieces)
    )
    whole, whole_out = feed(role, data, cuts, max_message_size=limit)
    streamed, streamed_out = feed(role, data, cuts, max_message_size=limit, stream_messages=True)
    assert whole == _joined(streamed)
    # A client masks its close frames with fresh keys: compare their length.
    assert (whole_out if masked else len(whole_out)) == (streamed_out if masked else len(streamed_out))


#: What may interrupt a run of equal fragments: a piece of another length,
#: the last piece, a ping (allowed between fragments, 5.4), RSV1 without an
#: extension, a wrongly masked piece, a new data frame (the last three fail
#: the connection: 5.2, 5.1, 5.4).
BREAKERS = ["longer", "fin", "ping", "rsv", "mask", "text"]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=126),
    st.integers(min_value=1, max_value=400),
    st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.sampled_from(BREAKERS)), max_size=3),
    st.sampled_from(list(Role)),
    st.sampled_from([None, 3000, 20000]),
    st.binary(min_size=126, max_size=126),
    st.lists(st.integers(min_value=0), max_size=4),
)
def test_runs_of_equal_fragments_read_as_their_pieces(
    length: int,
    count: int,
    breaks: list[tuple[int, str]],
    role: Role,
    limit: int | None,
    noise: bytes,
    cuts: list[int],
) -> None:
    """Runs of fragments of one length are read column by column; whatever
    that decides must match the general path's pieces, joined (5.4, 5.3)."""
    masked = role is Role.SERVER
    where = dict(breaks)
    frames = [frame(0x1, b"a" * length, fin=False, mask=masked)]
    for i in range(count):
        payload = bytes((b + i) % 128 for b in noise[:length])  # ASCII: text stays valid
        kind = where.get(i)
        if kind == "longer":
            payload += b"z"
        elif kind == "ping":
            frames.append(frame(0x9, b"p", mask=masked))
        frames.append(
            frame(
                0x1 if kind == "text" else 0x0,
                payload,
                fin=kind == "fin",
                rsv=0x40 if kind == "rsv" else 0,
                mask=masked != (kind == "mask"),
            )
        )
    frames.append(frame(0x0, b"end", mask=masked))
    data = b"".join(frames)
    whole, whole_out = feed(role, data, cuts, max_message_size=limit)
    streamed, streamed_out = feed(role, data, [], max_message_size=limit, stream_messages=True)
    assert whole == _joined(streamed)
    assert (whole_out if masked else len(whole_out)) == (streamed_out if masked else len(streamed_out))


def _joined(got: list[Event]) -> list[Event]:
    out: list[Event] = []
    pending: list[str | bytes] = []
    for event in got:
        if isinstance(event, Message):
            pending.append(event.data)
            if event.message_finished:
                empty: str | bytes = "" if isinstance(event.data, str) else b""
                out.append(Message(empty.join(pending)))  # type: ignore[arg-type]
                pending = []
        else:
            out.append(event)
    return out


@settings(max_examples=300)
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=6), st.sampled_from(list(Role)))
def test_hostile_bytes_never_raise_and_end_in_a_documented_close(
    data: bytes, cuts: list[int], role: Role
) -> None:
    got, _ = feed(role, data, cuts, max_message_size=300)
    closes = [e for e in got if isinstance(e, Close)]
    assert len(closes) == 1  # the end of the stream at the latest
    assert got[-1] is closes[0]
    assert closes[0].by_peer or closes[0].code in FAILURE_CODES


@settings(max_examples=200)
@given(st.lists(frames(mask=False), max_size=8), st.lists(st.integers(min_value=0), max_size=6))
def test_client_role_hostile_frames(stream: list[bytes], cuts: list[int]) -> None:
    got, _ = feed(Role.CLIENT, b"".join(stream), cuts)
    assert isinstance(got[-1], Close)
    assert got[-1].by_peer or got[-1].code in FAILURE_CODES


messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@settings(max_examples=200)
@given(st.lists(st.lists(messages, min_size=1, max_size=4), max_size=6), st.sampled_from(list(Role)))
def test_messages_arrive_intact_and_in_order(batches: list[list[str | bytes]], sender: Role) -> None:
    client, server = pair()
    source, sink = (client, server) if sender is Role.CLIENT else (server, client)
    expected: list[Event] = []
    for pieces in batches:
        kind = type(pieces[0])
        pieces = [p if isinstance(p, kind) else kind() for p in pieces]
        data = b"".join(
            source.send(Message(p, message_finished=i == len(pieces) - 1)) for i, p in enumerate(pieces)
        )
        sink.receive_data(data)
        empty: str | bytes = kind()
        expected.append(Message(empty.join(pieces)))  # type: ignore[arg-type]
    assert events(sink) == expected
    assert sink.state is ConnectionState.OPEN


def test_a_million_one_byte_fragments_stay_linear() -> None:
    server = server_open(max_message_size=None)
    one = frame(0x0, b"a", fin=False, key=b"\x00\x00\x00\x00")
    data = frame(0x1, b"a", fin=False) + one * 200_000 + frame(0x0, b"")
    for i in range(0, len(data), 65536):
        server.receive_data(data[i : i + 65536])
        got = events(server)
    assert got == [Message("a" * 200_001)]
