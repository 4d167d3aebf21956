"""The Autobahn TestSuite in both roles (RFC 6455 as a whole).

Every case, compression (RFC 7692) included, must end OK or INFORMATIONAL.
"""

from __future__ import annotations

import pytest

from . import autobahn

pytestmark = pytest.mark.conformance

#: Cases in kosoku 0.1.0's copy of the suite: 301 without compression, 216 with.
SUITE_SIZE = 517


def _failing(outcomes: list[autobahn.Outcome]) -> list[str]:
    return [f"{o.case}: {o.behavior} / {o.close}" for o in outcomes if not o.passed]


def test_server_role_passes_autobahn() -> None:
    outcomes = autobahn.server_role()
    assert len(outcomes) == SUITE_SIZE, "kosoku ran a different number of cases than the suite has"
    assert _failing(outcomes) == []


def test_client_role_passes_autobahn() -> None:
    outcomes = autobahn.client_role()
    assert len(outcomes) == SUITE_SIZE, "kosoku ran a different number of cases than the suite has"
    assert _failing(outcomes) == []
