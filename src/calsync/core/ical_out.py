r"""Render a product's outbound feed: bookings in, RFC 5545 bytes out, no I/O.

The feed is what every channel subscribes to, so it says only "this time is
taken": a neutral SUMMARY, no guest data. All-day bookings export as
``VALUE=DATE``; UIDs are stable per booking; DTSTAMP is the data's version
time, so the same data renders to the same bytes on every replica.

Stored text never breaks the feed: every TEXT value (``X-WR-CALNAME``,
``SUMMARY``) is made plain by :func:`~calsync.core.text.feed_text` and escaped
as RFC 5545 says (``\\``, ``\;``, ``\,``, ``\n``) by icalendar's ``vText``, so no
value can add a content line. Nothing here relies on an ``assert`` (which
``python -O`` drops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import icalendar

from calsync.core.text import feed_text

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
    """The VCALENDAR of ``events``, sorted by start, every event titled ``summary``.

    ``calendar_name`` and ``summary`` are any text: a reader of the feed gets
    them back as :func:`~calsync.core.text.feed_text` makes them (line breaks
    one LF, other control characters but a tab removed), except that icalendar's
    ``vText`` takes a literal backslash followed by ``N`` for a line break too.
    """
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("X-WR-CALNAME", icalendar.vText(feed_text(calendar_name)))
    calendar.add("REFRESH-INTERVAL", refresh_interval, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", icalendar.vDuration(refresh_interval))
    title = icalendar.vText(feed_text(summary))
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
        event.add("SUMMARY", title)
        event.add("TRANSP", "OPAQUE")
        event.add("STATUS", "CONFIRMED")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
