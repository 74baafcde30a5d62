"""How the web interface shows times: ages, instants, dates and stays, as Jinja filters.

The channel names and where each channel takes a URL are in :mod:`calsync.channels`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Stay(Protocol):
    """What :func:`stay` reads of a booking."""

    starts_at: datetime
    ends_at: datetime
    all_day: bool


def age(moment: datetime | None, now: datetime) -> str:
    """``12 min ago``, ``3 h ago``, ``in 5 min``; ``never`` for None."""
    if moment is None:
        return "never"
    delta = now - moment
    ahead = delta < timedelta(0)
    text = _span(abs(delta))
    if text == "now":
        return "just now"
    return f"in {text}" if ahead else f"{text} ago"


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:  # noqa: PLR2004 - a minute
        return "now"
    if seconds < 3600:  # noqa: PLR2004 - an hour
        return f"{seconds // 60} min"
    if seconds < 2 * 86_400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def utc(moment: datetime | None) -> str:
    """An instant as ``2026-11-15 12:00 UTC`` (empty for None)."""
    return "" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def iso(moment: datetime | None) -> str:
    """An instant for ``<time datetime>``."""
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def day(night: date) -> str:
    """A date as people read it: ``Tue 1 Dec 2026``."""
    return f"{night:%a} {night.day} {night:%b %Y}"


def span(starts_at: datetime, ends_at: datetime, *, all_day: bool, timezone: str) -> str:
    """A stay as people read it: dates when all-day, else local times in the product's timezone.

    ``Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights`` (the end is the check-out day);
    ``Tue 1 Dec 2026 15:00 → Thu 3 Dec 2026 11:00``.
    """
    if all_day:
        nights = (ends_at.date() - starts_at.date()).days
        counted = f"{nights} night{'' if nights == 1 else 's'}"
        return f"{day(starts_at.date())} → {day(ends_at.date())}, {counted}"
    zone = ZoneInfo(timezone)
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    return f"{day(start.date())} {start:%H:%M} → {day(end.date())} {end:%H:%M}"


def stay(booking: Stay, timezone: str) -> str:
    """A booking's :func:`span`."""
    return span(booking.starts_at, booking.ends_at, all_day=booking.all_day, timezone=timezone)


def night_ranges(nights: list[str]) -> list[str]:
    """ISO nights as runs: ``Thu 3 Dec 2026 – Fri 4 Dec 2026 (2 nights)``, or one night alone."""
    runs: list[list[date]] = []
    for night in sorted(date.fromisoformat(text) for text in nights):
        if runs and night - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(night)
        else:
            runs.append([night])
    return [
        day(run[0]) if len(run) == 1 else f"{day(run[0])} – {day(run[-1])} ({len(run)} nights)"
        for run in runs
    ]
