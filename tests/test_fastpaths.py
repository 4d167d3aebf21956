"""Every fast path does what the way it short-cuts does: the events
received and the bytes sent are the same with it and without it (the
benchmark of benchmarks/fastpaths.py checks the same on its full inputs)."""

from __future__ import annotations

import pytest
from benchmarks.fastpaths import FastPath, fast_paths, measure

PATHS = fast_paths(300, text_size=20_000)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: f"{path.name} / {path.workload}")
def test_fast_path_changes_nothing_but_speed(path: FastPath) -> None:
    measure(path, repeats=1)  # exits, saying which, if the results differ
