"""How the web interface shows things: ages, channels, and where each channel takes a URL.

Jinja filters and the channel table of the README's "Connect your channels",
so the pages say it the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

#: Channel key (CSS class, row colour) and its name, by the first label of a calendar's ``tld``.
_CHANNELS = {
    "airbnb": ("airbnb", "Airbnb"),
    "booking": ("booking", "Booking.com"),
    "vrbo": ("vrbo", "Vrbo"),
    "homeaway": ("vrbo", "Vrbo"),
    "google": ("google", "Google"),
    "outlook": ("outlook", "Outlook"),
    "live": ("outlook", "Outlook"),
    "office365": ("outlook", "Outlook"),
}

#: Where each channel takes calsync's export URL (the README's "Connect your channels").
PASTE_STEPS = {
    "airbnb": "Airbnb: Listing → Calendar → Availability → Sync calendars → Import calendar "
    "(give it a name, paste the URL).",
    "booking": "Booking.com: Extranet → Rates & Availability → Sync calendars → "
    "Import calendar / Add calendar connection.",
    "vrbo": "Vrbo: Calendar → Import & export → Import calendar.",
    "google": "Google Calendar: Other calendars → + → From URL.",
    "outlook": "Outlook.com / Microsoft 365: Add calendar → Subscribe from web.",
}


def channel(tld: str) -> tuple[str, str]:
    """(key, name) of the channel a calendar's registrable domain names; ``other`` if unknown."""
    label = tld.split(".", 1)[0].lower()
    return _CHANNELS.get(label, ("other", tld or "other"))


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
