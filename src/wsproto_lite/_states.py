"""The roles and states of a connection, and its state machine written down
as data (RFC 6455, sections 4, 5.5 and 7).

Every change of state is an entry of one of the tables below:
:class:`~wsproto_lite.connection.Connection` and its receiving half look the
next state up instead of deciding it in code, and ``docs/states_tables.py``
writes the tables of ``docs/topics/states.md`` from them, so that the page and the
code cannot disagree (``tests/test_states.py`` checks the page against the
behaviour).

Rules the tables keep (``tests/test_states_doc.py`` checks them):

* The handshake's phase matters only in ``CONNECTING``: every other key of
  :data:`SEND` has ``None`` for it.  The roles differ only in
  ``CONNECTING`` and ``REJECTING``.
* ``CLOSED`` is final: nothing leads out of it.
* At most one close frame is sent: a close reply or the close frame of a
  failure is queued only in ``OPEN``, where none was sent yet; sending
  ``Close`` is allowed only where none was.
* Messages are sent in :data:`SENDING` and received in :data:`RECEIVING`,
  both derived from the tables; a ping is answered, when ``auto_reply`` is
  on, only in :data:`PING_ANSWERED`.
* An event class whose next state depends on one of its flags (see
  :data:`FLAG`) appears in a table as ``(class, value of the flag)`` pairs;
  any other class appears alone.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, TypeAlias

from .errors import RemoteProtocolError
from .events import Accept, Close, Event, Message, Ping, Pong, Reject, RejectData, Request

__all__ = [
    "CLOSE_RECEIVED",
    "CLOSE_SENT",
    "ENDING",
    "END_OF_STREAM",
    "FAILED",
    "FLAG",
    "HANDSHAKE_RECEIVED",
    "OPENED",
    "PING_ANSWERED",
    "RECEIVED_DURING_HANDSHAKE",
    "RECEIVING",
    "SEND",
    "SENDING",
    "TIMED_OUT",
    "Arrival",
    "CloseReceived",
    "ConnectionState",
    "EndOfStream",
    "Failure",
    "Kind",
    "Phase",
    "Role",
    "Sendable",
]


class Role(enum.Enum):
    """Which end of the connection this is."""

    #: The end that sends the ``Request`` and masks its frames.
    CLIENT = "client"
    #: The end that answers with ``Accept`` or ``Reject``, and closes TCP first.
    SERVER = "server"

    # Members are singletons compared by identity, so identity is a valid
    # hash, and object's is computed in C: the tables below are looked up
    # by these enums, and Enum's own __hash__ is a Python function.
    __hash__ = object.__hash__


class ConnectionState(enum.Enum):
    """Where the connection is in its life (RFC 6455, sections 4 and 7)."""

    #: The opening handshake is under way.
    CONNECTING = 0
    #: Messages flow both ways.
    OPEN = 1
    #: The peer sent a close frame, not answered yet (only with
    #: ``auto_reply=False``): send ``Close`` to answer.
    REMOTE_CLOSING = 2
    #: We sent a close frame; the peer's messages still arrive until its own.
    LOCAL_CLOSING = 3
    #: Nothing more is sent or received.
    CLOSED = 4
    #: The handshake was refused and the rejection's body is on its way.
    REJECTING = 5

    __hash__ = object.__hash__  # see Role


class Phase(enum.Enum):
    """Where the opening handshake is; it matters only in ``CONNECTING``."""

    BEFORE_REQUEST = "client, before its request"
    REQUEST_SENT = "client, request sent"
    NO_REQUEST = "server, no request yet"
    REQUEST_INVALID = "server, request invalid (receive_data() raised)"
    REQUEST_RECEIVED = "server, request received"

    __hash__ = object.__hash__  # see Role


CONNECTING = ConnectionState.CONNECTING
OPEN = ConnectionState.OPEN
REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
CLOSED = ConnectionState.CLOSED
REJECTING = ConnectionState.REJECTING
CLIENT = Role.CLIENT
SERVER = Role.SERVER

#: An event class as a table names it: alone, or with the value of its
#: flag when the flag picks the next state.
Kind: TypeAlias = type[Event] | tuple[type[Event], bool]

#: The flag that picks the next state of the classes that have one.
FLAG: dict[type[Event], str] = {Reject: "has_body", RejectData: "body_finished"}


# -- Sending ------------------------------------------------------------------

#: Sending ``Close`` (RFC 6455, 5.5.1): the state it was sent in -> the next.
CLOSE_SENT: dict[ConnectionState, ConnectionState] = {
    OPEN: LOCAL_CLOSING,
    REMOTE_CLOSING: CLOSED,  # it answers the peer's close frame
}


class Sendable(NamedTuple):
    """What ``send()`` accepts in one (state, role, phase) of :data:`SEND`."""

    #: Each kind that may be sent -> the state it moves to.
    next: dict[Kind, ConnectionState]
    #: The classes of ``next``'s kinds, in its order: a refusal lists them.
    classes: tuple[type[Event], ...]
    #: Why nothing else may be sent, for a refusal's message.
    why: str


def _sendable(why: str, next: dict[Kind, ConnectionState] | None = None) -> Sendable:
    next = next or {}
    classes = tuple(dict.fromkeys(kind if isinstance(kind, type) else kind[0] for kind in next))
    return Sendable(next, classes, why)


def _messages(state: ConnectionState) -> dict[Kind, ConnectionState]:
    """Messages and control frames: they keep the state, a Close moves it."""
    return {Message: state, Ping: state, Pong: state, Close: CLOSE_SENT[state]}


_REJECT: dict[Kind, ConnectionState] = {(Reject, False): CLOSED, (Reject, True): REJECTING}

#: What may be sent: (state, role, phase) -> :class:`Sendable`.  The phase
#: is ``None`` outside ``CONNECTING``.
SEND: dict[tuple[ConnectionState, Role, Phase | None], Sendable] = {
    (CONNECTING, CLIENT, Phase.BEFORE_REQUEST): _sendable(
        "a client starts the handshake with Request", {Request: CONNECTING}
    ),
    (CONNECTING, CLIENT, Phase.REQUEST_SENT): _sendable(
        "the handshake is not done; wait for the server's Accept or Reject from events()"
    ),
    (CONNECTING, SERVER, Phase.NO_REQUEST): _sendable(
        "the handshake is not done; wait for the Request from events()", _REJECT
    ),
    (CONNECTING, SERVER, Phase.REQUEST_INVALID): _sendable(
        "the Request was invalid; answer with the Reject its error suggests", _REJECT
    ),
    (CONNECTING, SERVER, Phase.REQUEST_RECEIVED): _sendable(
        "the handshake is not done; answer the Request first", {Accept: OPEN, **_REJECT}
    ),
    **{(OPEN, role, None): _sendable("the handshake is over", _messages(OPEN)) for role in Role},
    **{
        (LOCAL_CLOSING, role, None): _sendable("a Close was already sent; wait for the peer's Close")
        for role in Role
    },
    **{
        (REMOTE_CLOSING, role, None): _sendable(
            "the peer closed; finish what you were sending and answer with Close",
            _messages(REMOTE_CLOSING),
        )
        for role in Role
    },
    (REJECTING, CLIENT, None): _sendable("the server rejected the handshake; read its RejectData events"),
    (REJECTING, SERVER, None): _sendable(
        "the handshake was rejected; only the rest of its body may follow",
        {(RejectData, True): CLOSED, (RejectData, False): REJECTING},
    ),
    **{(CLOSED, role, None): _sendable("the connection is closed; open a new one") for role in Role},
}


#: Where ``Connection.opened()`` starts: the host did the handshake.
OPENED = OPEN


# -- Receiving ----------------------------------------------------------------

#: What the opening handshake yields or raises: (role, kind) -> the next
#: state.  A client's ``RemoteProtocolError`` ends the connection; a
#: server's leaves it in ``CONNECTING``, to send the Reject it suggests.
HANDSHAKE_RECEIVED: dict[tuple[Role, Kind | type[RemoteProtocolError]], ConnectionState] = {
    (SERVER, Request): CONNECTING,
    (SERVER, RemoteProtocolError): CONNECTING,
    (CLIENT, Accept): OPEN,
    (CLIENT, Reject): REJECTING,
    (CLIENT, (RejectData, False)): REJECTING,
    (CLIENT, (RejectData, True)): CLOSED,
    (CLIENT, RemoteProtocolError): CLOSED,
}


class CloseReceived(NamedTuple):
    """What the peer's close frame does (RFC 6455, 5.5.1)."""

    next: ConnectionState
    #: A close frame is queued in answer.
    reply: bool


