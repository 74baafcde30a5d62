"""Properties of the login lockout (calsync.core.throttle)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.core.throttle import Lockout

lockouts = st.builds(
    Lockout,
    free_failures=st.integers(0, 50),
    first=st.integers(1, 3600).map(lambda s: timedelta(seconds=s)),
    longest=st.integers(1, 86_400).map(lambda s: timedelta(seconds=s)),
)


@given(lockouts, st.integers(0, 10_000))
def test_the_wait_never_shrinks_and_never_passes_the_cap(lockout, failures):
    """One more failure never waits less; no wait is longer than ``longest``."""
    assert lockout.after(failures) <= lockout.after(failures + 1)
    assert lockout.after(failures) <= max(lockout.longest, timedelta(0))


@given(lockouts, st.integers(0, 50))
def test_free_failures_cost_nothing(lockout, failures):
    """Failures up to the free ones wait nothing; the next one waits."""
    if failures < lockout.free_failures:
        assert timedelta(0) == lockout.after(failures)
    else:
        assert lockout.after(failures) > timedelta(0)
