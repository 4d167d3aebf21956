"""A stateful model of a client and a server talking (hypothesis).

Random sequences of sends (whole and fragmented messages, pings, closes from
either side), deliveries in random chunk sizes, bytes injected on the wire
and ends of stream; after every step the invariants of RFC 6455 hold:

* every message sent before a close or a failure arrives exactly once, in
  order, and nothing arrives that was not sent;
* the states follow the closing handshake (section 7): once both close
  frames went by, both sides are CLOSED;
* no event follows a ``Close``, and nothing is raised but the library's
  documented errors.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wsproto_lite import Connection, ConnectionState, LocalProtocolError
from wsproto_lite.events import Close, Event, Message, Ping, Pong

from .helpers import pair

SIDES = st.sampled_from(["client", "server"])
PAYLOADS = st.one_of(
    st.text(max_size=40), st.binary(max_size=40), st.sampled_from(["", b"", "é" * 70, b"x" * 300])
)
SENDING = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)


class Conversation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        client, server = pair(
            client_opts={"max_message_size": 10_000}, server_opts={"max_message_size": 10_000}
        )
        self.conn = {"client": client, "server": server}
        self.wire = {"client": bytearray(), "server": bytearray()}  # bytes on their way *to* that side
        self.sent: dict[str, list[str | bytes]] = {
            "client": [],
            "server": [],
        }  # whole messages sent by a side
        self.received: dict[str, list[str | bytes]] = {"client": [], "server": []}
        self.events: dict[str, list[Event]] = {"client": [], "server": []}
        self.corrupted = {"client": False, "server": False}  # garbage sent towards that side
        self.eof = {"client": False, "server": False}

    @staticmethod
    def other(side: str) -> str:
        return "server" if side == "client" else "client"

    def can_send(self, side: str) -> bool:
        return self.conn[side].state in SENDING

    # -- Rules ---------------------------------------------------------------

    @rule(side=SIDES, data=PAYLOADS, pieces=st.integers(min_value=1, max_value=4))
    def send_message(self, side: str, data: str | bytes, pieces: int) -> None:
        conn = self.conn[side]
        if not self.can_send(side):
            try:
                conn.send(Message(data))
            except LocalProtocolError:
                return
            raise AssertionError(f"sending in {conn.state} should have been refused")
        step = max(1, len(data) // pieces)
        parts = [data[i : i + step] for i in range(0, len(data), step)] or [data]
        out = b"".join(
            conn.send(Message(part, message_finished=i == len(parts) - 1)) for i, part in enumerate(parts)
        )
        self.wire[self.other(side)] += out
        self.sent[side].append(data)

    @rule(side=SIDES, payload=st.binary(max_size=125))
    def ping(self, side: str, payload: bytes) -> None:
        if self.can_send(side):
            self.wire[self.other(side)] += self.conn[side].send(Ping(payload))

    @rule(side=SIDES, code=st.sampled_from([1000, 1001, 1011, 3000, 4999]), reason=st.text(max_size=20))
    def close(self, side: str, code: int, reason: str) -> None:
        conn = self.conn[side]
        if conn.state is ConnectionState.OPEN:
            self.wire[self.other(side)] += conn.send(Close(code, reason))

    @rule(side=SIDES, size=st.integers(min_value=1, max_value=2000))
    def deliver(self, side: str, size: int) -> None:
        """Move up to ``size`` bytes from the wire into ``side``."""
        wire = self.wire[side]
        if not wire or self.eof[side]:
            return
        chunk = bytes(wire[:size])
        del wire[:size]
        self.feed(side, chunk)

    @rule(
        side=SIDES, garbage=st.sampled_from([b"\x83\x80xxxx", b"\x81\x81\x00\x00\x00\x00\xff", b"\xff" * 10])
    )
    def inject(self, side: str, garbage: bytes) -> None:
        """Bytes that break the protocol, after what is on the wire now."""
        self.wire[side] += garbage
        self.corrupted[side] = True

    @precondition(lambda self: not all(self.eof.values()))
    @rule(side=SIDES)
    def end_of_stream(self, side: str) -> None:
        """Deliver what is on the wire to ``side``, then the end of the stream."""
        if self.eof[side]:
            return
        if self.wire[side]:
            chunk = bytes(self.wire[side])
            self.wire[side].clear()
            self.feed(side, chunk)
        self.eof[side] = True
        self.conn[side].receive_data(None)
        self.read(side)

    # -- Plumbing ------------------------------------------------------------

    def feed(self, side: str, chunk: bytes) -> None:
        self.conn[side].receive_data(chunk)
        self.read(side)

    def read(self, side: str) -> None:
        conn = self.conn[side]
        for event in conn.events():
            assert not any(isinstance(e, Close) for e in self.events[side]), "an event after Close"
            self.events[side].append(event)
            if isinstance(event, Message):
                assert event.message_finished
                self.received[side].append(event.data)
        self.wire[self.other(side)] += conn.data_to_send()

    # -- Invariants ----------------------------------------------------------

    @invariant()
    def messages_arrive_once_in_order(self) -> None:
        for side in ("client", "server"):
            got = self.received[side]
            sent = self.sent[self.other(side)]
            assert got == sent[: len(got)], (got, sent)

    @invariant()
    def failures_have_a_reason(self) -> None:
        for side in ("client", "server"):
            for event in self.events[side]:
                if isinstance(event, Close) and not event.by_peer:
                    if event.code != 1006:
                        assert self.corrupted[side], f"{side} failed without garbage: {event}"
                        assert event.code in (1002, 1007)
                    assert event.reason

    @invariant()
    def closing_handshake_states(self) -> None:
        client, server = self.conn["client"], self.conn["server"]
        for side in ("client", "server"):
            closes = [e for e in self.events[side] if isinstance(e, Close)]
            if closes:
                assert self.conn[side].state is ConnectionState.CLOSED
        if not self.wire["client"] and not self.wire["server"]:
            # Everything was delivered: with automatic replies nobody waits.
            assert (
                ConnectionState.LOCAL_CLOSING not in (client.state, server.state)
                or any(self.eof.values())
                or any(self.corrupted.values())
            )

    @invariant()
    def pongs_answer_pings(self) -> None:
        for side in ("client", "server"):
            pongs = sum(isinstance(e, Pong) for e in self.events[side])
            pings = sum(isinstance(e, Ping) for e in self.events[self.other(side)])
            assert pongs <= pings


Conversation.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestConversation = Conversation.TestCase


def test_state_is_consistent_after_a_clean_close() -> None:
    client, server = pair()
    server.receive_data(client.send(Close()))
    list(server.events())
    client.receive_data(server.data_to_send())
    list(client.events())
    assert isinstance(client, Connection)
    assert client.state is server.state is ConnectionState.CLOSED
