"""HTTP header helpers of the opening handshake (RFC 6455, section 4, and
RFC 9110): splitting comma-separated values, checking and encoding the
headers a caller gives, and the accept token of section 1.3.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import h11

from .errors import InvalidEventError
from .events import Header

if TYPE_CHECKING:
    from .extensions import Params

_sha1 = hashlib.sha1

#: The GUID that section 1.3 appends to the key.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Headers that belong to the handshake itself; the rest are "extra".
HANDSHAKE_HEADERS = frozenset(
    (
        b"host",
        b"upgrade",
        b"connection",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"sec-websocket-accept",
    )
)


def accept_token(key: bytes | str) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``
    (RFC 6455, 1.3 and 4.2.2): base64 of the SHA-1 of the key and the
    protocol's GUID.

    :param key: the ``Sec-WebSocket-Key`` header's value as received
        (``str`` is read as Latin-1).
    :raises UnicodeEncodeError: for a ``str`` key that is not Latin-1.
    """
    if isinstance(key, str):
        key = key.encode("latin-1")
    return binascii.b2a_base64(_sha1(key + _GUID).digest(), newline=False)


def split_comma_header(value: bytes | str) -> list[str]:
    """The elements of a comma-separated header value (RFC 9110, 5.6.1), as
    ``str``, stripped, empty ones dropped; a comma inside a quoted string
    does not split.

    :param value: the header's value; ``bytes`` are read as Latin-1, as HTTP
        headers are.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return split_commas(value)


def split_commas(text: str) -> list[str]:
    """Split a header list at commas that are not inside a quoted string."""
    if '"' not in text:
        return [item for item in (part.strip() for part in text.split(",")) if item]
    items: list[str] = []
    start = 0
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


Fields = dict[bytes, list[bytes]]


def index_headers(headers: h11._headers.Headers) -> tuple[tuple[tuple[bytes, bytes], ...], Fields]:
    """h11's headers with lower-case names, and every header's values by
    name, in one pass (faster than iterating h11's ``Headers``)."""
    pairs = []
    fields: Fields = {}
    for name, value in headers.raw_items():
        name = name.lower()
        pairs.append((name, value))
        if name in fields:
            fields[name].append(value)
        else:
            fields[name] = [value]
    return tuple(pairs), fields


def tokens(fields: Fields, name: bytes) -> tuple[str, ...]:
    """The elements of a comma-separated header, over all its lines."""
    values = fields.get(name)
    if values is None:
        return ()
    out: list[str] = []
    for value in values:
        out.extend(split_commas(value.decode("latin-1")))
    return tuple(out)


def has_token(fields: Fields, name: bytes, token: bytes) -> bool:
    """Whether a comma-separated header holds ``token`` (lower case), in any case."""
    values = fields.get(name)
    if values is None:
        return False
    if len(values) == 1 and values[0].lower() == token:
        return True  # the usual form: one value, the token alone
    text = token.decode()
    return any(item.lower() == text for item in tokens(fields, name))


def parse_extension(element: str) -> tuple[str, Params]:
    """``"name; a; b=1"`` -> ``("name", [("a", None), ("b", "1")])`` (9.1)."""
    name, *raw_params = (part.strip() for part in element.split(";"))
    params: Params = []
    for raw in raw_params:
        if not raw:
            continue  # "name;" or "a;;b"
        key, eq, value = raw.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params.append((key.strip().lower(), value if eq else None))
    return name.lower(), params


def header_value(name: str, params: str) -> str:
    return f"{name}; {params}" if params else name


def latin1(value: object, what: str) -> bytes:
    """HTTP text as it is on the wire: bytes as they are, ``str`` as
    Latin-1; anything else is refused (``what`` names it in the error)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidEventError(
                f"{what} {value!r} is not HTTP text: header text must be Latin-1; encode it (for "
                "example as percent-encoded UTF-8) and pass bytes or Latin-1 str"
            ) from None
    raise InvalidEventError(f"{what} {value!r} is not HTTP text: give bytes or str")


def encode_headers(headers: Iterable[Header]) -> list[tuple[bytes, bytes]]:
    """Headers as bytes, as h11 takes them (``str`` is Latin-1 on the wire)."""
    out = []
    for header in headers:
        # A pair: a tuple, or a list as ASGI messages carry them.
        if not (isinstance(header, tuple | list) and len(header) == 2):
            raise InvalidEventError(f"a header is a (name, value) pair, not {header!r}")
        out.append((latin1(header[0], "header name"), latin1(header[1], "header value")))
    return out


def extra_lines(headers: Iterable[Header]) -> list[bytes]:
    """The lines of a Request's or an Accept's extra headers, which may not
    stand in for the headers of the handshake itself: those are built from
    the event's fields (subprotocols, extensions...) and checked against
    each other, and a second copy would make the peer fail or misread it."""
    lines = []
    for name, value in encode_headers(headers):
        if name.lower() in HANDSHAKE_HEADERS:
            raise InvalidEventError(
                f"cannot send {name.decode('latin-1')!r} in extra_headers: the library writes the "
                "handshake's own headers; use the event's fields (host, subprotocols, extensions)"
            )
        lines.append(header_line(name, value))
    return lines


#: A token (RFC 9110, 5.6.2): what a subprotocol name must be (RFC 6455, 4.1 item 10).
TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")


def subprotocol_names(names: Sequence[object]) -> bytes:
    """The offered subprotocols as a header value: non-empty tokens, each
    once (RFC 6455, 4.1 item 10)."""
    for name in names:
        if not isinstance(name, str) or TOKEN.fullmatch(name) is None:
            raise InvalidEventError(
                f"invalid subprotocol {name!r}: each is a non-empty token (RFC 6455, 4.1), "
                "with no comma, space or quote"
            )
    if len(set(names)) != len(names):
        raise InvalidEventError(f"subprotocols offered twice in {list(names)}; offer each once (4.1)")
    return ", ".join(names).encode("ascii")  # type: ignore[arg-type]


#: What h11 accepts in a header name (a token) and value (visible
#: characters, with spaces and tabs only inside): no CR, LF or NUL, so no
#: header can be injected.
HEADER_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
HEADER_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")


def header_line(name: bytes, value: bytes) -> bytes:
    """``name: value\\r\\n``, refusing what would not be a valid header."""
    if not HEADER_NAME.fullmatch(name) or not HEADER_VALUE.fullmatch(value):
        raise InvalidEventError(
            f"cannot send invalid header {name!r}: {value!r}; names are tokens, values have no CR or LF"
        )
    return name + b": " + value + b"\r\n"
