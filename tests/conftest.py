"""Test-wide settings."""

from hypothesis import settings

from wsproto_lite import _speed

# Speed is measured in benchmarks/, never asserted in tests: hypothesis's
# per-example deadline would be a timed assertion on a shared machine.
settings.register_profile("wsproto_lite", deadline=None)
settings.load_profile("wsproto_lite")


def pytest_report_header() -> str:
    """Which mode the suite runs in (python3 dev.py test runs both)."""
    built = "built" if _speed.speedups is not None else "not built"
    mode = "compiled" if _speed.compiled() else "pure Python"
    return f"wsproto_lite: {mode} (wsproto_lite._speedups {built}; WSPROTO_LITE_NO_SPEEDUPS=1 for pure)"
