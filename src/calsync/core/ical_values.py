"""Values of one event as the import rules read them, from icalendar's components. Pure."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calsync.core.blocks import Block, date_at_midnight
from calsync.core.ical_body import shorten
from calsync.core.ical_fast import EventValues

if TYPE_CHECKING:
    import icalendar


def all_day_interval(start: date, end: object, duration: object) -> tuple[datetime, datetime]:
    """Midnight-UTC encoded dates: DTEND exclusive, DURATION in days, else one day."""
    if isinstance(end, date):
        last = end.date() if isinstance(end, datetime) else end
    elif isinstance(duration, timedelta):
        last = start + timedelta(days=duration.days)
    else:
        last = start + timedelta(days=1)
    return date_at_midnight(start), date_at_midnight(last)


def key_blocks(pairs: list[tuple[str, Block]], warnings: list[str]) -> list[Block]:
    """Give each single event its final key; repeated UIDs at different times get ``@<start>``."""
    by_key: dict[str, list[Block]] = defaultdict(list)
    for key, block in pairs:
        by_key[key].append(block)
    keyed: dict[str, Block] = {}
    for key, blocks in by_key.items():
        intervals = {block.interval for block in blocks}
        for block in blocks:
            final = key if len(intervals) == 1 else f"{key}@{_start_key(block)}"
            if final in keyed:
                warnings.append(f"duplicate event {final!r}: the later one wins")
            keyed[final] = block if block.key == final else replace(block, key=final)
    return list(keyed.values())


def _start_key(block: Block) -> str:
    return block.starts_at.strftime("%Y%m%d" if block.all_day else "%Y%m%dT%H%M%SZ")


def content_key(event: icalendar.Component) -> str:
    """The key of an event without UID: a hash of its times and summary."""
    digest = hashlib.sha256()
    for name in ("DTSTART", "DTEND", "DURATION", "SUMMARY"):
        prop = event.get(name)
        digest.update(name.encode())
        digest.update(prop.to_ical() if prop is not None else b"")
    return f"nouid-{digest.hexdigest()[:20]}"


def event_values(
    event: icalendar.Component, start: object, end: object, duration: object
) -> EventValues:
    """What the import rules read of an event (or an occurrence of one)."""
    return EventValues(
        start=start,
        end=end,
        duration=duration,
        summary=text_value(event, "SUMMARY"),
        status=text_value(event, "STATUS"),
        transp=text_value(event, "TRANSP"),
    )


def text_value(component: icalendar.Component, name: str) -> str | None:
    """A text property's value; the first one when a feed repeats the property."""
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def date_value(event: icalendar.Component, name: str) -> object:
    """The Python value of a date property, or a ``ValueError`` saying why it is unreadable."""
    prop = event.get(name)
    if prop is None:
        return None
    for failed, message in getattr(event, "errors", ()):
        if failed == name:
            raise ValueError(f"invalid {name}: {message}")
    try:
        return prop.dt
    except Exception as exc:
        raise ValueError(f"invalid {name}: {shorten(str(exc))}") from exc


def as_datetime(day: date) -> datetime:
    """A date as a floating midnight; a date-time as it is."""
    if isinstance(day, datetime):
        return day
    return datetime(day.year, day.month, day.day)  # noqa: DTZ001 - floating, localised later


def zone_named(name: str) -> tzinfo | None:
    """The IANA zone of this name, or None."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
