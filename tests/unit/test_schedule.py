"""The sync interval, its jitter and the backoff after failures, as values (no sleeping)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calsync.core.schedule import SyncSchedule

SCHEDULE = SyncSchedule(interval=timedelta(minutes=15), max_backoff=timedelta(hours=6))


def test_backoff_doubles_from_the_interval_up_to_the_cap():
    """Failures 1, 2, 3, … wait 15, 30, 60, … minutes, never more than 6 hours."""
    delays = [SCHEDULE.next_delay(failures=n) for n in range(1, 9)]
    assert delays == [timedelta(minutes=m) for m in (15, 30, 60, 120, 240, 360, 360, 360)]


def test_huge_failure_counts_stay_capped():
    """A calendar failing for months does not overflow: the cap holds."""
    assert SCHEDULE.next_delay(failures=10_000) == timedelta(hours=6)


def test_retry_after_is_honoured_and_capped():
    """Retry-After replaces the backoff, within the cap."""
    assert SCHEDULE.next_delay(failures=1, retry_after=timedelta(minutes=42)) == timedelta(
        minutes=42
    )
    assert SCHEDULE.next_delay(failures=1, retry_after=timedelta(days=3)) == timedelta(hours=6)


@pytest.mark.parametrize(("jitter", "minutes"), [(0.0, 13.5), (0.5, 15.0), (0.999999, 16.5)])
def test_success_spreads_within_ten_percent(jitter, minutes):
    """After a success the next sync is interval ± 10 %, by the jitter given."""
    assert SCHEDULE.next_delay(failures=0, jitter=jitter) == pytest.approx(
        timedelta(minutes=minutes), abs=timedelta(seconds=1)
    )


def test_issue_truth_6_long_interval_after_33_failures_does_not_overflow():
    """sync.interval_minutes = 400 and a 33rd failure in a row: the cap, not an OverflowError."""
    schedule = SyncSchedule(interval=timedelta(minutes=400), max_backoff=timedelta(hours=6))
    assert schedule.next_delay(failures=33) == timedelta(hours=6)


def test_a_failure_no_retry_passes_waits_the_cap_at_once():
    """Not retryable (a 404, a 403): the first failure waits the cap, not the interval."""
    assert [SCHEDULE.next_delay(failures=n, retryable=False) for n in (1, 2, 5)] == [
        timedelta(hours=6)
    ] * 3


def test_success_is_scheduled_by_the_interval_whatever_retryable_says():
    """After a success retryable does not matter: interval ± jitter."""
    assert SCHEDULE.next_delay(failures=0, retryable=False) == timedelta(minutes=15)
