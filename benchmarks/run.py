"""Side-by-side benchmark: wsproto_lite, wsproto and the sans-IO core of
websockets (with its C extension and without), on the same in-memory
workloads, in one process run.

    python3 dev.py bench            # the full run, one to three minutes
    python3 dev.py bench --quick    # a smoke run, a few seconds
    python3 dev.py bench --write    # also rewrite docs/topics/performance.md
    python3 dev.py bench --only "1 MiB"   # a subset of the workloads

Every repeat runs every workload for every library, in an order that rotates
from repeat to repeat; the table reports the median CPU time
(``time.process_time``) of each, as a rate, and the ratio of wsproto_lite's
rate to each other library's. Absolute figures move by 15 to 30% between runs
on a shared machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from importlib.metadata import version

from benchmarks.drivers import ANCHORS, DRIVERS, LEVEL, Driver, Lite, LitePy
from wsproto_lite import Connection, _speed
from wsproto_lite import __version__ as lite_version
from wsproto_lite import events as ev

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 65536


def chunked(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def client_frames(messages: list[ev.Message], deflate: bool = False) -> bytes:
    """What a wsproto_lite client sends for ``messages``: masked frames."""
    client, _ = Lite().pair(deflate)
    return b"".join(client.send(m) for m in messages)


def fragments(text: str, low: int, high: int) -> list[ev.Message]:
    """``text`` in pieces of ``low`` to ``high`` characters (the same seed
    every run: every library gets the same pieces)."""
    lengths = random.Random(low * 7919 + high)
    pieces = []
    at = 0
    while at < len(text):
        size = lengths.randint(low, high)
        pieces.append(text[at : at + size])
        at += size
    return [ev.Message(p, message_finished=i == len(pieces) - 1) for i, p in enumerate(pieces)]


def json_message(i: int) -> str:
    """1 KiB of JSON (1,024 bytes, valid), different each time, like an API's events."""
    items = [
        {"id": i * 10 + k, "name": f"item-{i}-{k}", "price": round(k * 1.25, 2), "tags": ["a", "b"]}
        for k in range(9)
    ]
    head = json.dumps({"event": "update", "seq": i, "items": items, "note": ""})
    return head[:-2] + "x" * (1024 - len(head)) + head[-2:]


def fresh_payloads(count: int, size: int) -> list[bytes]:
    """``count`` different payloads: no library gets to reuse a buffer it has seen."""
    generator = random.Random(size)
    return [generator.randbytes(size) for _ in range(count)]


def decoded(sender: int, chunks: list[bytes], deflate: bool = False) -> list[str | bytes]:
    """What a wsproto_lite peer reads from what the client (0) or server (1) sent."""
    client, server = Lite().pair(deflate)
    peer = server if sender == 0 else client
    peer.receive_data(b"".join(chunks))
    return [event.data for event in peer.events() if isinstance(event, ev.Message)]


def receiving(data: list[bytes]) -> Callable[[Driver, Any], object]:
    """A run that feeds ``data`` to the connection the setup made."""

    def run(driver: Driver, conn: Any) -> object:
        return driver.receive(conn, data)

    return run


def sender(role: int) -> Callable[[Driver], Any]:
    """A setup that opens a pair and keeps its client (0) or server (1)."""
    return lambda driver: driver.pair()[role]


def sending(messages: list[str] | list[bytes]) -> Callable[[Driver, Any], object]:
    """A run that sends each of ``messages`` on the connection the setup made,
    an event made for each."""
    return lambda driver, conn: driver.send(conn, messages)


def received(messages: list[ev.Message]) -> Callable[[object], bool]:
    """The check of a receiving run: as many whole messages, as long in all,
    as ``messages`` (pieces of one message count once)."""
    count = sum(m.message_finished for m in messages)
    expected = (count, sum(len(m.data) for m in messages))
    return lambda result: result == expected


def sent(sender: int, messages: list[str] | list[bytes], deflate: bool = False) -> Callable[[object], bool]:
    """The check of a sending run: a wsproto_lite peer reads ``messages`` back."""
    return lambda result: decoded(sender, result, deflate) == messages  # type: ignore[arg-type]


