"""The optional compiled accelerator, wsproto_lite._speedups: the same bytes
and events as pure Python, within its buffers for any arguments, chosen by
the environment, and optional at install time.

The whole suite runs in both modes (``python3 dev.py test`` runs it a second
time with ``WSPROTO_LITE_NO_SPEEDUPS=1``); these tests compare the two in one
process, through :func:`wsproto_lite._speed.select`.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsproto_lite import _frames, _runs, _speed, connection
from wsproto_lite.events import Close, Event, Message, Ping, Pong
from wsproto_lite.extensions import PerMessageDeflate

from .helpers import ROOT, pair


@pytest.fixture(scope="module")
def c() -> ModuleType:
    """The compiled module: ``python3 dev.py test`` installs a C compiler,
    so a missing build is a failure, not a skip."""
    assert _speed.speedups is not None, "wsproto_lite._speedups was not built: is a C compiler installed?"
    return _speed.speedups


@pytest.fixture
def mode() -> Iterator[Callable[[bool], None]]:
    """``select``, with the mode the suite runs in put back afterwards."""
    before = _speed.compiled()
    yield _speed.select
    _speed.select(before)


def test_the_environment_chooses_the_mode(c: ModuleType) -> None:
    script = "import wsproto_lite._speed as s; print(s.compiled())"
    for value, expected in (("", "True"), ("0", "True"), ("1", "False"), ("yes", "False")):
        env = dict(os.environ, WSPROTO_LITE_NO_SPEEDUPS=value)
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == expected, (value, out.stderr)


def compiled_globals() -> list[str]:
    """Every global of a wsproto_lite module that is a compiled function."""
    found = []
    for name, module in list(sys.modules.items()):
        if name.startswith("wsproto_lite") and name != "wsproto_lite._speedups":
            for key, value in vars(module).items():
                members = value if isinstance(value, tuple) else (value,)
                if any(getattr(m, "__module__", "") == "wsproto_lite._speedups" for m in members):
                    found.append(f"{name}.{key}")
    return sorted(found)


def test_select_binds_every_twin_and_nothing_else(c: ModuleType, mode: Callable[[bool], None]) -> None:
    mode(False)
    assert compiled_globals() == []
    assert not _speed.compiled()
    mode(True)
    assert compiled_globals() == [
        "wsproto_lite._frames.apply_mask",
        "wsproto_lite._frames.mask_frame",
        "wsproto_lite._receiving.apply_mask",
        "wsproto_lite._receiving.run_readers",
        "wsproto_lite._receiving.whole_frame",
        "wsproto_lite.connection.message_frame",
    ]
    assert _speed.compiled()


def test_selecting_a_build_that_is_missing_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_speed, "speedups", None)
    with pytest.raises(ImportError, match="no C compiler at install time"):
        _speed.select(True)


# -- The twins, function by function --------------------------------------------

keys = st.binary(min_size=4, max_size=4)
sizes = st.one_of(st.integers(0, 300), st.integers(2000, 2100), st.integers(65530, 65540))


@given(st.data(), keys, sizes)
def test_5_3_compiled_masking_equals_pure(c: ModuleType, data: st.DataObject, key: bytes, size: int) -> None:
    payload = random.Random(size).randbytes(size)
    expected = bytes(b ^ key[i % 4] for i, b in enumerate(payload[:64]))
    assert c.apply_mask(payload, key)[:64] == expected
    assert c.apply_mask(payload, key) == bytes(_speed.pure("apply_mask")(payload, key))
    header = data.draw(st.binary(max_size=14))
    assert c.mask_frame(header, key, payload) == _speed.pure("mask_frame")(header, key, payload)
    for message in (payload, payload.decode("latin-1"), payload.hex()):
        for mask in (key, None):
            assert c.message_frame(message, mask) == _speed.pure("message_frame")(message, mask)


@given(st.text(min_size=1), keys)
def test_compiled_message_frames_equal_pure_for_any_text(c: ModuleType, text: str, key: bytes) -> None:
    # Any text, lone surrogates included: the same frame, or the same error.
    for mask in (key, None):
        try:
            expected: bytes | type[Exception] = _speed.pure("message_frame")(text, mask)
        except UnicodeEncodeError:
            expected = UnicodeEncodeError
        try:
            got: bytes | type[Exception] = c.message_frame(text, mask)
        except UnicodeEncodeError:
            got = UnicodeEncodeError
        assert got == expected


def test_compiled_functions_refuse_bad_arguments(c: ModuleType) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        c.apply_mask(b"abc", b"key")
    with pytest.raises(ValueError, match="14 bytes"):
        c.mask_frame(bytes(15), b"abcd", b"")
    with pytest.raises(TypeError):
        c.apply_mask(b"abc")
    with pytest.raises(ValueError, match="4 bytes"):
        c.message_frame(b"abc", b"key")
    with pytest.raises(TypeError):
        c.message_frame(12, None)
    buf = bytearray(b"\x81\x00")
    for pos, end, head, mask in ((0, 3, 2, 0), (-1, 2, 2, 0), (2, 1, 2, 0), (0, 2, 6, 0), (0, 2, 2, 0x80)):
        with pytest.raises(ValueError, match="outside the buffer"):
            c.whole_frame(buf, pos, end, head, mask, 100)
        with pytest.raises(ValueError, match="outside the buffer"):
            c.small_frames(buf, pos, end, head, mask, 100, 100)
    with pytest.raises(OverflowError):
        c.whole_frame(buf, 1 << 70, 2, 2, 0, 100)


@st.composite
def frame_bytes(draw: st.DrawFn, masked: bool) -> bytes:
    """A frame, often valid, sometimes not (any first byte, a wrong MASK
    bit, bad UTF-8, a 64-bit length)."""
    first = draw(st.sampled_from([0x81, 0x82, 0x80, 0x00, 0x01, 0x89, 0xC1, 0x83])) | draw(
        st.sampled_from([0, 0, 0, 0x80])
    )
    payload = draw(
        st.one_of(
            st.text(max_size=40).map(str.encode),
            st.binary(max_size=200),
            st.sampled_from([b"\xff", b"\xe2\x82", "é".encode() * 100, b"x" * 300]),
        )
    )
    mask = masked != draw(st.booleans().map(lambda wrong: wrong and draw(st.integers(0, 9)) == 0))
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126 and draw(st.integers(0, 15)) != 0:
        header = bytes((first, n | bit))
    elif draw(st.integers(0, 7)):
        header = bytes((first, 126 | bit)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, 127 | bit)) + n.to_bytes(8, "big")
    if not mask:
        return header + payload
    key = draw(keys)
    return header + key + bytes(_frames.apply_mask(payload, key))


@settings(max_examples=400)
@given(st.data(), st.booleans())
def test_compiled_readers_equal_pure(c: ModuleType, data: st.DataObject, masked: bool) -> None:
    # The fast path and the run reader take exactly the frames the pure
    # functions take, from any position, to any end, under any limits.
    frames = data.draw(st.lists(frame_bytes(masked), max_size=12))
    buf = bytearray(b"".join(frames))
    starts = [sum(map(len, frames[:i])) for i in range(len(frames) + 1)]  # where frames begin
    pos = data.draw(st.one_of(st.sampled_from(starts), st.integers(0, len(buf))))
    end = data.draw(st.one_of(st.just(len(buf)), st.integers(pos, len(buf))))
    head, mask = (6, 0x80) if masked else (2, 0)
    limit = data.draw(st.sampled_from([-1, 0, 5, 125, 126, 300, 0xFFFF]))
    budget = data.draw(st.sampled_from([-1, 0, 10, 1000, 1 << 62]))
    pure_whole = _speed.pure("whole_frame")
    assert c.whole_frame(buf, pos, end, head, mask, limit) == pure_whole(buf, pos, end, head, mask, limit)
    small = min(limit, 125)
    assert c.small_frames(buf, pos, end, head, mask, small, budget) == _runs.small_frames(
        buf, pos, end, head, mask, small, budget
    )


# -- Whole connections in both modes: the same bytes and the same events ----------


def keys_from(seed: int) -> Callable[[], bytes]:
    generator = random.Random(seed)
    return lambda: generator.randbytes(4)


events_to_send = st.one_of(
    st.builds(Message, st.text(max_size=300)),
    st.builds(Message, st.binary(max_size=3000)),
    st.builds(Message, st.text(max_size=80), message_finished=st.booleans()),
    st.builds(Ping, st.binary(max_size=125)),
    st.builds(Pong, st.binary(max_size=125)),
)


def run_both_modes(
    events: list[Event], deflate: bool, cuts: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client sends ``events`` and a server reads them, each mode with
    the same masking keys: both modes give the same bytes and events."""
    results = []
    for compiled in (True, False):
        _speed.select(compiled)
        monkeypatch.setattr(connection, "mask_key", keys_from(len(events)))
        monkeypatch.setattr(_frames, "mask_key", keys_from(len(events) + 1))
        options = {"extensions": [PerMessageDeflate()]} if deflate else {}
        client, server = pair(client_opts=dict(options), server_opts=dict(options))
        wire = b""
        fragmenting = False
        for event in events:
            if isinstance(event, Message) and fragmenting and isinstance(event.data, bytes):
                continue  # a fragmented message keeps its first piece's type
            wire += client.send(event)
            if isinstance(event, Message):
                fragmenting = not event.message_finished and isinstance(event.data, str)
        got: list[Event] = []
        for start, stop in zip([0, *cuts], [*cuts, len(wire)], strict=True):
            if start < stop:
                server.receive_data(wire[start:stop])
                got += list(server.events())
        results.append((wire, got, server.data_to_send()))
    assert results[0] == results[1]


