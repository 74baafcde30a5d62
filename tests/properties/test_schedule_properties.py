"""Hypothesis: the backoff after failures never overflows and never passes its cap."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from calsync.core.schedule import SyncSchedule

YEAR = timedelta(days=365)
_US = timedelta(microseconds=1)
durations = st.timedeltas(min_value=timedelta(seconds=1), max_value=YEAR)


@given(
    interval=durations,
    max_backoff=durations,
    failures=st.integers(min_value=1, max_value=10**9),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_stays_within_the_cap(
    interval: timedelta, max_backoff: timedelta, failures: int, jitter: float
) -> None:
    """Any interval up to a year and any failure count: a delay in (0, max_backoff], no error."""
    schedule = SyncSchedule(interval=interval, max_backoff=max_backoff)
    delay = schedule.next_delay(failures=failures, jitter=jitter)
    assert timedelta() < delay <= max_backoff


@given(interval=durations, max_backoff=durations, failures=st.integers(1, 62))
def test_backoff_doubles_until_the_cap(
    interval: timedelta, max_backoff: timedelta, failures: int
) -> None:
    """Below the cap the delay is exactly interval × 2^(failures-1)."""
    schedule = SyncSchedule(interval=interval, max_backoff=max_backoff)
    microseconds = min(interval // _US * 2 ** (failures - 1), max_backoff // _US)
    assert schedule.next_delay(failures=failures) == timedelta(microseconds=microseconds)


@given(interval=durations, max_backoff=durations, failures=st.integers(1, 10**9))
def test_a_failure_no_retry_passes_always_waits_the_cap(
    interval: timedelta, max_backoff: timedelta, failures: int
) -> None:
    """Whatever the interval and the count, a failure that is not retryable waits max_backoff."""
    schedule = SyncSchedule(interval=interval, max_backoff=max_backoff)
    assert schedule.next_delay(failures=failures, retryable=False) == max_backoff
