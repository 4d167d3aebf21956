"""wsproto_lite: the WebSocket protocol (RFC 6455) as a sans-IO state machine."""

from ._handshake import origin_allowed
from ._headers import accept_token, split_comma_header
from .connection import Connection, ConnectionState, Role
from .errors import (
    ConnectionClosedError,
    InvalidEventError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "Connection",
    "ConnectionClosedError",
    "ConnectionState",
    "InvalidEventError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Role",
    "accept_token",
    "origin_allowed",
    "split_comma_header",
]

__version__ = "0.1.0"

# Last: binds the hot path to the compiled twins when they were built (see _speed).
from . import _speed  # noqa: F401
