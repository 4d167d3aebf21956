"""Masking 1 MiB client frames in a process whose allocator has not settled.

    .venv/bin/python benchmarks/masking.py

The side-by-side run (``run.py``) keeps many megabytes alive, so the C
library reuses freed megabyte blocks and large temporaries cost nothing
extra.  A process that holds little, as a server between large messages
does, gets fresh pages for each block over 128 KiB instead; this script
shows what that costs each way of masking (see docs/topics/performance.md).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wsproto.frame_protocol

from wsproto_lite._frames import XOR_TABLES, encode_frame, mask_key

PAYLOAD = bytes(range(256)) * 4096


def whole_lanes() -> bytes:
    """Lanes over the whole frame in one buffer."""
    key = mask_key()
    frame = bytearray(b"\x82\xff" + len(PAYLOAD).to_bytes(8, "big") + key)
    frame += PAYLOAD
    for lane in range(4):
        frame[14 + lane :: 4] = frame[14 + lane :: 4].translate(XOR_TABLES[key[lane]])
    return bytes(frame)


def main() -> None:
    wsproto_client = wsproto.frame_protocol.FrameProtocol(client=True, extensions=[])
    ways: dict[str, Callable[[], bytes]] = {
        "wsproto_lite (lanes in 64 KiB pieces)": lambda: encode_frame(0x2, PAYLOAD, mask=True),
        "lanes over the whole frame": whole_lanes,
        "wsproto": lambda: bytes(wsproto_client.send_data(PAYLOAD, True)),
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(7):
        for name, way in ways.items():
            start = time.process_time()
            for _ in range(16):
                way()
            rates[name].append(16 * len(PAYLOAD) / 1e6 / (time.process_time() - start))
    for name, values in rates.items():
        print(f"{name:40} {statistics.median(values):6.0f} MB/s")


if __name__ == "__main__":
    main()
