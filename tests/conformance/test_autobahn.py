"""The Autobahn TestSuite in both roles (RFC 6455 as a whole).

Every case except the compression ones must end OK or INFORMATIONAL.
"""

from __future__ import annotations

import pytest

from . import autobahn

pytestmark = pytest.mark.conformance


def _failing(outcomes: list[autobahn.Outcome]) -> list[str]:
    return [f"{o.case}: {o.behavior} / {o.close}" for o in outcomes if not o.passed]


def test_server_role_passes_autobahn() -> None:
    outcomes = autobahn.server_role()
    assert len(outcomes) > 290, "kosoku ran fewer cases than the suite has"
    assert _failing(outcomes) == []


def test_client_role_passes_autobahn() -> None:
    outcomes = autobahn.client_role()
    assert len(outcomes) > 290, "kosoku ran fewer cases than the suite has"
    assert _failing(outcomes) == []
