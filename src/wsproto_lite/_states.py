"""The roles and states of a connection (RFC 6455, sections 4 and 7).

``docs/states.md`` has the tables of what may be sent and what happens to
what is received in each state; ``tests/test_states.py`` checks them.
"""

from __future__ import annotations

import enum

__all__ = ["ConnectionState", "Role"]


class Role(enum.Enum):
    """Which end of the connection this is."""

    CLIENT = "client"
    SERVER = "server"


class ConnectionState(enum.Enum):
    """Where the connection is in its life (RFC 6455, sections 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    REMOTE_CLOSING = 2
    LOCAL_CLOSING = 3
    CLOSED = 4
    REJECTING = 5


#: The states in which messages may be sent, and received.
SENDING = (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
RECEIVING = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING)
