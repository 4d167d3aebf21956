"""The state machine's tables (src/wsproto_lite/_states.py) keep the rules
their module states, and docs/topics/states.md shows them as they are."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import cast

from wsproto_lite import ConnectionState, Role
from wsproto_lite._states import (
    CLOSE_RECEIVED,
    CLOSE_SENT,
    END_OF_STREAM,
    FAILED,
    PING_ANSWERED,
    RECEIVING,
    SEND,
    SENDING,
    Phase,
)

from .helpers import ROOT

OPEN, CLOSED = ConnectionState.OPEN, ConnectionState.CLOSED


def load_expected_page() -> Callable[[], str]:
    """docs/states_tables.py's expected_page, loaded from its file."""
    spec = importlib.util.spec_from_file_location("states_tables", ROOT / "docs" / "states_tables.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Callable[[], str], module.expected_page)


def test_docs_states_md_tables_are_generated_from_the_state_tables() -> None:
    text = (ROOT / "docs" / "topics" / "states.md").read_text(encoding="utf-8")
    assert load_expected_page()() == text, (
        "the tables of docs/topics/states.md differ from those of src/wsproto_lite/_states.py: "
        "run `.venv/bin/python docs/states_tables.py` to write them again"
    )


def test_send_has_one_row_per_state_role_and_phase() -> None:
    phases = {
        Role.CLIENT: [Phase.BEFORE_REQUEST, Phase.REQUEST_SENT],
        Role.SERVER: [Phase.NO_REQUEST, Phase.REQUEST_INVALID, Phase.REQUEST_RECEIVED],
    }
    expected = {
        (state, role, phase)
        for state in ConnectionState
        for role in Role
        for phase in (phases[role] if state is ConnectionState.CONNECTING else [None])
    }
    assert set(SEND) == expected


def test_closed_is_final() -> None:
    for (state, _, _), sendable in SEND.items():
        assert state is not CLOSED or not sendable.next
    assert CLOSED not in CLOSE_SENT
    assert CLOSED not in FAILED
    assert all(state is not CLOSED for state, _ in CLOSE_RECEIVED)
    assert all(end.next is CLOSED for end in END_OF_STREAM.values())


def test_roles_differ_only_during_the_handshake() -> None:
    for state in set(ConnectionState) - {ConnectionState.CONNECTING, ConnectionState.REJECTING}:
        assert SEND[state, Role.CLIENT, None] == SEND[state, Role.SERVER, None]
        assert END_OF_STREAM[state, Role.CLIENT] == END_OF_STREAM[state, Role.SERVER]


def test_a_close_frame_is_queued_only_where_none_was_sent() -> None:
    assert [state for (state, _), close in CLOSE_RECEIVED.items() if close.reply] == [OPEN]
    assert [state for state, failure in FAILED.items() if failure.close_frame] == [OPEN]
    assert PING_ANSWERED == (OPEN,)


def test_hot_path_tuples_are_derived_as_before() -> None:
    """Identity comparisons on these tuples are the send and receive paths'
    only state checks; OPEN comes first, as it is by far the most common."""
    assert SENDING == (OPEN, ConnectionState.REMOTE_CLOSING)
    assert RECEIVING == (OPEN, ConnectionState.LOCAL_CLOSING)
    assert type(SENDING) is tuple
    assert type(RECEIVING) is tuple
    assert {state for state, _ in CLOSE_RECEIVED} == set(FAILED) == set(RECEIVING)
