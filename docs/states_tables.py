"""Write the tables of docs/topics/states.md from the state machine's tables.

    .venv/bin/python docs/states_tables.py

rewrites what lies between each ``<!-- generated: NAME -->`` line of the
page and the ``<!-- /generated -->`` line after it, from the tables in
``src/wsproto_lite/_states.py``; the prose around them is written by hand.
``tests/test_states_doc.py`` fails when the page differs from what
:func:`expected_page` makes of it, and ``tests/test_states.py`` checks
every cell of the page against what the connection does.  It needs
``wsproto_lite`` importable, as in the project's ``.venv``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

from wsproto_lite._states import (
    CLOSE_RECEIVED,
    END_OF_STREAM,
    FAILED,
    FLAG,
    HANDSHAKE_RECEIVED,
    PING_ANSWERED,
    RECEIVED_DURING_HANDSHAKE,
    RECEIVING,
    SEND,
    TIMED_OUT,
    Arrival,
    ConnectionState,
    Phase,
    Role,
    Sendable,
)
from wsproto_lite.errors import RemoteProtocolError
from wsproto_lite.events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request

PAGE = Path(__file__).resolve().parent / "topics" / "states.md"

#: The order in which the page walks through a connection's life.
ORDER = (
    ConnectionState.CONNECTING,
    ConnectionState.OPEN,
    ConnectionState.LOCAL_CLOSING,
    ConnectionState.REMOTE_CLOSING,
    ConnectionState.REJECTING,
    ConnectionState.CLOSED,
)
#: The states of the handshake, which have a receive table of their own.
HANDSHAKE_STATES = (ConnectionState.CONNECTING, ConnectionState.REJECTING)

#: How a row label names each phase of the handshake.
PHASES = {
    Phase.BEFORE_REQUEST: "before its request",
    Phase.REQUEST_SENT: "request sent",
    Phase.NO_REQUEST: "no request yet",
    Phase.REQUEST_INVALID: "after an invalid request",
    Phase.REQUEST_RECEIVED: "after `Request`",
}

#: The send table's columns; classes that share a column must agree.
SEND_COLUMNS: tuple[tuple[type[Event], ...], ...] = (
    (Request,),
    (Accept,),
    (Reject,),
    (RejectData,),
    (Message,),
    (Ping, Pong),
    (Close,),
)
RECEIVE_COLUMNS = ("data frame", "ping", "pong", "close frame", "invalid frame", "end of stream")


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    lines += [f"| {' | '.join(cells)} |" for cells in rows]
    return "\n".join(lines) + "\n"


def label(state: ConnectionState, role: Role | None = None, phase: Phase | None = None) -> str:
    words = [f"`{state.name}`"]
    if role is not None:
        words.append(role.value)
    if phase is not None:
        words.append(PHASES[phase])
    return ", ".join(words)


def outcome(event: str | None, before: ConnectionState, after: ConnectionState, queued: str = "") -> str:
    """A receive cell: the event reported, the move, what is queued."""
    if event is None and after is before and not queued:
        return "dropped"
    words = [f"`{event}`"] if event else []
    if after is not before:
        words.append(f"→ `{after.name}`")
    return " ".join(words) + (f", {queued} queued" if queued else "")


# -- What may be sent ---------------------------------------------------------------


def send_cell(state: ConnectionState, sendable: Sendable, kind: type[Event]) -> str:
    """Whether ``kind`` may be sent, and where it leads when its flag (if it
    has one) keeps its default value."""
    if kind not in sendable.classes:
        return "no"
    if kind in FLAG:
        default = next(f.default for f in dataclasses.fields(kind) if f.name == FLAG[kind])
        after = sendable.next[kind, bool(default)]
    else:
        after = sendable.next[kind]
    return "yes" if after is state else f"yes → `{after.name}`"


def send_cells(state: ConnectionState, sendable: Sendable) -> list[str]:
    cells = []
    for column in SEND_COLUMNS:
        found = {send_cell(state, sendable, kind) for kind in column}
        if len(found) != 1:
            raise ValueError(f"{column} share a column but differ in {state.name}: {found}")
        cells.append(found.pop())
    return cells


def send_table() -> str:
    rows = []
    for state in ORDER:
        keys = [key for key in SEND if key[0] is state]
        by_role = [send_cells(state, SEND[key]) for key in keys]
        if all(phase is None for _, _, phase in keys) and all(cells == by_role[0] for cells in by_role):
            rows.append([label(state), *by_role[0]])
        else:
            rows += [[label(*key), *cells] for key, cells in zip(keys, by_role, strict=True)]
    header = ["state", *(", ".join(f"`{kind.__name__}`" for kind in column) for column in SEND_COLUMNS)]
    return markdown(header, rows)


# -- What happens to what is received -----------------------------------------------


def receive_cells(state: ConnectionState, role: Role, auto_reply: bool) -> list[str]:
    """The after-handshake receive table's cells for one state."""
    end = END_OF_STREAM[state, role]
    at_end = outcome("Close" if end.close else None, state, end.next)
    if state not in RECEIVING:
        return [outcome(None, state, state)] * (len(RECEIVE_COLUMNS) - 1) + [at_end]
    close = CLOSE_RECEIVED[state, auto_reply]
    failure = FAILED[state]
    pong = "pong" if auto_reply and state in PING_ANSWERED else ""
    return [
        outcome("Message", state, state),
        outcome("Ping", state, state, pong),
        outcome("Pong", state, state),
        outcome("Close", state, close.next, "close" if close.reply else ""),
        outcome("Close", state, failure.next, "close" if failure.close_frame else ""),
        at_end,
    ]