@settings(max_examples=150, deadline=None)
@given(st.lists(events_to_send, max_size=12), st.booleans(), st.lists(st.integers(0, 20_000), max_size=4))
def test_both_modes_send_and_receive_identically(
    c: ModuleType, events: list[Event], deflate: bool, cuts: list[int]
) -> None:
    before = _speed.compiled()
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            run_both_modes(events, deflate, sorted(cuts), monkeypatch)
        finally:
            _speed.select(before)


def test_hostile_stream_fails_the_same_way_in_both_modes(c: ModuleType, mode: Callable[[bool], None]) -> None:
    # A message's fragments, then bad UTF-8 in a whole frame: 1007 in both.
    key = b"\x01\x02\x03\x04"
    good = b"\x01\x82" + key + bytes(_frames.apply_mask(b"ab", key))
    more = b"\x80\x81" + key + bytes(_frames.apply_mask(b"c", key))
    bad = b"\x81\x81" + key + bytes(_frames.apply_mask(b"\xff", key))
    seen = []
    for compiled in (True, False):
        mode(compiled)
        _, server = pair()
        server.receive_data(good + more + bad)
        seen.append((list(server.events()), server.data_to_send()))
    assert seen[0] == seen[1]
    assert seen[0][0] == [Message("abc"), Close(1007, "text message is not valid UTF-8 (8.1)")]


