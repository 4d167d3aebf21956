"""Time, without a clock: keepalive pings, their pongs, and the deadlines of
the opening and the closing handshakes (RFC 6455, 5.5.2, 5.5.3 and 7.1.1).

The connection never reads a clock.  The caller tells it the time, in
seconds of any monotonic clock of its own (``loop.time()``,
``trio.current_time()``, ``time.monotonic()``), as ``now``: to
``handle_timer(now)``, and optionally to ``receive_data`` and ``send``.
:class:`Timers` keeps the latest time it was told and the deadlines, and
says which is next; the connection acts on them in ``handle_timer``.

A deadline starts at the first time the connection is told while in the
state the deadline belongs to: exact for a caller that passes ``now`` to
``send`` and ``receive_data``, late by at most one timer period for one
that passes it only to ``handle_timer``.  Until then :meth:`Timers.next`
answers with the latest time told, "now", so that a caller that sleeps
until ``get_timer()`` calls ``handle_timer`` at once and the deadline
starts.  Each deadline belongs to one state (the opening handshake's to
``CONNECTING`` and the ``REJECTING`` that may follow it), each state is
entered once, and none is entered again, so a deadline never needs
disarming.
"""

from __future__ import annotations

from ._states import CLOSED, CONNECTING, LOCAL_CLOSING, OPEN, REJECTING, REMOTE_CLOSING, ConnectionState

__all__ = ["Timers"]


def _seconds(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} is a number of seconds above 0, or None to switch it off; not {value!r}")
    return float(value)


#: The deadlines that a state's first time told starts, each with its
#: timeout (a pong's deadline starts with its ping instead).
_TIMEOUTS = {"open_deadline": "open_timeout", "next_ping": "ping_interval", "close_deadline": "close_timeout"}


class Timers:
    """The deadlines of one connection; the options are off unless set."""

    __slots__ = (
        "close_deadline",
        "close_timeout",
        "count",
        "latency",
        "next_ping",
        "now",
        "open_deadline",
        "open_timeout",
        "ping_interval",
        "ping_payload",
        "ping_sent",
        "ping_timeout",
        "pong_deadline",
        "seen",
    )

    def __init__(
        self,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float | None,
        open_timeout: float | None,
    ) -> None:
        self.ping_interval = _seconds("ping_interval", ping_interval)
        self.ping_timeout = _seconds("ping_timeout", ping_timeout)
        self.close_timeout = _seconds("close_timeout", close_timeout)
        self.open_timeout = _seconds("open_timeout", open_timeout)
        #: The latest time the caller told, or None before the first, and
        #: the state the connection was in then.
        self.now: float | None = None
        self.seen: ConnectionState | None = None
        self.open_deadline: float | None = None
        self.next_ping: float | None = None
        self.ping_payload: bytes | None = None  # the keepalive ping awaiting its pong
        self.ping_sent = 0.0
        self.pong_deadline: float | None = None
        self.close_deadline: float | None = None
        #: The round-trip time of the last keepalive ping, in seconds.
        self.latency: float | None = None
        self.count = 0  # keepalive pings sent, for their payloads

    def tell(self, now: float, state: ConnectionState, waiting_for_eof: bool) -> None:
        """The caller says the time, with the connection in ``state``:
        start that state's deadline if it has none yet.  ``waiting_for_eof``:
        a client that closed cleanly and waits for the server to close TCP
        (7.1.1)."""
        self.now = now
        self.seen = state
        name = self._slot(state, waiting_for_eof)
        if name in _TIMEOUTS and getattr(self, name) is None:
            timeout = getattr(self, _TIMEOUTS[name])
            setattr(self, name, None if timeout is None else now + timeout)

    def next(self, state: ConnectionState, waiting_for_eof: bool) -> float | None:
        """When the connection in ``state`` next needs attention."""
        name = self._slot(state, waiting_for_eof)
        if name is None:
            return None
        deadline: float | None = getattr(self, name)
        new = deadline is None and state is not self.seen and name in _TIMEOUTS
        if new and getattr(self, _TIMEOUTS[name]) is not None:
            return self.now  # the state is new: its deadline starts at the next time told
        return deadline

    def _slot(self, state: ConnectionState, waiting_for_eof: bool) -> str | None:
        """The attribute that holds ``state``'s deadline."""
        if state is OPEN:  # first: by far the most common, and told on every timed read
            return "pong_deadline" if self.ping_payload is not None else "next_ping"
        if state is CONNECTING or state is REJECTING:  # a refusal's body is part of the handshake
            return "open_deadline"
        if state is LOCAL_CLOSING or state is REMOTE_CLOSING or (state is CLOSED and waiting_for_eof):
            return "close_deadline"
        return None

    def ping(self) -> bytes:
        """Start a keepalive ping at the current time: its payload."""
        assert self.now is not None
        self.count += 1
        payload = b"keepalive %d" % self.count
        self.ping_payload = payload
        self.ping_sent = self.now
        self.next_ping = None
        if self.ping_timeout is not None:
            self.pong_deadline = self.now + self.ping_timeout
        return payload

    def pong(self, payload: bytes) -> None:
        """A pong arrived: if it answers the keepalive ping, measure the
        round trip and schedule the next ping from when that one was sent."""
        if payload != self.ping_payload or self.now is None:
            return
        self.latency = self.now - self.ping_sent
        self.ping_payload = None
        self.pong_deadline = None
        if self.ping_interval is not None:
            self.next_ping = self.ping_sent + self.ping_interval