def repeat(action: Callable[[Driver, Any], None], times: int) -> Callable[[Driver, Any], object]:
    def run(driver: Driver, state: Any) -> object:
        for _ in range(times):
            action(driver, state)
        return None

    return run


def close_all(driver: Driver, pairs: list[tuple[Any, Any]]) -> object:
    for pair in pairs:
        driver.close(*pair)
    return None


def _unchecked(result: object) -> bool:
    return True


@dataclass
class Workload:
    name: str
    unit: str  # what `scale` units are: "msg", "handshake", "MB", ...
    setup: Callable[[Driver], Any]
    run: Callable[[Driver, Any], object]
    scale: float  # units done by one run
    check: Callable[[object], bool] = _unchecked  # is the run's result right?

    @property
    def frames(self) -> bool:
        """Frames in or out, the result checked: the anchors (aiohttp's reader
        and writer, which have no handshake to drive) run it too."""
        return self.check is not _unchecked

    def rate(self, seconds: float) -> float:
        return self.scale / seconds


def workloads(quick: bool) -> list[Workload]:
    n = 10_000 if quick else 100_000
    big = 2 if quick else 16
    out: list[Workload] = []

    handshakes = 50 if quick else 4000  # enough that one run is not one moment of the machine
    out.append(
        Workload(
            "opening handshake",
            "handshakes/s",
            lambda d: None,
            repeat(lambda d, _: d.handshake(), handshakes),
            handshakes,
        )
    )
    for size in (16, 256):
        messages = [ev.Message("x" * size)] * n
        out.append(
            Workload(
                f"server receives {size} B text",
                "msg/s",
                lambda d: d.pair()[1],
                receiving(chunked(client_frames(messages))),
                n,
                received(messages),
            )
        )
    messages = [ev.Message(payload) for payload in fresh_payloads(big, 2**20)]
    out.append(
        Workload(
            "server receives 1 MiB binary",
            "MB/s",
            lambda d: d.pair()[1],
            receiving(chunked(client_frames(messages))),
            big * 2**20 / 1e6,
            received(messages),
        )
    )
    text = ("wsproto_lite " * 400_000)[: 4 * 2**20]
    for name, low, high in (
        ("64 B", 64, 64),
        ("48-80 B", 48, 80),
        ("4 KiB", 4096, 4096),
        ("3-5 KiB", 3 * 1024, 5 * 1024),
    ):
        messages = fragments(text, low, high)
        out.append(
            Workload(
                f"4 MiB text in {name} fragments",
                "MB/s",
                lambda d: d.pair()[1],
                receiving(chunked(client_frames(messages))),
                len(text) / 1e6,
                received(messages),
            )
        )
    mib = fresh_payloads(big, 2**20)
    for name, role, payloads, unit, scale in (
        ("client sends 16 B text", 0, ["x" * 16] * n, "msg/s", n),
        ("client sends 256 B text", 0, ["x" * 256] * n, "msg/s", n),
        ("client sends 1 MiB binary", 0, mib, "MB/s", big * 2**20 / 1e6),
        ("server sends 16 B text", 1, ["x" * 16] * n, "msg/s", n),
        ("server sends 256 B text", 1, ["x" * 256] * n, "msg/s", n),
    ):
        out.append(Workload(name, unit, sender(role), sending(payloads), scale, sent(role, payloads)))
    m = n // 10
    texts = [json_message(i) for i in range(m)]
    messages = [ev.Message(t) for t in texts]
    out.append(
        Workload(
            "deflate: server receives 1 KiB JSON",
            "msg/s",
            lambda d: d.pair(deflate=True)[1],
            receiving(chunked(client_frames(messages, deflate=True))),
            m,
            received(messages),
        )
    )
    out.append(
        Workload(
            "deflate: server sends 1 KiB JSON",
            "msg/s",
            lambda d: d.pair(deflate=True)[1],
            sending(texts),
            m,
            sent(1, texts, deflate=True),
        )
    )
    out.append(
        Workload(
            "ping/pong round trip",
            "round trips/s",
            lambda d: d.pair(),
            repeat(lambda d, pair: d.ping_pong(*pair), m),
            m,
        )
    )
    closes = 200 if quick else 2000
    out.append(
        Workload(
            "closing handshake",
            "closes/s",
            lambda d: [d.pair() for _ in range(closes)],
            close_all,
            closes,
        )
    )
    return out


