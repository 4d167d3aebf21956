"""Ten thousand connections to the chat (the C10K of the seed documents), side
by side with the same chat on websockets' asyncio server.

    python benchmarks/c10k.py [--connections 10000] [--write]
    python3 dev.py bench --c10k [...]

Each server runs in its own process (examples/chat/server.py, and
benchmarks/chat_websockets.py) and the load in another (this file with
``--generate``), over loopback, with the open-file limit raised to the hard
limit.  Keepalive pings are off in both servers: the phases below would
otherwise have to answer them, and both servers ping alike.  The load
generator offers no compression (neither server compresses, then).  For
each server, one run:

1. **Memory**: the connections open in rooms of ten (``?room=``), the joins
   are announced, and the server's resident memory (VmRSS) is read: its
   growth over the idle server, per connection.
2. **Steady state**: every client sends one message a second, each to the
   nine others of its room, for ``--steady-seconds`` (after a second of
   warm-up): messages handled and delivered per second, the delivery
   latency, and the server's CPU.  Every message must reach exactly the
   nine others (checked once the load stops).
3. **Fan-out**: the connections close and open again, all in one room.
   Their joins are announced to everyone already there (n(n-1)/2
   deliveries: the *join storm*, timed).  Then, ``--rounds`` times, one user
   sends a message and the time it takes to reach each of the others is
   taken: the median and the 99th percentile of the arrival times.  Every
   copy must be the exact frame the sender's message makes.

The load generator is one process (plain sockets and epoll, leaner per read
than asyncio) on one of the machine's cores, the server on the other; the
times it reports include its own work, alike for both servers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wsproto_lite import Connection, Role
from wsproto_lite.events import Message, Request

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {
    "wsproto_lite": [str(ROOT / "examples" / "chat" / "server.py"), "--ping-interval", "0"],
    "websockets": [str(ROOT / "benchmarks" / "chat_websockets.py"), "--ping-interval", "0"],
}
CONCURRENT_HANDSHAKES = 256
TICK = 0.01  # the steady state's sending period
RECEIVE_SIZE = 65536


# -- The server, seen from outside ------------------------------------------


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def cpu_split(pid: int) -> tuple[float, float]:
    """The seconds of CPU the process has used: in user space, in the kernel."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


@contextmanager
def server_cpu(pid: int) -> Iterator[dict[str, float]]:
    """The CPU the server spends in the block: "user" (Python) and "system" (the kernel)."""
    spent: dict[str, float] = {}
    user, system = cpu_split(pid)
    yield spent
    user_after, system_after = cpu_split(pid)
    spent.update(user=user_after - user, system=system_after - system)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- The load generator: users on plain non-blocking sockets and epoll ---------
#
# Not asyncio: its Protocol machinery adds Python to every read, of the
# order of what a server spends per delivery, and every arrival time taken
# here includes the generator's own work.  One epoll loop that reads what
# is ready and does nothing else keeps that share small.


class User:
    """One simulated user: its socket, and what it does with what arrives."""

    __slots__ = ("arrived", "buffer", "expected", "mode", "nickname", "opened", "sock")

    def __init__(self, sock: socket.socket, nickname: str) -> None:
        self.sock = sock
        self.nickname = nickname
        self.opened = False
        self.buffer = bytearray()
        self.mode = "count"  # "count": bytes only; "collect": one expected frame; "parse": frames
        self.expected = b""
        self.arrived = 0.0


