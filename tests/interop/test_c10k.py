"""benchmarks/c10k.py runs, small, against both chats, and its own checks
pass (every steady-state message reaches exactly the nine others of its
room, every fan-out copy is the sender's frame); the numbers are not
asserted: speed goes into the benchmark, never into a test."""

from __future__ import annotations

import subprocess
import sys

from ..helpers import ROOT


def test_the_c10k_benchmark_runs_small_and_checks_its_results() -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "c10k.py"), "--connections", "100"]
    command += ["--steady-seconds", "1", "--rounds", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| memory per connection |" in result.stdout
    assert "Traceback" not in result.stderr
