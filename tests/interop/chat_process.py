"""The chat server of examples/chat/ as a real process on a free loopback
port, stopped by its process id, with what it logs kept for the tests."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..helpers import ROOT

SERVER = ROOT / "examples" / "chat" / "server.py"


@dataclass
class Chat:
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for_line(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """The first line the server logged that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.02)
        raise AssertionError(f"the chat never logged {pattern!r}; it logged {self.lines}")


@contextmanager
def chat_server(*args: str) -> Iterator[Chat]:
    """Start the chat (it reports the port it bound); stop it by pid."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r":(\d+)/", proc.stdout.readline())
        assert match, "the chat server did not report its port"
        chat = Chat(int(match.group(1)))
        threading.Thread(target=_collect, args=(proc.stdout, chat.lines), daemon=True).start()
        yield chat
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _collect(stream: object, lines: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line.rstrip("\n"))
