"""uvicorn's own WebSocket tests, unmodified, against
wsproto_lite.uvicorn:WebSocketProtocol, on each of uvicorn's HTTP
implementations (h11, httptools, zttp).

The sdist of the uvicorn that is installed (pyproject.toml pins it, the one
place its version is kept) is downloaded once into .cache/ and its tests/
folder and pytest configuration (warnings are errors) copied beside
nothing else, so the installed uvicorn is the one under test. A plugin
(tests/uvicorn_suite/wsproto_lite_uvicorn_plugin.py) parametrizes the
``ws_protocol_cls`` fixture with our class. Two tests are deselected, and
only they: they assert ``isinstance(protocol, (<uvicorn's wsproto class>,
<uvicorn's websockets class>))``, which no third class can pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

from ..helpers import ROOT

CACHE = ROOT / ".cache"
PLUGIN_DIR = ROOT / "tests" / "uvicorn_suite"
#: The two cases that check for uvicorn's own classes (see the module docstring).
DESELECTED = ("test_server_keepalive_ping_pong", "test_server_keepalive_disabled")
TEST_FILE = "tests/protocols/test_websocket.py"
PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]


def uvicorn_tests(tmp: Path) -> Path:
    """A folder with the installed uvicorn's tests and pytest settings."""
    release = version("uvicorn")
    sdist = CACHE / f"uvicorn-{release}.tar.gz"
    if not sdist.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            [*PIP_DOWNLOAD, "--dest", str(CACHE), f"uvicorn=={release}"],
            check=True,
            timeout=300,
        )
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp, filter="data")
    source = tmp / f"uvicorn-{release}"
    suite = tmp / "suite"
    suite.mkdir()
    shutil.copytree(source / "tests", suite / "tests")
    shutil.copy(source / "pyproject.toml", suite / "pyproject.toml")
    return suite


def test_uvicorn_websocket_suite_passes_against_our_protocol(tmp_path: Path) -> None:
    suite = uvicorn_tests(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR))
    command = [sys.executable, "-m", "pytest", TEST_FILE, "-q", "-p", "wsproto_lite_uvicorn_plugin"]
    command += ["-o", "addopts=", "-p", "no:cacheprovider"]
    for name in DESELECTED:
        command += ["--deselect", f"{TEST_FILE}::{name}"]
    result = subprocess.run(command, cwd=suite, env=env, capture_output=True, text=True, timeout=900)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # Every case but the deselected ones ran on the three HTTP implementations.
    match = re.search(r"(\d+) passed", summary)
    assert match, summary
    assert int(match.group(1)) == 219, summary
    assert "skipped" not in summary, summary
    assert "failed" not in summary, summary
