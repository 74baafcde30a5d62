"""Render a product's outbound feed: bookings in, RFC 5545 bytes out, no I/O.

The feed is what every channel subscribes to, so it says only "this time is
taken": a neutral SUMMARY, no guest data. All-day bookings export as
``VALUE=DATE``; UIDs are stable per booking; DTSTAMP is the data's version
time, so the same data renders to the same bytes on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import icalendar

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime, timedelta

PRODID = "-//calsync//calsync outbound feed//EN"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One occupied interval of the outbound feed."""

    uid: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool


def render_feed(
    events: Sequence[FeedEvent],
    *,
    calendar_name: str,
    summary: str,
    stamp: datetime,
    refresh_interval: timedelta,
) -> bytes:
    """The VCALENDAR of ``events``, sorted by start, every event titled ``summary``."""
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("X-WR-CALNAME", calendar_name)
    calendar.add("REFRESH-INTERVAL", refresh_interval, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", icalendar.vDuration(refresh_interval))
    for item in sorted(events, key=lambda event: (event.starts_at, event.uid)):
        event = icalendar.Event()
        event.add("UID", item.uid)
        event.add("DTSTAMP", stamp)
        if item.all_day:
            event.add("DTSTART", item.starts_at.date())
            event.add("DTEND", item.ends_at.date())
        else:
            event.add("DTSTART", item.starts_at)
            event.add("DTEND", item.ends_at)
        event.add("SUMMARY", summary)
        event.add("TRANSP", "OPAQUE")
        event.add("STATUS", "CONFIRMED")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