def receive_table() -> str:
    rows = []
    for state in ORDER:
        if state in HANDSHAKE_STATES:
            continue
        for auto_reply in (True, False):
            by_role = {role: receive_cells(state, role, auto_reply) for role in Role}
            if not auto_reply and by_role == {role: receive_cells(state, role, True) for role in Role}:
                continue  # auto_reply changes nothing here
            name = label(state) + ("" if auto_reply else " with `auto_reply=False`")
            if by_role[Role.CLIENT] == by_role[Role.SERVER]:
                rows.append([name, *by_role[Role.CLIENT]])
            else:
                rows += [[f"{name}, {role.value}", *cells] for role, cells in by_role.items()]
    return markdown(["state", *RECEIVE_COLUMNS], rows)


def arrival_cell(arrival: Arrival) -> str:
    state, role, what = arrival.state, arrival.role, arrival.outcome
    if isinstance(what, str):
        return what
    if what is None:
        end = END_OF_STREAM[state, role]
        return outcome("Close" if end.close else None, state, end.next)
    after = HANDSHAKE_RECEIVED[role, what]
    if what is RemoteProtocolError:
        return "raises `RemoteProtocolError`" + ("" if after is state else f" → `{after.name}`")
    kind = what if isinstance(what, type) else what[0]
    return outcome(kind.__name__, state, after)


def handshake_table() -> str:
    rows = [
        [label(arrival.state, arrival.role, arrival.phase), arrival.what, arrival_cell(arrival)]
        for arrival in RECEIVED_DURING_HANDSHAKE
    ]
    return markdown(["state", "what arrives", "what happens"], rows)


# -- The diagram --------------------------------------------------------------------


def kind_name(kind: object) -> str:
    """An entry's key as words: ``Reject`` or ``Reject(has_body=True)``."""
    if isinstance(kind, tuple):
        cls, flag = kind
        return f"{cls.__name__}({FLAG[cls]}={flag})"
    return kind.__name__ if isinstance(kind, type) else str(kind)


def transitions() -> dict[tuple[ConnectionState, ConnectionState], list[str]]:
    """Every move between two different states, with what causes it."""
    moves: dict[tuple[ConnectionState, ConnectionState], list[str]] = {}

    def add(before: ConnectionState, after: ConnectionState, cause: str) -> None:
        if after is not before and cause not in moves.setdefault((before, after), []):
            moves[before, after].append(cause)

    for (state, role, _), sendable in SEND.items():
        for kind, after in sendable.next.items():
            add(state, after, f"{role.value} sends {kind_name(kind)}")
    for arrival in RECEIVED_DURING_HANDSHAKE:
        what = arrival.outcome
        if what is None or isinstance(what, str):
            continue  # the end of the stream (below), or nothing that moves
        cause = "receives something invalid" if what is RemoteProtocolError else f"receives {kind_name(what)}"
        add(arrival.state, HANDSHAKE_RECEIVED[arrival.role, what], f"{arrival.role.value} {cause}")
    for (state, auto_reply), close in CLOSE_RECEIVED.items():
        add(state, close.next, "close frame received" + ("" if auto_reply else " (auto_reply=False)"))
    for state, failure in FAILED.items():
        add(state, failure.next, "peer breaks the protocol")
    # A keepalive ping without its pong fails the connection the same way.
    add(ConnectionState.OPEN, FAILED[ConnectionState.OPEN].next, "pong timeout")
    for (state, _), end in END_OF_STREAM.items():
        add(state, end.next, "end of stream")
    for state, after in TIMED_OUT.items():
        add(state, after, "timeout")
    return moves


def merged(causes: list[str]) -> list[str]:
    """Causes said once where both roles share them, or where
    ``auto_reply`` makes no difference."""
    out: list[str] = []
    for cause in causes:
        role, _, rest = cause.partition(" ")
        if role in ("client", "server") and {f"client {rest}", f"server {rest}"} <= set(causes):
            cause = rest
        plain = cause.removesuffix(" (auto_reply=False)")
        if plain != cause and plain in causes:
            continue
        if cause not in out:
            out.append(cause)
    return out


def diagram() -> str:
    """The states and every move between them, as Graphviz's dot."""
    lines = ["```{graphviz}", "digraph states {", '    rankdir="TB";', "    node [shape=box, style=rounded];"]
    lines += [f"    {state.name};" for state in ORDER]
    for (before, after), causes in transitions().items():
        causes_text = "\\n".join(merged(causes))
        lines.append(f'    {before.name} -> {after.name} [label="{causes_text}", fontsize=10];')
    lines += ["}", "```"]
    return "\n".join(lines) + "\n"


# -- The page -----------------------------------------------------------------------

GENERATED: dict[str, Callable[[], str]] = {
    "send": send_table,
    "receive": receive_table,
    "handshake": handshake_table,
    "diagram": diagram,
}
MARKED = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- /generated -->\n)", re.DOTALL)


def expected_page(text: str | None = None) -> str:
    """The page (``text``, or docs/topics/states.md as it is) with its generated
    parts written afresh from the tables."""
    if text is None:
        text = PAGE.read_text(encoding="utf-8")
    found = [match.group(2) for match in MARKED.finditer(text)]
    if sorted(found) != sorted(GENERATED):
        raise ValueError(f"docs/topics/states.md should mark each of {sorted(GENERATED)} once, not {found}")
    return MARKED.sub(lambda match: match.group(1) + GENERATED[match.group(2)]() + match.group(4), text)


def main() -> None:
    text = PAGE.read_text(encoding="utf-8")
    expected = expected_page(text)
    if expected == text:
        print(f"{PAGE.name}: the tables are up to date")
        return
    PAGE.write_text(expected, encoding="utf-8")
    print(f"{PAGE.name}: tables rewritten from src/wsproto_lite/_states.py")


if __name__ == "__main__":
    main()
