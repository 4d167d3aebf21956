"""The frame format of RFC 6455, section 5: opcodes, masking, encoding, and
the close frame's payload.

Decoding happens in :mod:`wsproto_lite._receiving`, where a frame's header
is checked against the connection's state and limits before its payload is
buffered.  What both directions share lives here.
"""

from __future__ import annotations

import os
from struct import Struct

from .errors import InvalidEventError, RemoteProtocolError

# Opcodes, RFC 6455 section 5.2.
CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

FIN = 0x80
RSV1 = 0x40
RSV_BITS = 0x70
MASK_BIT = 0x80

#: The largest payload of a control frame (section 5.5).
MAX_CONTROL_PAYLOAD = 125
#: The largest close reason: 125 bytes minus the two of the code (5.5.1).
MAX_CLOSE_REASON = 123

_HEADER16 = Struct("!BBH")
_HEADER64 = Struct("!BBQ")


#: Masking n <= 125 bytes: the key read as an integer, times REPEAT_KEY[n],
#: repeats it over the payload; TRUNCATE[n] cuts the result to n bytes.
REPEAT_KEY = [sum(1 << (32 * i) for i in range((n + 3) // 4)) for n in range(MAX_CONTROL_PAYLOAD + 1)]
TRUNCATE = [(1 << (8 * n)) - 1 for n in range(MAX_CONTROL_PAYLOAD + 1)]

#: SMALL_HEADERS[first_byte][second_byte]: every two-byte frame header, made
#: once, so that sending a small frame allocates nothing for its header.
SMALL_HEADERS = {
    first: [bytes((first, second)) for second in range(256)]
    for first in (FIN | 0x1, FIN | 0x2, FIN | 0x8, FIN | 0x9, FIN | 0xA, FIN | RSV1 | 0x1, FIN | RSV1 | 0x2)
}


#: Masking keys drawn ahead of need, taken one per frame.
_KEY_POOL: list[bytes] = []
# A forked child inherits the pool: cleared there, so that parent and child
# never send the same keys (10.3: keys must not be predictable).
os.register_at_fork(after_in_child=_KEY_POOL.clear)


def mask_key() -> bytes:
    """A fresh masking key (RFC 6455, 5.3 and 10.3): four bytes from the
    operating system's secure random source, drawn 4 KiB at a time because
    a system call per frame costs more than masking a small frame (with one,
    a client's 16-byte sends take 1.45 times as long; docs/topics/performance.md).

    ``list.pop`` is atomic, so threads never share a key; a thread that
    finds the pool empty refills it and tries again.  A child made by
    ``os.fork()`` starts with an empty pool.
    """
    while True:
        try:
            return _KEY_POOL.pop()
        except IndexError:
            block = os.urandom(4096)
            _KEY_POOL.extend([block[at : at + 4] for at in range(0, 4096, 4)])


#: int.from_bytes, looked up once: the hot paths call it for every frame,
#: and the lookup costs about as much as the call on a small payload.
read_int = int.from_bytes

#: XOR_TABLES[k] maps every byte b to b ^ k, for bytes.translate.
XOR_TABLES = [bytes(b ^ k for b in range(256)) for k in range(256)]
#: From this size on, masking works on four byte lanes...
LANES_FROM = 2048
#: ...and past this one, on pieces of this size, each masked by lanes in a
#: buffer of its own, and joined (measured: see docs/topics/performance.md).
PIECE = 65536


def apply_mask(data: bytes | bytearray | memoryview, key: bytes | bytearray) -> bytes | bytearray:
    """XOR ``data`` with the 4-byte masking ``key`` (section 5.3).

    Pure Python has no vector XOR, so the technique depends on the size.
    Small payloads are XORed as one integer, the key repeated by a
    multiplication.  Larger ones as four lanes (every fourth byte), each
    mapped through a 256-byte table by ``bytes.translate`` at C speed: the
    least time per byte of any technique measured.  Past 64 KiB
    the lanes are worked in 64 KiB pieces, so that no temporary buffer is
    large: the C library hands out large blocks as fresh pages, and faulting
    them in costs more than the masking itself.

    The result is a new object: ``bytes``, except between 2 KiB and 64 KiB,
    where it is the ``bytearray`` the lanes were masked in (converting it
    would copy it once more).  This is the one masking routine of the
    library; every path that masks or unmasks calls it.
    """
    n = len(data)
    if n <= MAX_CONTROL_PAYLOAD:
        key_int = read_int(key, "little") * REPEAT_KEY[n]
        return ((read_int(data, "little") ^ key_int) & TRUNCATE[n]).to_bytes(n, "little")
    if n < LANES_FROM:
        repeated = key * (n >> 2) if not n & 3 else (key * ((n >> 2) + 1))[:n]
        return (read_int(data, "little") ^ read_int(repeated, "little")).to_bytes(n, "little")
    if n <= PIECE:
        out = bytearray(data)
        mask_lanes(out, 0, key)
        return out
    return b"".join(mask_pieces([], data, key))


def mask_lanes(buffer: bytearray, start: int, key: bytes | bytearray) -> None:
    """Mask ``buffer[start:]`` in place, lane by lane (see apply_mask)."""
    for lane in range(4):
        part = slice(start + lane, None, 4)
        buffer[part] = buffer[part].translate(XOR_TABLES[key[lane]])


def mask_pieces(
    pieces: list[bytes | bytearray], data: bytes | bytearray | memoryview, key: bytes | bytearray
) -> list[bytes | bytearray]:
    """Append ``data`` masked to ``pieces``, 64 KiB at a time (see apply_mask);
    ``PIECE`` is a multiple of 4, so the key lines up in every piece."""
    append = pieces.append
    with memoryview(data) as view:
        for at in range(0, len(data), PIECE):
            piece = bytearray(view[at : at + PIECE])
            mask_lanes(piece, 0, key)
            append(piece)
    return pieces


def mask_frame(header: bytes, key: bytes, payload: bytes | bytearray | memoryview) -> bytes:
    """``header + key`` and ``payload`` masked with ``key``: a client's
    frame (section 5.3), in as few copies as each size allows."""
    n = len(payload)
    if n <= MAX_CONTROL_PAYLOAD:  # apply_mask's first way, inline: most client frames are small
        key_int = read_int(key, "little") * REPEAT_KEY[n]
        return header + key + ((read_int(payload, "little") ^ key_int) & TRUNCATE[n]).to_bytes(n, "little")
    if n < LANES_FROM:
        return header + key + apply_mask(payload, key)
    if n > PIECE:
        return b"".join(mask_pieces([header + key], payload, key))
    # Medium: one buffer for the whole frame, masked in place.
    frame = bytearray(header)
    frame += key
    frame += payload
    mask_lanes(frame, len(header) + 4, key)
    return bytes(frame)


def frame_header(first: int, n: int, mask_bit: int) -> bytes:
    """The header of a frame (section 5.2) whose first byte is ``first``
    (FIN, RSV bits, opcode), with ``n`` bytes of payload and ``mask_bit``
    (``MASK_BIT`` or 0); a masking key follows it when the bit is set."""
    if n < 126:
        headers = SMALL_HEADERS.get(first)
        return headers[n | mask_bit] if headers else bytes((first, n | mask_bit))
    if n < 0x10000:
        return _HEADER16.pack(first, 126 | mask_bit, n)
    return _HEADER64.pack(first, 127 | mask_bit, n)


def encode_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = False) -> bytes:
    """One frame (section 5.2).  A client masks with a fresh random key from
    the operating system's secure source (section 5.3)."""
    first = (FIN if fin else 0) | rsv | opcode
    if mask:
        return mask_frame(frame_header(first, len(payload), MASK_BIT), mask_key(), payload)
    return frame_header(first, len(payload), 0) + payload


def message_frame(data: str | bytes, key: bytes | None) -> bytes:
    """The one frame of a whole message sent without extensions (sections
    5.2, 5.6): text (``str``, sent as UTF-8) or binary, masked with ``key``
    unless it is ``None``.  Raises ``UnicodeEncodeError`` for text with no
    UTF-8 form (a lone surrogate)."""
    if isinstance(data, str):
        first = FIN | TEXT
        payload = data.encode()
    else:
        first = FIN | BINARY
        payload = data
    n = len(payload)
    if key is None:  # a server's frame; small ones take their header from the table
        return (SMALL_HEADERS[first][n] if n < 126 else frame_header(first, n, 0)) + payload
    header = SMALL_HEADERS[first][n | MASK_BIT] if n < 126 else frame_header(first, n, MASK_BIT)
    return mask_frame(header, key, payload)


# Close codes (section 7.4 and the IANA registry).  1005, 1006 and 1015 are
# for reporting only and never go on the wire; 1004 and 1016-2999 are
# reserved; 3000-4999 belong to libraries and applications.
_WIRE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))
NO_STATUS = 1005
ABNORMAL = 1006