class Load:
    def __init__(self, port: int, server_pid: int) -> None:
        self.port = port
        self.pid = server_pid
        self.encoder = Connection.opened(Role.CLIENT)  # masks the users' frames
        self.poll = select.epoll()
        self.users: dict[int, User] = {}
        self.received = 0
        self.waiting = 0  # users whose expected frame has not arrived
        self.delivered = 0
        self.latencies: list[float] = []
        self.measuring = False
        self.wrong = 0

    def connect(self, count: int, room: str | None) -> float:
        """Open ``count`` users (in rooms of ten, or all in ``room``), a
        batch at a time so that the server's listen backlog never overflows;
        return the seconds it took."""
        started = time.perf_counter()
        for first in range(0, count, CONCURRENT_HANDSHAKES):
            batch = []
            for index in range(first, min(count, first + CONCURRENT_HANDSHAKES)):
                name = f"u{index}"
                query = f"?room={room if room is not None else index // 10}"
                request = Connection(Role.CLIENT).send(Request(host="127.0.0.1", target=f"/ws/{name}{query}"))
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
                sock.sendall(request)
                sock.setblocking(False)
                user = User(sock, name)
                self.users[sock.fileno()] = user
                self.poll.register(sock.fileno(), select.EPOLLIN)
                batch.append(user)
            deadline = time.monotonic() + 60
            while not all(user.opened for user in batch):
                assert time.monotonic() < deadline, "handshakes took over a minute"
                self.pump(0.1)
        return time.perf_counter() - started

    def pump(self, timeout: float) -> None:
        """Read what is ready, waiting at most ``timeout`` seconds for it."""
        for fd, _ in self.poll.poll(timeout):
            user = self.users[fd]
            try:
                data = user.sock.recv(RECEIVE_SIZE)
            except BlockingIOError:
                continue
            assert data, f"{user.nickname}: the server closed the connection"
            self.received += len(data)
            if user.mode == "count" and user.opened:
                continue
            user.buffer += data
            if not user.opened:
                self.open(user)
            elif user.mode == "collect":
                if len(user.buffer) >= len(user.expected) and not user.arrived:
                    user.arrived = time.perf_counter()
                    self.waiting -= 1
            else:
                self.parse(user)

    def open(self, user: User) -> None:
        head, found, rest = bytes(user.buffer).partition(b"\r\n\r\n")
        if found:
            assert head.startswith(b"HTTP/1.1 101 "), f"{user.nickname}: {head[:60]!r}"
            user.opened = True
            user.buffer = bytearray(rest)

    def quiet(self, seconds: float = 1.0, limit: float = 900) -> None:
        """Read until nothing has arrived for ``seconds``."""
        deadline = time.monotonic() + limit
        last = -1
        while self.received != last:
            assert time.monotonic() < deadline, "the server never went quiet"
            last = self.received
            until = time.monotonic() + seconds
            while (left := until - time.monotonic()) > 0:
                self.pump(left)

    def close_all(self) -> None:
        for fd, user in self.users.items():
            self.poll.unregister(fd)
            user.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            user.sock.close()
        self.users = {}

    def server_idle(self) -> None:
        deadline = time.monotonic() + 120
        while open_files(self.pid) > 50 and time.monotonic() < deadline:
            time.sleep(0.2)

    def send(self, user: User, text: str) -> None:
        frame = self.encoder.send(Message(text))
        assert user.sock.send(frame) == len(frame), "the server stopped reading"

    # steady state

    def parse(self, user: User) -> None:
        buffer, position = user.buffer, 0
        while len(buffer) - position >= 2:
            length, head = buffer[position + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buffer[position + 2 : position + 4]), 4
            if len(buffer) - position < head + length:
                break
            message = json.loads(buffer[position + head : position + head + length])
            position += head + length
            if message.get("sender") == user.nickname:
                self.wrong += 1  # one's own message came back
            self.delivered += 1
            if self.measuring:
                self.latencies.append(time.perf_counter() - float(message["msg"]))
        del buffer[:position]

    def steady(self, seconds: float) -> dict[str, Any]:
        users = list(self.users.values())
        for user in users:
            user.mode = "parse"
            user.buffer.clear()
        slots = round(1 / TICK)
        sent = measured_sent = 0
        start = time.perf_counter()
        window_start = start + 1.0  # a second of warm-up
        window_end = window_start + seconds
        cpu_before = delivered_before = 0.0
        tick = 0
        while (now := time.perf_counter()) < window_end:
            if not self.measuring and now >= window_start:
                self.measuring, cpu_before, delivered_before = True, cpu_seconds(self.pid), self.delivered
            for user in users[tick % slots :: slots]:
                self.send(user, f"{time.perf_counter():.6f}")
                sent += 1
                measured_sent += self.measuring
            tick += 1
            while (left := start + tick * TICK - time.perf_counter()) > 0:
                self.pump(left)
        cpu = cpu_seconds(self.pid) - cpu_before
        delivered = self.delivered - delivered_before
        self.measuring = False
        self.quiet()
        assert self.wrong == 0, f"{self.wrong} users got their own message back"
        assert self.delivered == sent * 9, f"{self.delivered} deliveries of {sent} messages to rooms of ten"
        return {
            "offered_per_second": measured_sent / seconds,
            "messages_per_second": delivered / 9 / seconds,
            "deliveries_per_second": delivered / seconds,
            "latency_ms_p50": statistics.median(self.latencies) * 1000,
            "latency_ms_p99": statistics.quantiles(self.latencies, n=100)[98] * 1000,
            "server_cpu_percent": cpu / seconds * 100,
        }

    # fan-out

    def fan_out(self, rounds: int) -> dict[str, Any]:
        sender, *others = self.users.values()
        p50s: list[float] = []
        p99s: list[float] = []
        with server_cpu(self.pid) as spent:
            for number in range(rounds):
                self.one_round(sender, others, number, p50s, p99s)
        return {
            "median_ms": p50s,
            "p99_ms": p99s,
            # what the server spent per round, in Python and in the kernel
            "server_user_ms": spent["user"] / rounds * 1000,
            "server_system_ms": spent["system"] / rounds * 1000,
        }

    def one_round(
        self, sender: User, others: list[User], number: int, p50s: list[float], p99s: list[float]
    ) -> None:
        """One message from ``sender``: when it reached each of the others."""
        text = f"round {number}"
        payload = json.dumps({"sender": sender.nickname, "msg": text}).encode()
        frame = bytes([0x81, len(payload)]) + payload
        for user in others:
            user.mode, user.expected, user.arrived = "collect", frame, 0.0
            user.buffer.clear()
        self.waiting = len(others)
        sent = time.perf_counter()
        self.send(sender, text)
        deadline = time.monotonic() + 120
        while self.waiting:
            assert time.monotonic() < deadline, f"{self.waiting} users never got the message"
            self.pump(0.1)
        times = sorted(user.arrived - sent for user in others)
        wrong = sum(bytes(user.buffer) != frame for user in others)
        assert not wrong, f"{wrong} users got something other than the message's frame"
        p50s.append(statistics.median(times) * 1000)
        p99s.append(times[int(len(times) * 0.99) - 1] * 1000)
        self.quiet(0.2)


