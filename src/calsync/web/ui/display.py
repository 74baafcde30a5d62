"""How the web interface shows times, stays and messages, as Jinja filters.

The channel names and where each channel takes a URL are in :mod:`calsync.channels`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape


class Stay(Protocol):
    """What :func:`stay` reads of a booking."""

    starts_at: datetime
    ends_at: datetime
    all_day: bool


class Change(Protocol):
    """What :func:`change` reads of a journaled change of a booking."""

    kind: str
    starts_at_before: datetime | None
    ends_at_before: datetime | None
    starts_at_after: datetime | None
    ends_at_after: datetime | None
    status_before: str | None
    status_after: str | None


CHANGE_KINDS = {
    "created": "added",
    "updated": "changed",
    "rekeyed": "new UID, same stay",
    "cancelled": "cancelled",
    "deleted": "deleted",
    "held": "deletion held",
    "released": "deleted (held deletion released)",
}
"""Each kind of change of the journal, as a page names it."""


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


def change(item: Change, *, all_day: bool, timezone: str) -> str:
    """What a change did to the stay: its dates (before and after, if they moved) and status.

    ``Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights``; a move: ``was …, now …``; a
    new status: ``…, tentative → confirmed``; a new stay that is not confirmed
    says its status (``…, tentative``).
    """
    before = _span_of(item.starts_at_before, item.ends_at_before, all_day=all_day, zone=timezone)
    after = _span_of(item.starts_at_after, item.ends_at_after, all_day=all_day, zone=timezone)
    if before and after and before != after:
        text = f"was {before}; now {after}"
    else:
        text = after or before or "-"
    old, new = item.status_before, item.status_after
    if old and new and old != new:
        text += f", {old} → {new}"
    elif not old and new and new != "confirmed":
        text += f", {new}"
    return text


def _span_of(
    starts_at: datetime | None, ends_at: datetime | None, *, all_day: bool, zone: str
) -> str | None:
    if starts_at is None or ends_at is None:
        return None
    return span(starts_at, ends_at, all_day=all_day, timezone=zone)


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


def code_spans(text: str) -> Markup:
    """A message with each `backticked` part (a command) as ``<code>``, everything escaped.

    Unpaired backticks are shown as they are.
    """
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return escape(text)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )
