"""The bounds sweep of wsproto_lite._speedups, run by tests/test_speedups.py
in a process of its own, against a copy of the extension built with
AddressSanitizer: a read or write one byte outside a buffer stops it.

    python speedups_sweep.py DIRECTORY   (where the instrumented build is)

Every buffer the C code reads is allocated by ``malloc`` at exactly its
length (ASan puts a poisoned zone on both sides), and every function is
called for payload lengths 0 to 4096 at every alignment 0 to 7, with the
frame ending exactly at the end of its buffer and cut short of it.  The
results must equal the pure-Python twins'.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wsproto_lite import _frames, _receiving, _runs, _speed

KEY = b"\x9d\x42\x07\xe1"
_malloc = ctypes.CDLL(None).malloc
_malloc.restype = ctypes.c_void_p
_malloc.argtypes = [ctypes.c_size_t]
_free = ctypes.CDLL(None).free
_free.argtypes = [ctypes.c_void_p]


def load(folder: str) -> Any:
    path = next(Path(folder).glob("_speedups*.so"))
    spec = importlib.util.spec_from_file_location("_speedups", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Exact:
    """``data`` in a block of exactly its length from ``malloc``, preceded
    by ``align`` bytes (so that the data starts at every alignment)."""

    def __init__(self, data: bytes, align: int) -> None:
        size = align + len(data)
        self.address = _malloc(max(size, 1))
        self.array = (ctypes.c_ubyte * size).from_address(self.address)
        ctypes.memmove(self.address + align, data, len(data))
        self.view = memoryview(self.array).cast("B")[align:]

    def free(self) -> None:
        self.view.release()
        _free(self.address)


def frames(length: int) -> Iterator[tuple[bytes, int]]:
    """A masked (server side) and an unmasked (client side) frame of
    ``length`` bytes, text of ASCII, with the header size of each role."""
    payload = bytes(65 + i % 26 for i in range(length))
    for mask in (True, False):
        if length < 126:
            header = bytes((0x81, length | (0x80 if mask else 0)))
        else:
            header = bytes((0x81, 126 | (0x80 if mask else 0))) + length.to_bytes(2, "big")
        body = KEY + bytes(_frames.apply_mask(payload, KEY)) if mask else payload
        yield header + body, 6 if mask else 2


def sweep(c: Any) -> int:
    calls = 0
    for length in range(4097):
        data = bytes((length * 7 + i) & 0xFF for i in range(length))
        for align in range(8):
            block = Exact(data, align)
            assert c.apply_mask(block.view, KEY) == bytes(_frames.apply_mask(data, KEY))
            header = bytes((0x82, 0x80 | min(length, 126)))
            assert c.mask_frame(header, KEY, block.view) == header + KEY + c.apply_mask(data, KEY)
            for key in (KEY, None):
                assert c.message_frame(block.view, key) == _frames.message_frame(data, key)
            text = data.decode("latin-1")  # not ASCII past 127: encoded first
            assert c.message_frame(text, KEY) == _frames.message_frame(text, KEY)
            block.free()
            for frame, head in frames(length):
                block = Exact(frame, align)
                mask = 0x80 if head == 6 else 0
                for end in {len(frame), len(frame) - 1, head + 1, 1, 0}:
                    if not 0 <= end <= len(frame):
                        continue
                    got = c.whole_frame(block.view, 0, end, head, mask, 0xFFFF)
                    assert got == _receiving.whole_frame(bytearray(frame), 0, end, head, mask, 0xFFFF)
                    run = bytes((frame[0] & 0x80,)) + frame[1:] if length <= 125 else b""
                    if run:
                        small = Exact(run, align)
                        got_run = c.small_frames(small.view, 0, end, head, mask, 125, 1 << 62)
                        want = _runs.small_frames(bytearray(run), 0, end, head, mask, 125, 1 << 62)
                        assert got_run == want, (length, align, end)
                        small.free()
                    calls += 3
                block.free()
    return calls


if __name__ == "__main__":
    _speed.select(False)  # the references are the pure functions
    print(f"swept: {sweep(load(sys.argv[1]))} calls")
