"""How the web interface writes dates, stays and runs of nights (calsync.web.ui.display)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calsync.web.ui.display import night_ranges, span


@pytest.mark.parametrize(
    ("nights", "shown"),
    [
        (["2026-12-03"], ["Thu 3 Dec 2026"]),
        (["2026-12-04", "2026-12-03"], ["Thu 3 Dec 2026 – Fri 4 Dec 2026 (2 nights)"]),
        (
            ["2026-12-31", "2027-01-01", "2027-01-05"],
            ["Thu 31 Dec 2026 – Fri 1 Jan 2027 (2 nights)", "Tue 5 Jan 2027"],
        ),
        ([], []),
    ],
)
def test_nights_are_shown_as_runs(nights, shown):
    """Consecutive nights (across a year's end too) are one run; a gap starts another."""
    assert shown == night_ranges(nights)


def test_an_all_day_stay_shows_its_dates_and_nights():
    """All-day: the check-in and check-out dates as stored, never moved by a timezone."""
    starts, ends = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)
    assert "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights" == span(
        starts, ends, all_day=True, timezone="America/Los_Angeles"
    )


def test_a_timed_stay_shows_local_times_of_the_product():
    """Timed: the instants in the product's timezone (15:00 UTC is 16:00 in Amsterdam)."""
    starts, ends = datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert "Tue 1 Dec 2026 16:00 → Thu 3 Dec 2026 11:00" == span(
        starts, ends, all_day=False, timezone="Europe/Amsterdam"
    )
