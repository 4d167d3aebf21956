"""What each of wsproto_lite's fast paths saves, measured, in pure Python
(the compiled twins of wsproto_lite._speedups are switched off here: what
they add is in the main benchmark's two wsproto_lite columns).

    python3 dev.py bench --fastpaths      # or: .venv/bin/python benchmarks/fastpaths.py

Each fast path is run against the way the library takes without it: the
same workload, on the same input, with the fast path switched off by
replacing one name (a function, or the limit that lets frames onto it) for
the length of the run.  Every run's result is checked against the run with
every fast path on (the events received, or the bytes sent), so a fast path
that changes what the library does fails here.  The table reports the
median CPU time of each side over the repeats, which alternate on and off,
and the spread (lowest and highest ratio of the repeats).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import chunked, client_frames, fragments, json_message
from wsproto_lite import Connection, Role, _message, _receiving, _speed, connection
from wsproto_lite import events as ev
from wsproto_lite._runs import equal_frames, small_frames
from wsproto_lite.extensions import PerMessageDeflate


@contextlib.contextmanager
def replaced(owner: object, name: str, value: object) -> Iterator[None]:
    """``owner.name`` is ``value`` inside the block."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _general_send(self: Connection, event: ev.Event, now: float | None = None) -> bytes:
    """Connection.send without its whole-message fast path: a message goes
    the general way (_send_message, then _send_frame)."""
    if type(event) is ev.Message:
        return self._send_message(event)
    return ORIGINAL_SEND(self, event, now)


ORIGINAL_SEND = Connection.send
ORIGINAL_LIMITS = _message.Assembler.set_limits


def _no_whole_frames(self: _message.Assembler, max_message: int | None, max_frame: int | None) -> None:
    """No frame is short enough for the receiver's whole-frame fast path."""
    ORIGINAL_LIMITS(self, max_message, max_frame)
    self.whole_frame = -1


def _general_compressed(self: Connection, opcode: int, payload: bytes) -> bytes:
    return self._send_frame(opcode, payload, True)


def _open_pair(deflate: bool = False) -> tuple[Connection, Connection]:
    extensions = [PerMessageDeflate(compress_level=6)] if deflate else []
    client = Connection(Role.CLIENT, max_message_size=None)
    server = Connection(Role.SERVER, max_message_size=None, extensions=extensions)
    server.receive_data(client.send(ev.Request(host="example.com", target="/", extensions=extensions)))
    list(server.events())
    client.receive_data(server.send(ev.Accept()))
    list(client.events())
    return client, server


def _receiver(chunks: list[bytes]) -> Callable[[], Callable[[], object]]:
    """A server that receives ``chunks``; the result is every event."""

    def setup() -> Callable[[], object]:
        server = _open_pair()[1]

        def run() -> object:
            got: list[ev.Event] = []
            for chunk in chunks:
                server.receive_data(chunk)
                got.extend(server.events())
            return got

        return run

    return setup


def _sender(role: int, texts: list[str], deflate: bool = False) -> Callable[[], Callable[[], object]]:
    """A connection that sends each text as a new Message, as an
    application does; the result is the bytes (their length for a client,
    whose masking keys are random)."""

    def setup() -> Callable[[], object]:
        conn = _open_pair(deflate)[role]

        def run() -> object:
            send = conn.send
            out = [send(ev.Message(text)) for text in texts]
            return sum(map(len, out)) if role == 0 else b"".join(out)

        return run

    return setup


@dataclass
class FastPath:
    name: str  # the fast path, and where it is
    workload: str
    setup: Callable[[], Callable[[], object]]
    off: Callable[[], contextlib.AbstractContextManager[None]]


def fast_paths(n: int, text_size: int = 4 * 2**20) -> list[FastPath]:
    """The fast paths, each on a workload of ``n`` messages (or ``text_size``
    bytes of fragments) that takes it."""
    small = chunked(client_frames([ev.Message("x" * 16)] * n))
    medium = chunked(client_frames([ev.Message("x" * 256)] * n))
    text = ("wsproto_lite " * (text_size // 10))[:text_size]
    equal = chunked(client_frames(fragments(text, 64, 64)))
    varied = chunked(client_frames(fragments(text, 48, 80)))
    return [
        FastPath(
            "receive: whole frames (_receiving.whole_frame)",
            "server receives 16 B text",
            _receiver(small),
            lambda: replaced(_message.Assembler, "set_limits", _no_whole_frames),
        ),
        FastPath(
            "receive: whole frames (_receiving.whole_frame)",
            "server receives 256 B text",
            _receiver(medium),
            lambda: replaced(_message.Assembler, "set_limits", _no_whole_frames),
        ),
        FastPath(
            "receive: Message built through its slots (_message.whole_message)",
            "server receives 16 B text",
            _receiver(small),
            lambda: replaced(_receiving, "whole_message", ev.Message),
        ),
        FastPath(
            "receive: runs of equal frames (_runs.equal_frames)",
            "4 MiB text in 64 B fragments",
            _receiver(equal),
            lambda: replaced(_receiving, "run_readers", (small_frames,)),
        ),
        FastPath(
            "receive: runs of small frames (_runs.small_frames)",
            "4 MiB text in 48-80 B fragments",
            _receiver(varied),
            lambda: replaced(_receiving, "run_readers", (equal_frames,)),
        ),
        FastPath(
            "send: whole messages (_frames.message_frame)",
            "server sends 16 B text",
            _sender(1, ["x" * 16] * n),
            lambda: replaced(Connection, "send", _general_send),
        ),
        FastPath(
            "send: masking keys drawn 4 KiB at a time (_frames.mask_key)",
            "client sends 16 B text",
            _sender(0, ["x" * 16] * n),
            lambda: replaced(connection, "mask_key", lambda: os.urandom(4)),
        ),
        FastPath(
            "send: one deflate session (Connection._send_compressed)",
            "deflate: server sends 1 KiB JSON",
            _sender(1, [json_message(i) for i in range(n // 10)], deflate=True),
            lambda: replaced(Connection, "_send_compressed", _general_compressed),
        ),
    ]


def timed(setup: Callable[[], Callable[[], object]]) -> tuple[float, object]:
    run = setup()
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


def measure(path: FastPath, repeats: int) -> tuple[float, float, float]:
    """The median time with the fast path divided by the median without,
    inverted into a gain (above 1: the fast path pays), and the spread."""
    on: list[float] = []
    off: list[float] = []
    expected: Any = None
    for _ in range(repeats):
        seconds, result = timed(path.setup)
        on.append(seconds)
        expected = result if expected is None else expected
        with path.off():
            seconds, result = timed(path.setup)
        off.append(seconds)
        if result != expected:
            raise AssertionError(f"{path.name}: the result without the fast path differs")
    gains = [b / a for a, b in zip(on, off, strict=True)]
    return statistics.median(off) / statistics.median(on), min(gains), max(gains)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small workloads, two repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 7
    _speed.select(False)
    print("| fast path | workload | without it, time x | spread |")
    print("|---|---|---|---|")
    for path in fast_paths(10_000 if args.quick else 100_000, 2**19 if args.quick else 4 * 2**20):
        gain, low, high = measure(path, repeats)
        print(f"| {path.name} | {path.workload} | {gain:.2f} | {low:.2f}-{high:.2f} |", flush=True)


if __name__ == "__main__":
    main()
