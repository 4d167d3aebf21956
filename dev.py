#!/usr/bin/env python3
"""Set-up and checks for wsproto_lite; needs nothing but Python 3.11 or newer.

    python3 dev.py demo    run the demo: the chat of examples/chat/ on
                           http://127.0.0.1:8000/ (open it in a browser)
    python3 dev.py test    run every check: ruff, mypy --strict, and pytest with
                           branch coverage and the Autobahn conformance runs,
                           then pytest again in pure Python (the compiled
                           accelerator off; Autobahn runs compiled only)
    python3 dev.py docs    build the documentation site into docs/_build/html
                           (open docs/_build/html/index.html)
    python3 dev.py bench   the benchmark against wsproto and websockets
                           (--quick for a smoke run, --write to update
                           docs/topics/performance.md, --fastpaths for what
                           each fast path saves, --c10k for ten
                           thousand connections to the chat)

Both create ``.venv`` on first use and install the project and its
development dependencies into it (again whenever pyproject.toml changes);
``test`` also installs gcc, Chromium, redis-server and Graphviz with apt
when they are missing (gcc builds the optional C extension and its
AddressSanitizer copy; the browser and Redis tests start the others;
Graphviz draws the state diagram of the documentation), and the tests fetch
Node's ws package from npm and uvicorn's sdist from PyPI into ``.cache/``.
Extra arguments after ``test`` go to pytest, for example
``python3 dev.py test -k handshake``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if sys.platform == "win32" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".installed"
#: What ruff and mypy check: every folder of ours that holds Python code.
CHECKED = [
    name
    for name in ("src", "tests", "examples", "benchmarks", "docs", "dev.py")
    if name.endswith(".py") or any((ROOT / name).glob("**/*.py"))
]


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    shown = " ".join(f"{k}={v}" for k, v in (env or {}).items() if os.environ.get(k) != v)
    print("+", *([shown] if shown else []), " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)


def ensure_venv() -> None:
    """Create the virtual environment and install what pyproject.toml asks for."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be started by an older python3
        sys.exit(f"wsproto_lite needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    # Reinstalled when either changes: the editable install compiles the C.
    wanted = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "src" / "wsproto_lite" / "_speedups.c").read_bytes()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--editable", ".[dev]")
    STAMP.write_text(wanted)


#: The programs each command of dev.py starts, and the Debian package of
#: each: the tests start a browser and Redis for real, and Graphviz draws
#: the state diagram of the documentation.
STARTED = {
    "test": {"chromium": "chromium", "redis-server": "redis-server", "dot": "graphviz"},
    "docs": {"dot": "graphviz"},
}
#: What building the C extension needs besides gcc: files, and their package
#: (gcc only recommends the C library's headers).
BUILD_FILES = {Path("/usr/include/stdint.h"): "libc6-dev"}


def build_packages() -> list[str]:
    """The Debian packages missing to compile wsproto_lite._speedups."""
    missing = [package for path, package in BUILD_FILES.items() if not path.exists()]
    if shutil.which("gcc") is None:
        missing.append("gcc")
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists() and include.is_relative_to("/usr"):
        missing.append(f"python{sys.version_info.major}.{sys.version_info.minor}-dev")  # Debian's Python
    return missing


def venv_packages() -> list[str]:
    """The Debian package missing to create a virtual environment: Debian's
    own Python has ``ensurepip`` (which ``venv`` needs) only in its
    ``pythonX.Y-venv`` package."""
    if importlib.util.find_spec("ensurepip") is None and sys.prefix.startswith("/usr"):
        return [f"python{sys.version_info.major}.{sys.version_info.minor}-venv"]
    return []


def ensure_system_packages(command: str) -> None:
    """Install with apt what ``command`` needs and the machine lacks: what
    creates the virtual environment, what compiles the C extension (all but
    the demo, which runs without it), and the programs of
    ``STARTED[command]``.  Node's packages come from npm in the tests."""
    missing = venv_packages() + (build_packages() if command != "demo" else [])
    started = STARTED.get(command, {})
    missing += [package for program, package in started.items() if shutil.which(program) is None]
    missing = list(dict.fromkeys(missing))
    if not missing:
        return
    apt = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0 and shutil.which("sudo"):
        apt.insert(0, "sudo")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("+", " ".join(apt), flush=True)
    if subprocess.run(apt, env=env).returncode != 0:
        run(*apt[: apt.index("install")], "update")
        subprocess.run(apt, env=env, check=True)


def test(pytest_args: list[str]) -> None:
    run(BIN / "ruff", "check", *CHECKED)
    run(BIN / "ruff", "format", "--check", *CHECKED)
    run(BIN / "mypy", "--strict", *CHECKED)
    check_extension_built()
    # Twice: compiled (the default), then pure Python; the coverage of both
    # runs is added up, and the bar applies to the sum. A run of a subset
    # (extra arguments) cannot reach the bar.
    threshold = ["--cov-fail-under=0"] if pytest_args else []
    pytest: list[str | Path] = [PYTHON, "-m", "pytest", "--cov", "--cov-report=term-missing"]
    run(*pytest, "--cov-fail-under=0", *pytest_args)
    pure = dict(os.environ, WSPROTO_LITE_NO_SPEEDUPS="1")
    run(*pytest, "--cov-append", "-m", "not conformance and not build", *threshold, *pytest_args, env=pure)


def check_extension_built() -> None:
    """The editable install compiles wsproto_lite._speedups; build it again
    if an earlier install had no compiler, and say so plainly if it still
    cannot be built (the install itself goes on without it)."""
    probe = [str(PYTHON), "-c", "import wsproto_lite._speedups"]
    if subprocess.run(probe, cwd=ROOT, capture_output=True).returncode == 0:
        return
    run(PYTHON, "-m", "pip", "install", "--quiet", "--no-deps", "--editable", ".")
    if subprocess.run(probe, cwd=ROOT, capture_output=True).returncode != 0:
        sys.exit("wsproto_lite._speedups was not built: the tests need a C compiler and Python's headers")


def demo() -> None:
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops the chat
        run(PYTHON, ROOT / "examples" / "chat" / "server.py", "--port", "8000")


def docs() -> None:
    """Build the site as the test command does: nitpicky, every warning an
    error (a broken link or an undocumented name stops the build)."""
    out = ROOT / "docs" / "_build" / "html"
    # -E: read every page again, so that a warning is never hidden by a
    # page an earlier build left unchanged.
    run(PYTHON, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", "html", ROOT / "docs", out)
    print(f"the site is in {out}; open {out / 'index.html'}", flush=True)


def bench(args: list[str]) -> None:
    if "--fastpaths" in args:
        args.remove("--fastpaths")
        run(PYTHON, ROOT / "benchmarks" / "fastpaths.py", *args)
    elif "--c10k" in args:
        args.remove("--c10k")
        run(PYTHON, ROOT / "benchmarks" / "c10k.py", *args)
    else:
        run(PYTHON, ROOT / "benchmarks" / "run.py", *args)


def main() -> None:
    command, *rest = sys.argv[1:] or ["help"]
    commands: dict[str, Callable[[], None]] = {
        "test": lambda: test(rest),
        "demo": demo,
        "docs": docs,
        "bench": lambda: bench(rest),
    }
    if command not in commands:
        sys.exit(__doc__)
    ensure_system_packages(command)  # before the install, which compiles the extension
    ensure_venv()
    try:
        commands[command]()
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
