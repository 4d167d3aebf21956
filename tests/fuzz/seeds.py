"""The seed corpus: one input per kind of traffic the targets should start from.

``python -m tests.fuzz seeds`` rewrites ``tests/fuzz/corpus``.  The seeds are
made by real connections where they can be (compressed frames, a client's
request), and by :func:`tests.helpers.frame` where a rule is to be broken.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wsproto_lite import Role
from wsproto_lite.events import Close, Message, Ping, Pong, Request
from wsproto_lite.extensions import PerMessageDeflate

from ..helpers import frame, pair
from .targets import ACCEPT_PLACEHOLDER, handshake_setting, setting

CORPUS = Path(__file__).resolve().parent / "corpus"
PEERS = Path(__file__).resolve().parent / "peers"

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + ACCEPT_PLACEHOLDER + b"\r\n"
)
DEFLATE = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


def traffic(mask: bool) -> dict[str, bytes]:
    """Frames a peer sends, valid and not: masked from a client, not from a server."""

    def f(opcode: int, payload: bytes = b"", **kw: object) -> bytes:
        return frame(opcode, payload, mask=mask, **kw)  # type: ignore[arg-type]

    return {
        "text": f(0x1, b"hello"),
        "binary-16bit": f(0x2, bytes(range(256)) * 2),
        "fragments-and-ping": f(0x1, b"frag", fin=False) + f(0x9, b"p") + f(0x0, b"ment\xc3\xa9"),
        "pong-close": f(0xA, b"pong") + f(0x8, b"\x03\xe8bye"),
        "close-empty": f(0x8),
        "bad-utf8": f(0x1, b"\xed\xa0\x80"),
        "bad-close-code": f(0x8, b"\x03\xec"),
        "rsv-bits": f(0x1, b"x", rsv=0x40),
        "long-control": f(0x9, b"x" * 126),
        "wrong-mask": frame(0x1, b"hello", mask=not mask),
        "huge-length": f(0x2, length=2**63 - 1)[:14],
        "continuation-first": f(0x0, b"x"),
        "over-limit": f(0x2, b"\x00" * 5000),
        # Long enough to be read as columns (receiving._equal_frames).
        "equal-fragments": f(0x1, b"abcd", fin=False)
        + b"".join(f(0x0, b"efgh", fin=False) for _ in range(20))
        + f(0x0, b"ijkl"),
    }


def compressed(role: Role) -> bytes:
    """What a peer of the other role sends with permessage-deflate on."""
    offer = [PerMessageDeflate()]
    client, server = pair(
        client_opts={"request": Request(host="h", target="/", extensions=offer)},
        server_opts={"extensions": offer},
    )
    peer = client if role is Role.SERVER else server
    message = '{"id": 1, "name": "wsproto_lite", "tags": ["a", "b"]}' * 8
    return b"".join(
        (
            peer.send(Message(message)),
            peer.send(Message(message)),  # the second uses the first's context
            peer.send(Message(b"\x00" * 3000)),
            peer.send(Message("part", message_finished=False)),
            peer.send(Ping(b"p")),
            peer.send(Message(" two")),
            peer.send(Pong()),
            peer.send(Close(1000, "done")),
        )
    )


def seeds(role: Role) -> dict[str, bytes]:
    server = role is Role.SERVER
    frames = traffic(mask=server)
    head = REQUEST if server else RESPONSE
    found = {
        "handshake": bytes([setting(0)]) + head + b"\r\n" + frames["text"] + frames["pong-close"],
        "handshake-deflate": bytes([setting(0, deflate=True)]) + head + DEFLATE + b"\r\n",
        "handshake-split": bytes([setting(0, chunk_bits=3)]) + head + b"\r\n" + frames["fragments-and-ping"],
        "deflate": bytes([setting(1, deflate=True)]) + compressed(role),
        "deflate-streamed": bytes([setting(1, deflate=True, stream=True, chunk_bits=5)]) + compressed(role),
    }
    if server:
        found["handshake-bad-version"] = bytes([setting(0)]) + head.replace(b"13", b"12") + b"\r\n"
    else:
        found["handshake-rejected"] = (
            bytes([setting(0)]) + b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
        )
    for name, data in frames.items():
        found[f"open-{name}"] = bytes([setting(1)]) + data
    found["closing"] = bytes([setting(2)]) + frames["text"] + frames["pong-close"]
    found["manual-replies"] = bytes([setting(3)]) + frames["fragments-and-ping"] + frames["pong-close"]
    found["streamed-one-byte"] = bytes([setting(1, stream=True, chunk_bits=1)]) + frames["fragments-and-ping"]
    return found


def handshake_seeds(role: Role) -> dict[str, bytes]:
    """Real peers' heads (tests/fuzz/peers/, made by capture_peers.py) and
    our own, each whole, cut small, with deflate and subprotocols."""
    folder = PEERS / ("requests" if role is Role.SERVER else "responses")
    heads = {path.stem: path.read_bytes() for path in sorted(folder.glob("*.http"))}
    heads["ours"] = (REQUEST if role is Role.SERVER else RESPONSE) + b"\r\n"
    found = {}
    for name, head in heads.items():
        found[f"{name}"] = bytes([handshake_setting(deflate=True, protocols=True)]) + head
        found[f"{name}-cut"] = bytes([handshake_setting(chunk_bits=4)]) + head
        found[f"{name}-small-limit"] = bytes([handshake_setting(small_limit=True, chunk_bits=7)]) + head
    return found


def write_seeds() -> None:
    for name, made in TARGET_SEEDS.items():
        folder = CORPUS / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for seed, data in made().items():
            (folder / seed).write_bytes(data)


def twin_seeds() -> dict[str, bytes]:
    """Frames of both roles for the twins target: its first byte is the
    role (bit 0) and the limit (bits 1-3: 6 for 4096, 7 for 65535)."""
    found = {}
    for mask in (True, False):
        frames = traffic(mask)
        for name, data in frames.items():
            found[f"{name}-{'masked' if mask else 'plain'}"] = bytes((mask | 6 << 1,)) + data
        found[f"all-{'masked' if mask else 'plain'}"] = bytes((mask | 7 << 1,)) + b"".join(frames.values())
    return found


TARGET_SEEDS: dict[str, Callable[[], dict[str, bytes]]] = {
    "twins": twin_seeds,
    "server": lambda: seeds(Role.SERVER),
    "client": lambda: seeds(Role.CLIENT),
    "handshake-server": lambda: handshake_seeds(Role.SERVER),
    "handshake-client": lambda: handshake_seeds(Role.CLIENT),
}