#: The peer's close frame: (state, auto_reply) -> :class:`CloseReceived`.
#: Its keys' states are those in which frames are decoded.
CLOSE_RECEIVED: dict[tuple[ConnectionState, bool], CloseReceived] = {
    (OPEN, True): CloseReceived(CLOSED, reply=True),
    (OPEN, False): CloseReceived(REMOTE_CLOSING, reply=False),  # the caller answers
    (LOCAL_CLOSING, True): CloseReceived(CLOSED, reply=False),  # it answers ours
    (LOCAL_CLOSING, False): CloseReceived(CLOSED, reply=False),
}


class Failure(NamedTuple):
    """What failing the connection does (RFC 6455, 7.1.7)."""

    next: ConnectionState
    #: A close frame with the failure's code is queued.
    close_frame: bool


#: Failing the connection for what the peer sent: state -> :class:`Failure`.
FAILED: dict[ConnectionState, Failure] = {
    OPEN: Failure(CLOSED, close_frame=True),
    LOCAL_CLOSING: Failure(CLOSED, close_frame=False),  # ours is already sent
}


class EndOfStream(NamedTuple):
    """What the end of the stream does (``receive_data(b"")`` or ``None``)."""

    next: ConnectionState
    #: The reason of the ``Close(1006)`` that ``events()`` reports, or
    #: ``None`` for no event.  In :data:`RECEIVING` it comes after the
    #: events of the bytes received before the end.
    close: str | None
    #: The end goes to the handshake first, which may read it as the end of
    #: a rejection's body; the ``Close`` is reported only if it raises.
    handshake_first: bool = False


