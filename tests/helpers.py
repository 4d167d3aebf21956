"""Shared test helpers: an in-memory client/server pair and raw frames."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsproto_lite import Connection, Role
from wsproto_lite.events import Accept, Event, Request

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Example:
    """An example started as a real process: the port it reported, and the
    lines it logged since."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for_line(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """The first line logged that matches ``pattern``, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.02)
        raise AssertionError(f"the example never logged {pattern!r}; it logged {self.lines}")


@contextmanager
def example(path: Path, *args: str) -> Iterator[Example]:
    """Run an example server on a free port, as a user would (it reports
    the port it bound on its first line); stop it by its process id.  What
    it writes to stdout and stderr becomes ``lines``."""
    command = [sys.executable, str(path), "--port", "0", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        match = re.search(r":(\d+)/", proc.stdout.readline())
        assert match, f"{path.name} did not report its port"
        started = Example(proc, int(match.group(1)))
        threading.Thread(target=_collect, args=(proc.stdout, started.lines), daemon=True).start()
        yield started
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _collect(stream: Iterable[str], lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


@contextmanager
def echo_server(*args: str, script: str = "socket_echo.py") -> Iterator[int]:
    """Run an example echo server on a free port; yield the port."""
    with example(ROOT / "examples" / script, *args) as started:
        yield started.port


def events(conn: Connection) -> list[Event]:
    return list(conn.events())


def pair(
    client_opts: dict[str, Any] | None = None,
    server_opts: dict[str, Any] | None = None,
    **accept: Any,
) -> tuple[Connection, Connection]:
    """A client and a server that completed the opening handshake."""
    client_opts = dict(client_opts or {})
    request = client_opts.pop("request", None)
    client = Connection(Role.CLIENT, **client_opts)
    server = Connection(Role.SERVER, **(server_opts or {}))
    server.receive_data(client.send(request or Request(host="example.com", target="/")))
    assert [type(e) for e in events(server)] == [Request]
    client.receive_data(server.send(Accept(**accept)))
    assert [type(e) for e in events(client)] == [Accept]
    return client, server


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: int | None = None,
    key: bytes | None = None,
) -> bytes:
    """A raw frame, built by hand so it can break every rule."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask else 0
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 0x10000:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not mask:
        return header + payload
    key = os.urandom(4) if key is None else key
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def server_open(**opts: Any) -> Connection:
    """A server connection that has accepted a handshake."""
    return pair(server_opts=opts)[1]


def client_open(**opts: Any) -> Connection:
    """A client connection whose handshake was accepted."""
    return pair(client_opts=opts)[0]


def held(conn: Connection) -> int:
    """The bytes a connection holds in its buffers and for the message being
    received: every list, tuple, string and buffer reachable from its slots
    (zlib's state, a constant per connection, is not counted)."""
    seen: set[int] = set()

    def size(value: object) -> int:
        if id(value) in seen:
            return 0
        seen.add(id(value))
        if isinstance(value, list | tuple):
            return sys.getsizeof(value) + sum(size(item) for item in value)
        if isinstance(value, bytes | bytearray | str):
            return sys.getsizeof(value)
        return 0

    names = [name for cls in type(conn).__mro__ for name in getattr(cls, "__slots__", ())]
    return sum(size(getattr(conn, name, None)) for name in names)
