"""Run a fuzz target under atheris, or rewrite the seed corpus.

    python -m tests.fuzz TARGET [--seconds N] [libFuzzer options...]
    python -m tests.fuzz seeds

TARGET is server or client (frames in every state), handshake-server or
handshake-client (the opening handshake's heads), or twins (the compiled
accelerator against its pure-Python twins).

A run starts from the seeds in ``tests/fuzz/corpus/<target>`` and keeps what
it finds in ``.fuzz/<target>`` (not in the repository); a crash is written
to ``.fuzz/<target>-crash-*`` and the exit status is not 0.  Turn each crash
into a file in ``tests/fuzz/regressions/<target>`` and fix it: the test
suite replays that folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
WORK = HERE.parents[1] / ".fuzz"


def libfuzzer_args(target: str, seconds: int, extra: list[str]) -> list[str]:
    corpus = WORK / target
    corpus.mkdir(parents=True, exist_ok=True)
    return [
        f"-max_total_time={seconds}",
        "-timeout=10",  # one input taking 10 s is a hang
        "-rss_limit_mb=2048",  # growing past this is a leak or an unbounded buffer
        "-max_len=8192",
        f"-dict={HERE / 'websocket.dict'}",
        f"-artifact_prefix={WORK / target}-",
        *extra,
        str(corpus),  # the first folder gets what the run finds
        str(HERE / "corpus" / target),
    ]


def main() -> None:
    target, *rest = sys.argv[1:] or ["help"]
    if target == "seeds":
        from .seeds import write_seeds

        write_seeds()
        return
    if target not in ("server", "client", "handshake-server", "handshake-client", "twins"):
        sys.exit(__doc__)
    seconds = 60
    if rest[:1] == ["--seconds"]:
        seconds, rest = int(rest[1]), rest[2:]
    with atheris.instrument_imports(include=["wsproto_lite", "h11"]):
        from .targets import TARGETS
    atheris.Setup([sys.argv[0], *libfuzzer_args(target, seconds, rest)], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
