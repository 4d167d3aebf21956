"""Test-wide settings."""

from hypothesis import settings

# Speed is measured in benchmarks/, never asserted in tests: hypothesis's
# per-example deadline would be a timed assertion on a shared machine.
settings.register_profile("wsproto_lite", deadline=None)
settings.load_profile("wsproto_lite")