def zlib_baseline(messages: list[str]) -> float:
    """Raw zlib at the same level: encode, compress and sync flush, per message."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 8)
    start = time.process_time()
    for message in messages:
        compressor.compress(message.encode())
        compressor.flush(zlib.Z_SYNC_FLUSH)
    return len(messages) / (time.process_time() - start)


def events_rate(messages: list[str]) -> float:
    """Messages per second of making the ``Message`` events alone: the part
    of a compressed send that the API, not the protocol, asks for."""
    make = ev.Message
    start = time.process_time()
    for message in messages:
        make(message)
    return len(messages) / (time.process_time() - start)


def masking_limit() -> float:
    """The pure-Python limit of masking 1 MiB on this machine, in MB/s: the
    best of four techniques, with no framing around them (section 5.3)."""
    data = bytes(range(256)) * 4096
    key = b"\x37\xfa\x21\x3d"
    tables = [bytes(b ^ k for b in range(256)) for k in key]
    piece = 65536
    repeat_piece = int.from_bytes(key * (piece // 4), "little")

    def lanes() -> bytes:
        out = bytearray(data)
        for lane in range(4):
            out[lane::4] = out[lane::4].translate(tables[lane])
        return bytes(out)

    def one_integer() -> bytes:
        repeated = int.from_bytes(key * (len(data) // 4), "little")
        return (int.from_bytes(data, "little") ^ repeated).to_bytes(len(data), "little")

    def pieces() -> bytes:
        view = memoryview(data)
        return b"".join(
            (int.from_bytes(view[at : at + piece], "little") ^ repeat_piece).to_bytes(piece, "little")
            for at in range(0, len(data), piece)
        )

    def lane_pieces() -> bytes:
        view = memoryview(data)
        out = []
        for at in range(0, len(data), piece):
            buffer = bytearray(view[at : at + piece])
            for lane in range(4):
                buffer[lane::4] = buffer[lane::4].translate(tables[lane])
            out.append(buffer)
        return b"".join(out)

    best = 0.0
    for technique in (lanes, one_integer, pieces, lane_pieces):
        for _ in range(5):
            start = time.process_time()
            for _ in range(8):
                technique()
            best = max(best, 8 * len(data) / 1e6 / (time.process_time() - start))
    return best


def copy_rate(payloads: list[bytes]) -> float:
    """A plain memory copy of each payload (``bytearray(payload)``: an
    allocation and a ``memcpy``), in MB/s: the floor under any receive or
    send of the same messages, which must copy them at least once."""
    start = time.process_time()
    for payload in payloads:
        bytearray(payload)
    return sum(map(len, payloads)) / 1e6 / (time.process_time() - start)


def memory_per_connection(driver: Driver, deflate: bool, active: bool, count: int) -> float:
    """Bytes that one open, idle server connection keeps (tracemalloc)."""
    pairs = [driver.pair(deflate) for _ in range(2)]  # warm caches and imports
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    servers = []
    for _ in range(count):
        client, server = driver.pair(deflate)
        if active:
            driver.receive(server, [_one_message(driver, client)])
            driver.send(server, ["a reply"])
        servers.append(server)
        del client
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del pairs, servers
    return (after - before) / count


def _one_message(driver: Driver, client: Any) -> bytes:
    if isinstance(client, Connection):
        return client.send(ev.Message("hello"))
    if hasattr(client, "send_text"):
        client.send_text(b"hello")
        return b"".join(client.data_to_send())
    import wsproto.events as wp

    return bytes(client.send(wp.TextMessage("hello")))


#: wsproto_lite's two modes, and whom each is compared with in the tables.
OURS = ("wsproto_lite", "wsproto_lite-py")
OTHERS = ("wsproto", "websockets", "websockets-py", "aiohttp", "aiohttp-py", "picows")


def measure(repeats: int, quick: bool, only: str = "") -> dict[str, Any]:
    mode = _speed.compiled()
    try:
        return _measure(repeats, quick, only)
    finally:
        _speed.select(mode)  # the drivers switch it; leave it as it was


def _measure(repeats: int, quick: bool, only: str) -> dict[str, Any]:
    loads = [load for load in workloads(quick) if only in load.name]
    times: dict[tuple[str, str], list[float]] = {}
    # The baselines run in every repeat too, so that they see the machine as
    # the workloads they are compared with do.
    messages = [json_message(i) for i in range((10_000 if quick else 100_000) // 10)]
    mib = fresh_payloads(2 if quick else 16, 2**20)
    baselines: dict[str, list[float]] = {"zlib": [], "events": [], "masking": [], "copy": []}
    for repeat in range(repeats):
        everyone = DRIVERS + ANCHORS
        order = everyone[repeat % len(everyone) :] + everyone[: repeat % len(everyone)]
        for load in loads:
            for driver in order:
                if not driver.supports(load):
                    continue
                state = load.setup(driver)
                driver.activate()
                start = time.process_time()
                result = load.run(driver, state)
                times.setdefault((load.name, driver.name), []).append(time.process_time() - start)
                if not load.check(result):
                    sys.exit(f"{driver.name} got a wrong result on {load.name!r}: the benchmark stops")
                del state, result
        if not only:
            baselines["zlib"].append(zlib_baseline(messages))
            baselines["events"].append(events_rate(messages))
            baselines["masking"].append(masking_limit())
            baselines["copy"].append(copy_rate(mib))
        print(f"repeat {repeat + 1}/{repeats} done", file=sys.stderr, flush=True)
    rates = {
        load.name: {
            d.name: load.rate(statistics.median(times[load.name, d.name]))
            for d in DRIVERS + ANCHORS
            if (load.name, d.name) in times
        }
        for load in loads
    }
    # The spread: each mode's ratio to websockets (C) in each repeat.
    spread = {
        (load.name, ours): [
            theirs / mine
            for mine, theirs in zip(times[load.name, ours], times[load.name, "websockets"], strict=True)
        ]
        for load in loads
        for ours in OURS
    }
    if only:
        return {"loads": loads, "rates": rates, "spread": spread}
    count = 100 if quick else 1000
    peers = [d for d in DRIVERS if not isinstance(d, LitePy)]  # the mode changes no state
    memory = {
        label: {d.name: memory_per_connection(d, deflate, active, count) for d in peers}
        for label, deflate, active in (
            ("idle, no compression", False, False),
            ("idle, compression negotiated", True, False),
            ("compression, after one message each way", True, True),
        )
    }
    return {
        "loads": loads,
        "rates": rates,
        "spread": spread,
        "memory": memory,
        **{name: statistics.median(values) for name, values in baselines.items()},
    }


def _fmt(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:,.0f}k"
    if value >= 1000:
        return f"{value / 1000:,.1f}k"
    return f"{value:,.1f}"


def table(result: dict[str, Any]) -> str:
    names = [d.name for d in DRIVERS + ANCHORS]
    lines = [
        "| workload | unit | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for load in result["loads"]:
        rates = result["rates"][load.name]
        cells = [_fmt(rates[n]) if n in rates else "-" for n in names]
        lines.append(f"| {load.name} | {load.unit} | " + " | ".join(cells) + " |")
    for ours, title in zip(OURS, ("compiled (the default)", "pure Python"), strict=True):
        lines += [
            "",
            f"wsproto_lite {title}: its rate divided by each library's "
            "(above 1: wsproto_lite is faster), with the range of the ratio to websockets over the repeats.",
            "",
            "| workload | "
            + " | ".join(f"vs {n}" for n in OTHERS[:2])
            + " | (its range) | "
            + " | ".join(f"vs {n}" for n in OTHERS[2:])
            + " |",
            "|---|" + "---|" * (len(OTHERS) + 1),
        ]
        for load in result["loads"]:
            rates = result["rates"][load.name]
            ratios = [f"{rates[ours] / rates[n]:.2f}" if n in rates else "-" for n in OTHERS]
            spread = result["spread"][load.name, ours]
            ratios.insert(2, f"{min(spread):.2f}-{max(spread):.2f}")
            lines.append(f"| {load.name} | " + " | ".join(ratios) + " |")
    if "zlib" not in result:
        return "\n".join(lines) + "\n"
    return "\n".join(lines + baseline_lines(result)) + "\n"


def baseline_lines(result: dict[str, Any]) -> list[str]:
    """The baselines: raw zlib, a memory copy, pure-Python masking; and the
    memory per connection."""
    send = result["rates"]["deflate: server sends 1 KiB JSON"]
    sent = result["rates"]["client sends 1 MiB binary"]
    received = result["rates"]["server receives 1 MiB binary"]
    limit = result["masking"]
    copy = result["copy"]
    zlib_us = 1e6 / result["zlib"]
    peers = list(next(iter(result["memory"].values())))
    lines = [
        "",
        f"Raw zlib at level {LEVEL} (encoding, compression and sync flush, no framing) does "
        f"{_fmt(result['zlib'])} msg/s on the same 1 KiB JSON messages: wsproto_lite's "
        f"compressed send runs at {send['wsproto_lite'] / result['zlib']:.0%} of it compiled and "
        f"{send['wsproto_lite-py'] / result['zlib']:.0%} in pure Python, "
        f"{1e6 / send['wsproto_lite'] - zlib_us:.2f} µs per message on top of zlib's {zlib_us:.2f} µs "
        f"(compiled), of which making the `Message` events takes {1e6 / result['events']:.2f} µs.",
        "",
        f"A plain memory copy of the same 1 MiB payloads (`bytearray(payload)`) does {_fmt(copy)} MB/s: "
        f"compiled, wsproto_lite's client sends 1 MiB messages at {sent['wsproto_lite'] / copy:.0%} of it "
        f"and its server receives them at {received['wsproto_lite'] / copy:.0%}.",
        "",
        f"Masking alone, 1 MiB at a time with the best pure-Python technique (of translate lanes, "
        f"one integer, 64 KiB integer pieces and 64 KiB lane pieces), does {_fmt(limit)} MB/s. "
        f"Against it, wsproto_lite in pure Python sends 1 MiB messages at "
        f"{sent['wsproto_lite-py'] / limit:.0%} and receives them at "
        f"{received['wsproto_lite-py'] / limit:.0%}; "
        f"wsproto at {sent['wsproto'] / limit:.0%} and {received['wsproto'] / limit:.0%}.",
        "",
        "| memory per open server connection (tracemalloc) | " + " | ".join(peers) + " |",
        "|---|" + "---|" * len(peers),
    ]
    for label, values in result["memory"].items():
        lines.append(f"| {label} | " + " | ".join(f"{values[n] / 1024:.1f} KiB" for n in peers) + " |")
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = f"Python {platform.python_version()} ({platform.python_implementation()})"
    versions = ", ".join(
        f"{name} {version}"
        for name, version in (
            ("wsproto_lite", lite_version),
            ("wsproto", version("wsproto")),
            ("websockets", version("websockets")),
        )
    )
    return f"{cpu}, {os.cpu_count()} cores; {python}, zlib {zlib.ZLIB_RUNTIME_VERSION}; {versions}"


def main() -> None:
    parser = argparse.ArgumentParser(description="wsproto_lite side by side with wsproto and websockets")
    parser.add_argument("--quick", action="store_true", help="small workloads, two repeats: a smoke run")
    parser.add_argument("--repeats", type=int, help="repeats per workload and library (default 5, quick 2)")
    parser.add_argument(
        "--write", action="store_true", help="rewrite the results table in docs/topics/performance.md"
    )
    parser.add_argument("--only", default="", help="run only the workloads whose name has this text")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    started = time.time()
    result = measure(repeats, args.quick, args.only)
    text = table(result)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}; {repeats} repeats, medians of CPU time.\n\n"
    )
    print(header + text)
    print(f"({time.time() - started:.0f} s)", file=sys.stderr)
    if args.write and not args.only:
        path = ROOT / "docs" / "topics" / "performance.md"
        doc = path.read_text()
        begin, end = "<!-- results -->\n", "<!-- /results -->\n"
        head, _, rest = doc.partition(begin)
        _, _, tail = rest.partition(end)
        path.write_text(head + begin + header + text + end + tail)


if __name__ == "__main__":
    main()
