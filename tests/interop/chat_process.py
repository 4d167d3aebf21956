"""The chat server of examples/chat/ as a real process on a free loopback
port, stopped by its process id, with what it logs kept for the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..helpers import ROOT, Example, example

SERVER = ROOT / "examples" / "chat" / "server.py"
Chat = Example


@contextmanager
def chat_server(*args: str) -> Iterator[Example]:
    with example(SERVER, *args) as chat:
        yield chat