def generate(args: argparse.Namespace) -> dict[str, Any]:
    load = Load(args.port, args.server_pid)
    n = args.connections
    base = rss_kib(args.server_pid)
    result: dict[str, Any] = {"connections": n, "idle_rss_mib": base / 1024}
    result["connect_seconds"] = load.connect(n, None)
    load.quiet()
    result["rss_kib_per_connection"] = (rss_kib(args.server_pid) - base) / n
    progress("memory", result)
    result["steady"] = load.steady(args.steady_seconds)
    progress("steady state", result["steady"])
    load.close_all()
    load.server_idle()
    started = time.perf_counter()
    with server_cpu(args.server_pid) as spent:
        load.connect(n, "all")
        load.quiet(seconds=1.0)
    storm = time.perf_counter() - started - 1.0  # the last second was the quiet one
    result["join_storm"] = {
        "deliveries": n * (n - 1) // 2,
        "seconds": storm,
        "server_user_seconds": spent["user"],
        "server_system_seconds": spent["system"],
    }
    progress("join storm", result["join_storm"])
    result["fan_out"] = load.fan_out(args.rounds)
    return result


def progress(phase: str, values: dict[str, Any]) -> None:
    print(f"  {phase}: {json.dumps(values)}", file=sys.stderr, flush=True)


# -- The orchestra -------------------------------------------------------------------


