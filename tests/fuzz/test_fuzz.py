"""The fuzz targets: the seed corpus and past crashes replayed, and a short
coverage-guided run of each target (about a minute in all).

The long runs are documented in docs/topics/security.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT
from .targets import TARGETS

HERE = Path(__file__).resolve().parent
SECONDS = 30  # per target


def inputs() -> list[tuple[str, Path]]:
    found = []
    for target in TARGETS:
        for folder in (HERE / "corpus" / target, HERE / "regressions" / target):
            if folder.is_dir():
                found += [(target, path) for path in sorted(folder.iterdir())]
    return found


def test_every_target_has_seeds() -> None:
    assert {target for target, _ in inputs()} == set(TARGETS)


@pytest.mark.parametrize(("target", "path"), inputs(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_saved_input_runs_cleanly(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_bounded_fuzz_run_finds_nothing(target: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz", target, "--seconds", str(SECONDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS * 10,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "Done" in proc.stderr
