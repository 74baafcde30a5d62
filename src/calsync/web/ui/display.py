"""How the web interface shows times: ages and instants, as Jinja filters.

The channel names and where each channel takes a URL are in :mod:`calsync.channels`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


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