def raise_open_files(needed: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"{needed} open files are needed and the hard limit is {hard}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the children inherit it


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    server = subprocess.Popen(
        [sys.executable, *SERVERS[name], "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # websockets warns about writes to the users reset at the end of a phase
        text=True,
    )
    try:
        assert server.stdout is not None
        match = re.search(r":(\d+)/", server.stdout.readline())
        assert match, f"the {name} chat did not report its port"
        # It logs a line per join and leave: read them, or it blocks on a full pipe.
        threading.Thread(target=server.stdout.read, daemon=True).start()
        command = [
            sys.executable,
            __file__,
            "--generate",
            "--port",
            match.group(1),
            "--server-pid",
            str(server.pid),
        ]
        command += ["--connections", str(args.connections), "--steady-seconds", str(args.steady_seconds)]
        command += ["--rounds", str(args.rounds)]
        load = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert load.stdout is not None
        line = load.stdout.readline()
        # The server goes first: closing ten thousand users of one room
        # would announce n(n-1)/2 leaves.
        server.kill()
        load.communicate(timeout=60)
        assert line, f"the load generator failed against {name}"
        result: dict[str, Any] = json.loads(line)
        return result
    finally:
        server.kill()
        server.wait(timeout=30)


#: The table's rows: what, where in a result (a list: its median), the unit,
#: and which way is better.
ROWS = [
    ("memory per connection", "rss_kib_per_connection", "KiB", "lower"),
    ("fan-out to all, median arrival", "fan_out.median_ms", "ms", "lower"),
    ("fan-out to all, 99th percentile", "fan_out.p99_ms", "ms", "lower"),
    ("fan-out: server CPU per round, Python", "fan_out.server_user_ms", "ms", "lower"),
    ("fan-out: server CPU per round, kernel", "fan_out.server_system_ms", "ms", "lower"),
    ("join storm (n(n-1)/2 deliveries)", "join_storm.seconds", "s", "lower"),
    ("join storm: server CPU, Python", "join_storm.server_user_seconds", "s", "lower"),
    ("join storm: server CPU, kernel", "join_storm.server_system_seconds", "s", "lower"),
    ("steady state: messages handled", "steady.messages_per_second", "/s", "higher"),
    ("steady state: server CPU", "steady.server_cpu_percent", "%", "lower"),
    ("steady state: latency, median", "steady.latency_ms_p50", "ms", "lower"),
    ("steady state: latency, 99th percentile", "steady.latency_ms_p99", "ms", "lower"),
    ("opening all connections", "connect_seconds", "s", "lower"),
]


def value(result: dict[str, Any], path: str) -> float:
    found: Any = result
    for key in path.split("."):
        found = found[key]
    return float(statistics.median(found) if isinstance(found, list) else found)


def table(results: dict[str, dict[str, Any]]) -> str:
    ours, theirs = results["wsproto_lite"], results["websockets"]
    lines = [
        f"{ours['connections']:,} connections over loopback, one server process each.",
        "",
        "| | wsproto_lite | websockets | wsproto_lite's advantage |",
        "|---|---|---|---|",
    ]
    for what, path, unit, better in ROWS:
        a, b = value(ours, path), value(theirs, path)
        slower, faster = (b, a) if better == "lower" else (a, b)
        ratio = f"{slower / faster:.2f}x" if faster and slower else "n/a"
        lines.append(f"| {what} | {a:,.1f} {unit} | {b:,.1f} {unit} | {ratio} |")

    def spread(result: dict[str, Any], key: str) -> str:
        values = result["fan_out"][key]
        return f"{min(values):,.1f}-{max(values):,.1f}"

    lines += [
        "",
        f"Fan-out rounds (median arrival, ms): wsproto_lite {spread(ours, 'median_ms')}, "
        f"websockets {spread(theirs, 'median_ms')}; 99th percentile: wsproto_lite "
        f"{spread(ours, 'p99_ms')}, websockets {spread(theirs, 'p99_ms')}. Steady state offered "
        f"{ours['steady']['offered_per_second']:,.0f} messages/s to each.",
    ]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    path = ROOT / "docs" / "topics" / "performance.md"
    doc = path.read_text()
    start, end = "<!-- c10k -->\n", "<!-- /c10k -->"
    assert start in doc, "docs/topics/performance.md has no c10k markers"
    assert end in doc, "docs/topics/performance.md has no c10k markers"
    head, rest = doc.split(start, 1)
    path.write_text(head + start + text + "\n" + end + rest.split(end, 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--steady-seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS))
    parser.add_argument("--write", action="store_true", help="put the table in docs/topics/performance.md")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.connections % 10:
        parser.error("--connections is a multiple of ten (rooms of ten)")
    if args.generate:
        print(json.dumps(generate(args)), flush=True)
        sys.stdin.read()  # until the orchestra has stopped the server
        return
    raise_open_files(args.connections + 200)
    results = {}
    for name in args.servers:
        print(f"{name}: {args.connections:,} connections...", file=sys.stderr, flush=True)
        results[name] = run_one(name, args)
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
    if len(results) < len(SERVERS):
        return
    text = table(results)
    print(text)
    if args.write:
        write_docs(text)


if __name__ == "__main__":
    main()