def valid_wire_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (section 7.4)."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


def encode_close(code: int, reason: str) -> bytes:
    """The payload of a close frame we send, refusing what the RFC forbids.

    ``code`` 1005 ("no status") means a close frame with an empty payload.
    """
    if type(code) is not int or not isinstance(reason, str):
        raise InvalidEventError(f"a Close has an int code and a str reason, not {code!r} and {reason!r}")
    if code == NO_STATUS:
        if reason:
            raise InvalidEventError(
                "a close frame without a code (1005) cannot carry a reason; give a code such as 1000"
            )
        return b""
    if not valid_wire_code(code):
        raise InvalidEventError(
            f"close code {code} may not be sent (RFC 6455, section 7.4); use 1000 for a "
            "normal closure, 1001 for going away, 1008 for a policy violation, 1011 for "
            "an internal error, or an application code from 3000 to 4999"
        )
    data = utf8(reason, "close reason")
    if len(data) > MAX_CLOSE_REASON:
        raise InvalidEventError(
            f"close reason is {len(data)} bytes of UTF-8; at most {MAX_CLOSE_REASON} fit "
            "in a close frame (RFC 6455, section 5.5): shorten it"
        )
    return code.to_bytes(2, "big") + data


def utf8(text: str, what: str) -> bytes:
    """``text`` as UTF-8; a lone surrogate, which has no UTF-8 form, is refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidEventError(
            f"cannot send this {what}: {error.reason} at index {error.start}; text must be valid "
            "Unicode (no lone surrogates, e.g. from os.fsdecode or a broken JSON \\u escape)"
        ) from None


def decode_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame (section 5.5.1).

    An empty payload is reported as code 1005.  A bad code fails the
    connection with 1002, a reason that is not UTF-8 with 1007.
    """
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise RemoteProtocolError("close frame with a one-byte payload", code=1002)
    code = read_int(payload[:2], "big")
    if not valid_wire_code(code):
        raise RemoteProtocolError(f"close frame with invalid code {code}", code=1002)
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("close reason is not valid UTF-8", code=1007) from None
    return code, reason
