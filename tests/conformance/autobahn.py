"""Run the Autobahn TestSuite through kosoku against wsproto_lite, both roles.

* Server role: kosoku's fuzzing client drives ``examples/socket_echo.py``,
  started as a separate process, the way a user would run it.
* Client role: kosoku's fuzzing server is driven by the client of
  :mod:`tests.conformance.autobahn_client`.

``python -m tests.conformance.autobahn`` runs both and rewrites
``docs/topics/conformance.md``.  A case passes when both its message verdict and
its closing verdict are OK or INFORMATIONAL; NON-STRICT counts as failed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import kosoku

from ..helpers import ROOT, echo_server
from . import autobahn_client

#: Cases left out of the run: none, the whole suite runs in both roles.
EXCLUDED: list[str] = []
#: kosoku runs at most this many cases at once (the machines have 2 cores).
PARALLEL = 2
PASSING = frozenset(("OK", "INFORMATIONAL"))


@dataclass(frozen=True)
class Outcome:
    case: str
    behavior: str
    close: str

    @property
    def passed(self) -> bool:
        return self.behavior in PASSING and self.close in PASSING


def _outcomes(results: list[kosoku.CaseResult]) -> list[Outcome]:  # type: ignore[name-defined]
    return [Outcome(r.case_id, r.behavior.value, r.behavior_close.value) for r in results]


async def _server_role(port: int) -> list[Outcome]:
    try:
        results = await kosoku.run_fuzzingclient(
            f"ws://127.0.0.1:{port}", exclude_cases=EXCLUDED, concurrency=PARALLEL
        )
    except kosoku.FailureError as failure:
        results = failure.results
    return _outcomes(results)


def server_role() -> list[Outcome]:
    """kosoku as the client against the echo server."""
    with echo_server("--max-message-size", "0") as port:
        return asyncio.run(_server_role(port))


async def _client_role() -> list[Outcome]:
    async with kosoku.run_fuzzingserver(exclude_cases=EXCLUDED, port=0) as server:
        await asyncio.to_thread(autobahn_client.run, server.address, server.port, PARALLEL)
        try:
            results = await asyncio.wait_for(server.get_result(), timeout=120)
        except kosoku.FailureError as failure:
            results = failure.results
    return _outcomes(results)


def client_role() -> list[Outcome]:
    """kosoku's fuzzing server against a wsproto_lite client."""
    return asyncio.run(_client_role())


def _group(case: str) -> str:
    return case.split(".")[0]


def table(server: list[Outcome], client: list[Outcome]) -> str:
    """docs/topics/conformance.md, from the outcomes of both roles."""
    lines = [
        "# Conformance: the Autobahn TestSuite",
        "",
        "wsproto_lite is run against the Autobahn TestSuite's case files with",
        "[kosoku](https://pypi.org/project/kosoku/), in both roles, as part of the",
        "test command (`tests/conformance/`). This page is written by",
        "`python -m tests.conformance.autobahn`; do not edit it by hand.",
        "",
        "- **Server**: kosoku's fuzzing client against `examples/socket_echo.py`.",
        "- **Client**: kosoku's fuzzing server against the client in",
        "  `tests/conformance/autobahn_client.py`.",
        "",
        "A case passes when both its message verdict and its closing verdict are",
        "OK or INFORMATIONAL; NON-STRICT, FAILED and anything else fail the test run.",
        f"Cases left out: {', '.join(EXCLUDED) or 'none'}. The compression cases (12.* and 13.*)",
        "run with permessage-deflate; the conformance client offers",
        "`client_no_context_takeover`, because kosoku's server requests it only when",
        "offered (the interop tests cover a client compressing with context takeover).",
        "",
        "## Totals",
        "",
        "| role | cases | " + " | ".join(("OK", "INFORMATIONAL", "other")) + " |",
        "|---|---|---|---|---|",
    ]
    for role, outcomes in (("server", server), ("client", client)):
        verdicts = Counter(
            "OK" if (o.behavior, o.close) == ("OK", "OK") else "INFORMATIONAL" if o.passed else "other"
            for o in outcomes
        )
        counts = " | ".join(str(verdicts[v]) for v in ("OK", "INFORMATIONAL", "other"))
        lines.append(f"| {role} | {len(outcomes)} | {counts} |")
    lines += ["", "## By group", "", "| group | server | client |", "|---|---|---|"]
    groups = sorted({_group(o.case) for o in server + client}, key=int)
    for group in groups:
        cells = []
        for outcomes in (server, client):
            mine = [o for o in outcomes if _group(o.case) == group]
            cells.append(f"{sum(o.passed for o in mine)}/{len(mine)} pass")
        lines.append(f"| {group}.* | {cells[0]} | {cells[1]} |")
    informational = sorted(
        {o.case for o in server + client if o.passed and "INFORMATIONAL" in (o.behavior, o.close)}
    )
    lines += [
        "",
        "## INFORMATIONAL cases",
        "",
        "Autobahn marks these cases informational: the RFC leaves the behaviour",
        "open, so no verdict is given. " + (", ".join(informational) or "None") + ".",
        "",
        "- 7.1.6: a 256 KiB message, a close and a ping are sent back to back;",
        "  wsproto_lite echoes the message, then answers the close, and drops the ping",
        "  that follows the close frame.",
        "- 7.13.1 and 7.13.2: close frames with codes 5000 and 65535, outside every",
        "  range of section 7.4; wsproto_lite fails the connection with 1002.",
    ]
    failing = [
        f"{role}: {o.case} {o.behavior}/{o.close}"
        for role, outs in (("server", server), ("client", client))
        for o in outs
        if not o.passed
    ]
    if failing:
        lines += ["", "## Failing cases", ""] + [f"- {line}" for line in failing]
    return "\n".join(lines) + "\n"


def main() -> None:
    server = server_role()
    client = client_role()
    (ROOT / "docs" / "topics" / "conformance.md").write_text(table(server, client))
    failed = [o for o in server + client if not o.passed]
    print(f"server {len(server)} cases, client {len(client)} cases, {len(failed)} failing")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