# -- Bounds: no read or write outside a buffer ------------------------------------


def sweep(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """Build ``source`` (the extension's C) with AddressSanitizer and run
    tests/speedups_sweep.py against it."""
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc is not None, "the bounds sweep needs gcc (python3 dev.py test installs it)"
    asan = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True)
    library = asan.stdout.strip()
    assert Path(library).is_file(), "gcc's libasan (AddressSanitizer) is missing"
    (tmp_path / "speedups.c").write_text(source)
    include = sysconfig.get_paths()["include"]
    build = [cc, "-shared", "-fPIC", "-O2", "-g", "-fsanitize=address", f"-I{include}"]
    subprocess.run([*build, str(tmp_path / "speedups.c"), "-o", str(tmp_path / "_speedups.so")], check=True)
    env = dict(os.environ, LD_PRELOAD=library, ASAN_OPTIONS="detect_leaks=0", PYTHONMALLOC="malloc")
    script = ROOT / "tests" / "speedups_sweep.py"
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
    )


SOURCE = ROOT / "src" / "wsproto_lite" / "_speedups.c"


@pytest.mark.build
def test_bounds_sweep_under_address_sanitizer(tmp_path: Path) -> None:
    # Lengths 0-4096, every alignment, each buffer exactly its size: the
    # extension built with AddressSanitizer stops at the first byte read or
    # written outside one (tests/speedups_sweep.py).
    out = sweep(tmp_path, SOURCE.read_text())
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("swept: ")


@pytest.mark.build
@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("for (; i < n; i++) {", "for (; i <= n; i++) {"),  # masking reads and writes a byte too many
        ("length > f.end - start", "length > f.end + 1 - start"),  # a run reads past its end
    ],
)
def test_the_sweep_catches_a_byte_outside(tmp_path: Path, right: str, wrong: str) -> None:
    # The sweep's own check: with one bound off by one, it must stop.
    source = SOURCE.read_text()
    assert right in source
    out = sweep(tmp_path, source.replace(right, wrong, 1))
    assert out.returncode != 0
    assert "AddressSanitizer" in out.stderr or "AssertionError" in out.stderr


# -- Installing: with a compiler and without -----------------------------------


def install(tmp_path: Path, name: str, env: dict[str, str]) -> Path:
    """``pip install .`` of a copy of the project's sources into a new
    virtual environment; the Python of that environment."""
    source = tmp_path / f"{name}-src"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    for file in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / file, source / file)
    home = tmp_path / name
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(source)],
        env=dict(os.environ, **env),
        check=True,
        timeout=600,
    )
    return python


CHECK = (
    "import wsproto_lite._speed as s; from wsproto_lite import Connection, Role;"
    "from wsproto_lite.events import Request;"
    "c = Connection(Role.CLIENT); c.send(Request(host='h', target='/'));"
    "print(s.speedups is not None, s.compiled())"
)


@pytest.mark.build
def test_pip_install_builds_the_extension_with_a_compiler_and_goes_on_without(tmp_path: Path) -> None:
    for name, env, expected in (
        ("with", {}, "True True"),
        ("without", {"CC": str(tmp_path / "no-such-compiler")}, "False False"),
    ):
        python = install(tmp_path, name, env)
        clean = {k: v for k, v in os.environ.items() if k != "WSPROTO_LITE_NO_SPEEDUPS"}
        out = subprocess.run(
            [str(python), "-c", CHECK], env=clean, capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == expected, (name, out.stderr)