_DURING_HANDSHAKE = "the stream ended during the opening handshake"
_NO_CLOSING_HANDSHAKE = "the stream ended without a closing handshake"

#: The end of the stream: (state, role) -> :class:`EndOfStream`.
END_OF_STREAM: dict[tuple[ConnectionState, Role], EndOfStream] = {
    **{(CONNECTING, role): EndOfStream(CLOSED, _DURING_HANDSHAKE) for role in Role},
    **{(OPEN, role): EndOfStream(CLOSED, _NO_CLOSING_HANDSHAKE) for role in Role},
    **{(LOCAL_CLOSING, role): EndOfStream(CLOSED, _NO_CLOSING_HANDSHAKE) for role in Role},
    **{(REMOTE_CLOSING, role): EndOfStream(CLOSED, None) for role in Role},
    (REJECTING, CLIENT): EndOfStream(
        CLOSED, "the stream ended inside the rejection's body", handshake_first=True
    ),
    (REJECTING, SERVER): EndOfStream(CLOSED, _DURING_HANDSHAKE),
    **{(CLOSED, role): EndOfStream(CLOSED, None) for role in Role},
}

#: A handshake that took too long (see Connection.handle_timer): the state
#: it was in -> the next.  Nothing is sent; the transport is to be closed.
TIMED_OUT: dict[ConnectionState, ConnectionState] = {
    CONNECTING: CLOSED,
    REJECTING: CLOSED,  # the opening handshake's deadline runs until a refusal's body ends
    LOCAL_CLOSING: CLOSED,
    REMOTE_CLOSING: CLOSED,
}

#: The states in which the connection is closing or closed: there, a refused
#: send raises ConnectionClosedError (elsewhere, LocalProtocolError).
ENDING = (LOCAL_CLOSING, REMOTE_CLOSING, CLOSED)

#: The states in which a ping is answered with a pong, when ``auto_reply``
#: is on (in ``LOCAL_CLOSING`` our close frame is already on its way).
PING_ANSWERED = (OPEN,)


# -- Derived, for the hot paths ---------------------------------------------------
# Tuples, not sets: ``state in SENDING`` compares by identity first, where a
# set would call Enum.__hash__, a Python function, on every message.

#: The states in which messages may be sent (those where SEND allows Message).
SENDING = tuple(
    state for state in ConnectionState if any(Message in SEND[key].classes for key in SEND if key[0] is state)
)
#: The states in which frames are decoded (those where a close frame is read).
RECEIVING = tuple(state for state in ConnectionState if (state, True) in CLOSE_RECEIVED)


# -- Described, for docs/topics/states.md only ------------------------------------------


class Arrival(NamedTuple):
    """A row of the table of what happens to what arrives during the
    handshake.  ``phase`` is ``None`` for any phase of the state."""

    state: ConnectionState
    role: Role
    phase: Phase | None
    #: What arrives, in the page's words.
    what: str
    #: What happens: a key of :data:`HANDSHAKE_RECEIVED` (the role is the
    #: row's), ``None`` for :data:`END_OF_STREAM`, or words for what the
    #: tables do not decide (the handshake parser, the receive buffer).
    outcome: Kind | type[RemoteProtocolError] | str | None


#: Descriptive data: only docs/states_tables.py reads it.  The outcomes that
#: change the state come from HANDSHAKE_RECEIVED and END_OF_STREAM, the tables
#: the code uses.
RECEIVED_DURING_HANDSHAKE: tuple[Arrival, ...] = (
    Arrival(CONNECTING, SERVER, None, "a valid request head", Request),
    Arrival(CONNECTING, SERVER, None, "an invalid request head", RemoteProtocolError),
    Arrival(CONNECTING, SERVER, None, "a head over `max_handshake_size`", RemoteProtocolError),
    Arrival(CONNECTING, SERVER, None, "end of stream", None),
    Arrival(CONNECTING, SERVER, Phase.REQUEST_RECEIVED, "frames", "kept until `Accept`"),
    Arrival(CONNECTING, SERVER, Phase.REQUEST_INVALID, "anything", "dropped"),
    Arrival(CONNECTING, CLIENT, Phase.REQUEST_SENT, "a 101 response that fits the request", Accept),
    Arrival(CONNECTING, CLIENT, Phase.REQUEST_SENT, "any other final response", Reject),
    Arrival(CONNECTING, CLIENT, Phase.REQUEST_SENT, "an invalid 101 response", RemoteProtocolError),
    Arrival(CONNECTING, CLIENT, Phase.REQUEST_SENT, "end of stream", None),
    Arrival(CONNECTING, CLIENT, Phase.BEFORE_REQUEST, "anything", "raises `LocalProtocolError`"),
    Arrival(REJECTING, CLIENT, None, "the rejection's body", (RejectData, False)),
    Arrival(REJECTING, CLIENT, None, "the end of the rejection's body", (RejectData, True)),
    Arrival(REJECTING, CLIENT, None, "a malformed body", RemoteProtocolError),
    Arrival(REJECTING, SERVER, None, "anything", "dropped"),
)
