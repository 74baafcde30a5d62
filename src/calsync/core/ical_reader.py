"""The import rules applied to the events of one feed (see :mod:`calsync.core.ical_in`). Pure."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

import icalendar
import recurring_ical_events

from calsync.core.blocks import Block, BookingStatus, ParsedFeed, ParseOptions, SkippedEvent
from calsync.core.ical_values import (
    all_day_interval,
    as_datetime,
    content_key,
    date_value,
    event_values,
    key_blocks,
    text_value,
    zone_named,
)
from calsync.core.recurrence import exclude_exrules, rule_problem
from calsync.core.windows_zones import display_name_zone
from calsync.errors import CalsyncError, InvalidFeed

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from calsync.core.ical_fast import EventValues, SimpleFeed

_BUDGET_CHECK_EVERY = 64
_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "RECURRENCE-ID")
_EXPANSION_MARGIN = timedelta(days=2)
_ZONED_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
# Synology writes weeks as a time ("PT1W"); RFC 5545 has them only as "P1W".
_WEEKS_AS_TIME = re.compile(r"([+-]?)PT(\d+)W", re.IGNORECASE)
_EPOCH = datetime.min.replace(tzinfo=UTC)
_NOTHING = Block(key="", starts_at=_EPOCH, ends_at=_EPOCH, all_day=False)
"""Returned where an event imports as nothing; the reason is in ``skipped``."""


@dataclass
class Reader:
    """Reads the events of one feed into blocks (the rules of :mod:`calsync.core.ical_in`)."""

    options: ParseOptions
    warnings: list[str]
    skipped: list[SkippedEvent] = field(default_factory=list)
    product_timezone: tzinfo = UTC
    floating_timezone: tzinfo = UTC
    deadline: float = 0.0
    occurrences: int = 0
    tzid_zones: dict[str, tzinfo] = field(default_factory=dict)
    timezones: list[icalendar.Component] = field(default_factory=list)

    def read_calendar(self, calendar: icalendar.Calendar) -> ParsedFeed:
        """Read the events of a calendar icalendar parsed."""
        self._begin(text_value(calendar, "X-WR-TIMEZONE"))
        self.timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
        events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        by_uid: dict[str | None, list[icalendar.Component]] = defaultdict(list)
        for event in events:
            self._read_weeks_as_time(event)
            self._resolve_tzids(event)
            by_uid[text_value(event, "UID")].append(event)
        single: list[tuple[str, Block]] = []
        recurring: list[Block] = []
        for uid, group in by_uid.items():
            self._check_budget()
            if uid is None:
                for event in group:
                    if "RRULE" in event or "RDATE" in event:
                        recurring.extend(self._expand(None, content_key(event), [event]))
                    else:
                        single.append(self._read_component(None, content_key(event), event))
            elif any(p in e for e in group for p in _RECURRENCE_PROPERTIES):
                recurring.extend(self._expand(uid, uid, group))
            else:
                single.extend(self._read_component(uid, uid, event) for event in group)
        return self._result(single, recurring, text_value(calendar, "PRODID"), len(events))

    def read_simple(self, feed: SimpleFeed) -> ParsedFeed:
        """Read the events of a feed the fast path parsed (single events, all with UID)."""
        self._begin(feed.calendar_timezone)
        by_uid: dict[str, list[EventValues]] = defaultdict(list)
        for uid, event in feed.events:
            by_uid[uid].append(self._localised(event))
        single: list[tuple[str, Block]] = []
        for uid, group in by_uid.items():
            self._check_budget()
            single.extend(self._read_single(uid, uid, event) for event in group)
        return self._result(single, [], feed.prodid, len(feed.events), fast_path=True)

    def _begin(self, calendar_timezone: str | None) -> None:
        self.deadline = self.options.monotonic() + self.options.time_budget_seconds
        self.product_timezone = zone_named(self.options.timezone) or UTC
        self.floating_timezone = self._calendar_timezone(calendar_timezone)

    def _result(
        self,
        single: list[tuple[str, Block]],
        recurring: list[Block],
        prodid: str | None,
        event_count: int,
        *,
        fast_path: bool = False,
    ) -> ParsedFeed:
        blocks = key_blocks([pair for pair in single if pair[1] is not _NOTHING], self.warnings)
        blocks.extend(recurring)
        blocks.sort(key=lambda block: (block.starts_at, block.key))
        return ParsedFeed(
            blocks=tuple(blocks),
            skipped=tuple(self.skipped),
            warnings=tuple(self.warnings),
            prodid=prodid,
            event_count=event_count,
            fast_path=fast_path,
        )

    def _calendar_timezone(self, name: str | None) -> tzinfo:
        """The zone of floating times: X-WR-TIMEZONE if it names one, else the product's."""
        if name is None:
            return self.product_timezone
        zone = zone_named(name)
        if zone is None:
            self.warnings.append(f"unknown X-WR-TIMEZONE {name!r} ignored")
            return self.product_timezone
        return zone

    def _check_budget(self) -> None:
        if self.options.monotonic() > self.deadline:
            raise InvalidFeed(
                f"reading the feed took longer than {self.options.time_budget_seconds:g} s"
            )

    def _read_weeks_as_time(self, event: icalendar.Component) -> None:
        """Read Synology's ``DURATION:PT1W`` as the week it means (P1W), with a warning."""
        prop = event.get("DURATION")
        if not isinstance(prop, icalendar.vBroken):
            return
        found = _WEEKS_AS_TIME.fullmatch(str(prop).strip())
        if found is None:
            return
        weeks = int(found.group(2))
        event["DURATION"] = icalendar.vDuration(
            timedelta(weeks=-weeks if found.group(1) == "-" else weeks)
        )
        event.errors[:] = [error for error in event.errors if error[0] != "DURATION"]
        warning = f"DURATION:{prop} read as P{weeks}W ({weeks} week{'s' if weeks != 1 else ''})"
        if warning not in self.warnings:
            self.warnings.append(warning)

    def _skip(self, uid: str | None, reason: str) -> Block:
        self.skipped.append(SkippedEvent(uid=uid, reason=reason))
        return _NOTHING

    # one event, no recurrence

    def _read_component(
        self, uid: str | None, key: str, event: icalendar.Component
    ) -> tuple[str, Block]:
        try:
            values = event_values(
                event,
                date_value(event, "DTSTART"),
                date_value(event, "DTEND"),
                date_value(event, "DURATION"),
            )
        except ValueError as exc:
            return key, self._skip(uid, str(exc))
        return self._read_single(uid, key, values)

    def _read_single(self, uid: str | None, key: str, event: EventValues) -> tuple[str, Block]:
        if event.start is None:
            return key, self._skip(uid, "no DTSTART")
        block = self._block(uid, key, event)
        if block is _NOTHING:
            return key, block
        if block.ends_at <= self.options.window_start or block.starts_at >= self.options.window_end:
            return key, self._skip(
                uid,
                "outside window (ends before now - past_days or starts after now + horizon_days)",
            )
        return key, block

    def _block(self, uid: str | None, key: str, event: EventValues) -> Block:
        """Turn one event (or occurrence) into a block, or record why it imports as nothing."""
        status = (event.status or "").upper()
        if status == "CANCELLED":
            return self._skip(uid, "cancelled (STATUS:CANCELLED)")
        if (
            self.options.transparent_events == "skip"
            and (event.transp or "").upper() == "TRANSPARENT"
        ):
            return self._skip(
                uid, "does not block time (TRANSP:TRANSPARENT, transparent_events=skip)"
            )
        start = event.start
        if isinstance(start, datetime):
            starts_at, ends_at = self._timed_interval(start, event.end, event.duration)
            all_day = False
        elif isinstance(start, date):
            starts_at, ends_at = all_day_interval(start, event.end, event.duration)
            all_day = True
        else:
            return self._skip(uid, f"DTSTART is not a date or date-time: {start!r}")
        if ends_at == starts_at:
            return self._skip(
                uid, "zero length (DTEND equals DTSTART, or a timed event has no end)"
            )
        if ends_at < starts_at:
            return self._skip(uid, "negative length (DTEND is before DTSTART)")
        return Block(
            key=key,
            starts_at=starts_at,
            ends_at=ends_at,
            all_day=all_day,
            summary=event.summary or "",
            status=self._status(status),
        )

    def _timed_interval(
        self, start: datetime, end: object, duration: object
    ) -> tuple[datetime, datetime]:
        """UTC start and end of a timed event, time_offset applied; no end means zero length."""
        starts_at = self._instant(start)
        if isinstance(end, date):
            ends_at = self._instant(as_datetime(end))
        elif isinstance(duration, timedelta):
            ends_at = starts_at + duration
        else:
            ends_at = starts_at
        offset = timedelta(hours=self.options.time_offset_hours)
        return starts_at + offset, ends_at + offset

    def _status(self, status: str) -> BookingStatus:
        forced = self.options.event_status_sync
        if forced == "CONFIRMED":
            return "confirmed"
        if forced == "TENTATIVE" or status == "TENTATIVE":
            return "tentative"
        return "confirmed"

    def _instant(self, moment: datetime) -> datetime:
        """An aware UTC instant: a floating time is read in the floating zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.floating_timezone)
        return moment.astimezone(UTC)

    def _resolve_tzids(self, event: icalendar.Component) -> None:
        """Give the times whose TZID icalendar did not know a zone (see :meth:`_localise`).

        Done on the event itself, before any expansion, so that occurrences,
        EXDATEs and RECURRENCE-IDs are read in the same zone as DTSTART.
        """
        for name in _ZONED_PROPERTIES:
            value = event.get(name)
            for prop in value if isinstance(value, list) else [value]:
                if prop is None or isinstance(prop, icalendar.vBroken):
                    continue
                tzid = prop.params.get("TZID")
                if tzid is None:
                    continue
                for item in getattr(prop, "dts", [prop]):
                    moment = self._localise(item.dt, str(tzid))
                    if moment is not item.dt:
                        item.dt = moment

    def _localised(self, event: EventValues) -> EventValues:
        """The event with its times in a zone where icalendar left them floating despite a TZID."""
        start = self._localise(event.start, event.start_tzid)
        end = self._localise(event.end, event.end_tzid)
        if start is event.start and end is event.end:
            return event
        return replace(event, start=start, end=end)

    def _localise(self, moment: object, tzid: str | None) -> object:
        """A floating time with a TZID icalendar did not know, put in :meth:`_named_zone`."""
        if tzid is None or not isinstance(moment, datetime) or moment.tzinfo is not None:
            return moment
        return moment.replace(tzinfo=self._named_zone(tzid))

    def _named_zone(self, tzid: str) -> tzinfo:
        """The zone of a TZID icalendar did not resolve: a display name, else the product's."""
        zone = self.tzid_zones.get(tzid)
        if zone is None:
            name = display_name_zone(tzid)
            zone = zone_named(name) if name else None
            if zone is None:
                zone = self.product_timezone
                what = f"unknown timezone {tzid!r}" if tzid.strip() else "empty TZID"
                self.warnings.append(f"{what}, read in {zone}")
            self.tzid_zones[tzid] = zone
        return zone

    # recurring events

    def _expand(
        self, uid: str | None, key: str, group: list[icalendar.Component]
    ) -> Iterator[Block]:
        """The occurrences of one series (``group``: the events of one UID), keyed ``key@…``."""
        problem = rule_problem(group, self.options.window_end)
        if problem:
            self._skip(uid, problem)
            return
        mini = icalendar.Calendar()
        for component in self.timezones:
            mini.add_component(component)
        first = self.options.window_start - _EXPANSION_MARGIN
        last = self.options.window_end + _EXPANSION_MARGIN
        try:
            for event in group:
                exclude_exrules(event, first, last)
                mini.add_component(event)
            series_list = recurring_ical_events.of(mini).series
            for series in series_list:
                yield from self._occurrences(uid, key, series.between(first.date(), last.date()))
        except CalsyncError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad series skips one event, not the feed
            self._skip(uid, f"cannot expand its recurrence: {type(exc).__name__}: {exc}")

    def _occurrences(
        self, uid: str | None, key: str, occurrences: Iterable[object]
    ) -> Iterator[Block]:
        for count, occurrence in enumerate(occurrences, start=1):
            self.occurrences += 1
            if count % _BUDGET_CHECK_EVERY == 0:
                self._check_budget()
            if count > self.options.max_occurrences_per_event:
                self._skip(
                    uid,
                    f"more than {self.options.max_occurrences_per_event} occurrences "
                    "in the window; the rest are ignored",
                )
                return
            if self.occurrences > self.options.max_occurrences:
                if self.occurrences == self.options.max_occurrences + 1:
                    limit = self.options.max_occurrences
                    self.warnings.append(f"more than {limit} occurrences; the rest are ignored")
                return
            block = self._occurrence_block(uid, key, occurrence)
            if block is not _NOTHING:
                yield block

    def _occurrence_block(self, uid: str | None, key: str, occurrence: object) -> Block:
        component = occurrence.as_component(keep_recurrence_attributes=False)  # type: ignore[attr-defined]
        start, end = occurrence.start, occurrence.end  # type: ignore[attr-defined]
        recurrence_id = component.get("RECURRENCE-ID")
        original = recurrence_id.dt if recurrence_id is not None else start
        at = self._key_time(original)
        block = self._block(uid, f"{key}@{at}", event_values(component, start, end, None))
        if block is _NOTHING:
            return block
        if block.ends_at <= self.options.window_start or block.starts_at >= self.options.window_end:
            return _NOTHING
        return block

    def _key_time(self, moment: date) -> str:
        if isinstance(moment, datetime):
            return self._instant(moment).strftime("%Y%m%dT%H%M%SZ")
        return moment.strftime("%Y%m%d")
