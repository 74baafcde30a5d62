"""Read an iCalendar feed into blocks: bytes in, :class:`ParsedFeed` out, no I/O.

The rules (DESIGN §4) in the order they apply:

1. The body must be one VCALENDAR: anything else (an HTML login page, JSON,
   an empty or binary body, a calendar followed by an HTML error page) raises
   :class:`~calsync.errors.InvalidFeed` saying what was received. NUL bytes are
   dropped, a BOM is accepted, invalid UTF-8 is replaced and reported.
2. Events are expanded from ``now - past_days`` to ``now + horizon_days``.
   Only events of a UID that has RRULE, RDATE or RECURRENCE-ID go through
   recurring-ical-events; each rule is checked first (a bad FREQ or
   ``INTERVAL=0`` skips the event, a rule that needs too many steps to reach the
   window is refused), occurrences are capped per event and per feed, and the
   whole read has a time budget.
   Trailing blanks after a value are dropped.
   EXRULE (RFC 2445; still published) removes the occurrences it generates.
   A recurring event without UID (Exchange 2010) is expanded on its own.
3. All-day dates stay dates (DTEND exclusive, missing DTEND = one day); timed
   events honour TZID (Windows ids and Outlook display names such as
   ``(UTC-05:00) Eastern Time (US & Canada)`` too), UTC and X-WR-TIMEZONE;
   floating times are read in X-WR-TIMEZONE, else the product's timezone;
   unknown and empty TZIDs in the product's timezone, with a warning. A
   VTIMEZONE that cannot be read is dropped with a warning, and its TZID is read
   by name like any other. ``DURATION:PT1W`` (Synology) is read as one week.
4. ``time_offset_hours`` shifts timed events only.
5. Cancelled and zero-length events are skipped with a reason; transparent
   (TRANSP:TRANSPARENT) ones block unless ``transparent_events`` is ``skip``.
6. A block's key is its UID, plus ``@<recurrence id>`` for occurrences; the
   same UID at different times (Smoobu repeats one UID for several stays) gives
   one block per stay keyed ``UID@<start>``; an event without UID is keyed by a
   hash of its content (plus ``@<start>`` for each occurrence of a recurring one).

A feed of the common shape (single events with UID, dates or times, no
recurrence; :mod:`calsync.core.ical_fast`) is read from its content lines
without icalendar's objects; the rules above apply to it by the same code.
"""

from __future__ import annotations

import threading

import icalendar

from calsync.core.blocks import (
    OUTSIDE_WINDOW,
    TRANSPARENT_EVENTS,
    EventStatusSync,
    ParsedFeed,
    ParseOptions,
    TransparentEvents,
)
from calsync.core.ical_body import (
    check_is_one_calendar,
    count_events,
    decode,
    read_calendar,
    shorten,
)
from calsync.core.ical_fast import read_simple_feed
from calsync.core.ical_reader import Reader
from calsync.errors import CalsyncError, InvalidFeed

__all__ = [
    "OUTSIDE_WINDOW",
    "TRANSPARENT_EVENTS",
    "EventStatusSync",
    "ParseOptions",
    "ParsedFeed",
    "TransparentEvents",
    "parse_feed",
]

#: icalendar keeps the zones of custom VTIMEZONEs (``TZID:Customized Time Zone``) in
#: one process-wide cache, and the first definition of a name wins: one feed's
#: definition would then shift another feed's times by hours (the fast path looks
#: TZIDs up there too). Each parse, by either path, starts with an empty cache and
#: holds this lock, so no two parses share definitions.
_ICALENDAR_ZONES = threading.Lock()


def parse_feed(data: bytes, options: ParseOptions, *, fast_path: bool = True) -> ParsedFeed:
    """Read ``data`` as an iCalendar feed; raise :class:`InvalidFeed` if it is not one.

    A feed of the common shape is read from its content lines by
    :func:`~calsync.core.ical_fast.read_simple_feed`, any other by icalendar;
    ``fast_path=False`` sends every feed through icalendar (to compare them).
    """
    warnings: list[str] = []
    text = decode(data, warnings)
    check_is_one_calendar(text)
    event_count = count_events(text)
    if event_count > options.max_events:
        raise InvalidFeed(f"{event_count} events, more than the limit of {options.max_events}")
    with _ICALENDAR_ZONES:
        icalendar.use_zoneinfo()  # type: ignore[no-untyped-call] # forgets earlier VTIMEZONEs
        try:
            simple = read_simple_feed(text) if fast_path else None
            if simple is not None:
                return Reader(options, warnings).read_simple(simple)
            return Reader(options, warnings).read_calendar(read_calendar(text, warnings))
        except CalsyncError:
            raise
        except Exception as exc:
            raise InvalidFeed(f"{type(exc).__name__}: {shorten(str(exc))}") from exc
