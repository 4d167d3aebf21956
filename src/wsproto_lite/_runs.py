"""Runs of small continuation frames, read at once (RFC 6455, 5.3 and 5.4).

A peer that fragments a message into small frames (64 bytes, say) makes the
general path's per-frame work (reading a header, checking it, unmasking a
few bytes, decoding them) cost many times the payload.  Only the
concatenation of a message's pieces matters, so once a data frame without
FIN has been taken, :class:`~wsproto_lite._receiving.Receiver` asks the two
readers here for the continuation frames that follow:

* :func:`equal_frames` for a run of frames that all have one length, the
  usual shape (senders cut messages into pieces of one size): no Python
  step per frame at all;
* :func:`small_frames` for frames of any length up to ``small``: a tight
  loop that checks each header with two comparisons and unmasks the whole
  run as one integer.

Both only *take* frames that are certainly valid: a continuation (opcode 0,
no RSV bit), the right MASK bit, a length within ``small`` (at most 125,
and within the frame limit) and within ``budget`` (what the message limit
leaves), whole in ``buf[:end]``.  Anything else ends the run, and the
general path then reads the next frame and fails it if it must.  Neither
changes any state: they return ``(where the run stopped, its payload
unmasked, whether its last frame had FIN)``, or ``None`` for no frame.

What they save, measured by benchmarks/fastpaths.py (docs/topics/performance.md):
without :func:`equal_frames`, 4 MiB of text in 64-byte fragments takes 2.2
times as long; without :func:`small_frames`, in fragments of 48 to 80 bytes,
5.3 times.  The compiled twin of :func:`small_frames` (wsproto_lite._speed)
walks any run at C speed, equal lengths included, and replaces both.
"""

from __future__ import annotations

from collections.abc import Callable

from ._frames import read_int

__all__ = ["RunReader", "equal_frames", "small_frames"]

#: The signature both readers share (and the compiled small_frames).
RunReader = Callable[[bytes | bytearray, int, int, int, int, int, int], "tuple[int, bytes, bool] | None"]


def equal_frames(
    buf: bytes | bytearray, stop: int, end: int, head: int, expect_mask: int, small: int, budget: int
) -> tuple[int, bytes, bool] | None:
    """The payloads of a run of continuation frames (5.4) that all have the
    header of the one at ``stop``, unmasked (5.3) and joined; where the run
    ends, and whether its last frame had FIN.  ``None`` if it is too short
    to pay for the fixed cost.

    Frames of one length lie at a fixed stride, so their headers are read
    as columns of the buffer (strided slices) and checked in C, and the
    payloads are gathered column by column, unmasked as one integer and
    interleaved back.
    """
    if end - stop < head:
        return None
    second = buf[stop + 1]
    length = second ^ expect_mask
    if buf[stop] or not 0 < length <= small:
        return None
    stride = head + length
    count = min((end - stop) // stride, budget // length)
    # Two strided slices per byte of one payload cost about as much as
    # walking 2 * length frames (measured for lengths 1 to 125): below
    # that, walking is cheaper.  A frame at the far end is probed first.
    least = 2 * length + 8
    probe = stop + (least - 1) * stride
    if count < least or buf[probe] & 0x7F or buf[probe + 1] != second:
        return None
    stop_all = stop + count * stride
    firsts = bytes(buf[stop:stop_all:stride])
    count -= len(firsts.lstrip(b"\x00"))  # the frames that continue without FIN
    finished = count < len(firsts) and firsts[count] == 0x80
    count += finished
    seconds = bytes(buf[stop + 1 : stop + count * stride : stride])
    same = len(seconds) - len(seconds.lstrip(bytes((second,))))
    if same < count:
        count, finished = same, False
    if count < least:
        return None
    stop_all = stop + count * stride
    at = stop + head
    columns = b"".join([buf[at + j : stop_all : stride] for j in range(length)])
    if expect_mask:
        keys = [buf[stop + 2 + j : stop_all : stride] for j in range(4)]
        stream = b"".join([keys[j & 3] for j in range(length)])
        columns = (read_int(columns, "little") ^ read_int(stream, "little")).to_bytes(len(columns), "little")
    out = bytearray(count * length)
    with memoryview(columns) as view:
        for j in range(length):
            out[j::length] = view[j * count : (j + 1) * count]
    return stop_all, bytes(out), finished


def small_frames(
    buf: bytes | bytearray, stop: int, end: int, head: int, expect_mask: int, small: int, budget: int
) -> tuple[int, bytes, bool] | None:
    """The payloads of the continuation frames of at most ``small`` bytes
    from ``stop`` on, unmasked and joined, with where they end and whether
    the last had FIN; ``None`` if the frame at ``stop`` is not one.

    One check per condition: a wrong MASK bit makes the length read 128 or
    more, and the key stream of the whole run is built as the payloads are
    gathered, so the run is unmasked by one integer XOR instead of one per
    frame (which costs more than reading the frame).
    """
    datas: list[bytes | bytearray] = []
    keys: list[bytes | bytearray] = []
    finished = False
    while True:
        start = stop + head
        if start > end:
            break
        first = buf[stop]
        length = buf[stop + 1] ^ expect_mask
        if first & 0x7F or length > small:
            break
        following = start + length
        if following > end or length > budget:
            break
        budget -= length
        if expect_mask:
            key = buf[stop + 2 : start]
            keys.append(key * (length >> 2) if not length & 3 else (key * ((length >> 2) + 1))[:length])
        datas.append(buf[start:following])
        stop = following
        if first:  # 0x80: the last piece
            finished = True
            break
    if not datas:
        return None
    run = b"".join(datas)
    if expect_mask:
        run = (read_int(run, "little") ^ read_int(b"".join(keys), "little")).to_bytes(len(run), "little")
    return stop, run, finished
