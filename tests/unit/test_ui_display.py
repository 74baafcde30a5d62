"""How the web interface writes dates, stays, runs of nights and messages (web.ui.display)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.web.ui.display import change, code_spans, night_ranges, span


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


@dataclass
class _Change:
    kind: str
    starts_at_before: datetime | None = None
    ends_at_before: datetime | None = None
    starts_at_after: datetime | None = None
    ends_at_after: datetime | None = None
    status_before: str | None = None
    status_after: str | None = None


def _day(day: int) -> datetime:
    return datetime(2026, 12, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        (
            _Change(
                "created", starts_at_after=_day(1), ends_at_after=_day(5), status_after="confirmed"
            ),
            "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights",
        ),
        (
            _Change(
                "created", starts_at_after=_day(1), ends_at_after=_day(5), status_after="tentative"
            ),
            "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights, tentative",
        ),
        (
            _Change("updated", _day(1), _day(5), _day(2), _day(5), "confirmed", "confirmed"),
            "was Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights; now Wed 2 Dec 2026 → Sat 5 Dec 2026, 3 nights",
        ),
        (
            _Change("updated", _day(1), _day(5), _day(1), _day(5), "tentative", "confirmed"),
            "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights, tentative → confirmed",
        ),
        (
            _Change("deleted", _day(1), _day(5), status_before="confirmed"),
            "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights",
        ),
    ],
)
def test_a_journaled_change_shows_the_stay_before_and_after(item, shown):
    """A new stay its dates; a move both; a new status before → after; a deletion what went."""
    assert shown == change(item, all_day=True, timezone="Europe/Amsterdam")


@pytest.mark.parametrize(
    ("message", "html"),
    [
        (
            "held: release with `calsync calendars release 1`",
            "held: release with <code>calsync calendars release 1</code>",
        ),
        (
            "HTML page titled '<b>Sign in</b>'",
            "HTML page titled &#39;&lt;b&gt;Sign in&lt;/b&gt;&#39;",
        ),
        ("`a<b>` and `c`", "<code>a&lt;b&gt;</code> and <code>c</code>"),
        ("one ` unpaired", "one ` unpaired"),
        ("", ""),
    ],
)
def test_code_spans_show_commands_as_code_and_escape_everything(message, html):
    """A backticked command in an error becomes <code>; nothing in a message is markup."""
    assert html == str(code_spans(message))


@given(st.text())
def test_code_spans_never_let_markup_through(message):
    """Whatever a feed's error says, the only tags in the answer are calsync's <code>."""
    shown = str(code_spans(message)).replace("<code>", "").replace("</code>", "")
    assert "<" not in shown
    assert ">" not in shown
