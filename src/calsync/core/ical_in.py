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

import codecs
import hashlib
import re
import threading
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dateutil.rrule
import icalendar
import recurring_ical_events

from calsync.core.blocks import Block, BookingStatus, SkippedEvent, date_at_midnight
from calsync.core.ical_fast import EventValues, SimpleFeed, read_simple_feed
from calsync.core.windows_zones import display_name_zone
from calsync.errors import CalsyncError, InvalidFeed

#: icalendar keeps the zones of custom VTIMEZONEs (``TZID:Customized Time Zone``) in
#: one process-wide cache, and the first definition of a name wins: one feed's
#: definition would then shift another feed's times by hours (the fast path looks
#: TZIDs up there too). Each parse, by either path, starts with an empty cache and
#: holds this lock, so no two parses share definitions.
_ICALENDAR_ZONES = threading.Lock()

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

EventStatusSync = Literal["import", "CONFIRMED", "TENTATIVE"]
TransparentEvents = Literal["block", "skip"]
"""What TRANSP:TRANSPARENT ("free") events do: block like the others, or import as nothing."""
TRANSPARENT_EVENTS: tuple[TransparentEvents, ...] = get_args(TransparentEvents)

#: A rule needing more steps than this from its DTSTART to the end of the window
#: is refused: dateutil walks every step from DTSTART, even those before the window.
MAX_RULE_STEPS = 100_000
_BUDGET_CHECK_EVERY = 64
_RULE_STEP = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
_RULE_FAN_OUT = ("BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO")
#: The reason of events skipped because they lie outside the import window.
OUTSIDE_WINDOW = "outside window"
_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "RECURRENCE-ID")
_EXPANSION_MARGIN = timedelta(days=2)
_ZONED_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
_VTIMEZONE_BLOCK = re.compile(
    r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?(?:\n|\Z)", re.IGNORECASE | re.MULTILINE | re.DOTALL
)
_TZID_LINE = re.compile(r"^TZID(?:;[^:\r\n]*)?:(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
# Synology writes weeks as a time ("PT1W"); RFC 5545 has them only as "P1W".
_WEEKS_AS_TIME = re.compile(r"([+-]?)PT(\d+)W", re.IGNORECASE)
_VEVENT_LINE = re.compile(rb"^BEGIN:VEVENT\r?$", re.IGNORECASE | re.MULTILINE)
_VCALENDAR_LINE = re.compile(r"^BEGIN:VCALENDAR\r?$", re.IGNORECASE | re.MULTILINE)
# Trailing blanks on a line that no folded continuation follows (Smoobu writes
# "DTEND;VALUE=DATE:20261224 "); before a fold they are content and stay.
_TRAILING_BLANKS = re.compile(r"[ \t]+(?=\r?\n(?![ \t])|\Z)")


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read one feed: the product's context and the safety limits."""

    now: datetime
    monotonic: Callable[[], float]
    timezone: str = "UTC"
    time_offset_hours: int = 0
    past_days: int = 30
    horizon_days: int = 730
    max_occurrences: int = 10_000
    max_occurrences_per_event: int = 1_000
    max_events: int = 50_000
    time_budget_seconds: float = 20.0
    event_status_sync: EventStatusSync = "import"
    transparent_events: TransparentEvents = "block"

    @property
    def window_start(self) -> datetime:
        """The earliest end an imported block may have."""
        return self.now - timedelta(days=self.past_days)

    @property
    def window_end(self) -> datetime:
        """The latest start an imported block may have."""
        return self.now + timedelta(days=self.horizon_days)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed imports as: blocks sorted by start, and what was skipped and why."""

    blocks: tuple[Block, ...]
    skipped: tuple[SkippedEvent, ...]
    warnings: tuple[str, ...]
    prodid: str | None
    event_count: int
    fast_path: bool = field(default=False, compare=False)
    """Whether the fast path read the feed (else icalendar did); the result is the same."""


def parse_feed(data: bytes, options: ParseOptions, *, fast_path: bool = True) -> ParsedFeed:
    """Read ``data`` as an iCalendar feed; raise :class:`InvalidFeed` if it is not one.

    A feed of the common shape is read from its content lines by
    :func:`~calsync.core.ical_fast.read_simple_feed`, any other by icalendar;
    ``fast_path=False`` sends every feed through icalendar (to compare them).
    """
    warnings: list[str] = []
    text = _decode(data, warnings)
    _check_is_one_calendar(text)
    event_count = len(_VEVENT_LINE.findall(text.encode()))
    if event_count > options.max_events:
        raise InvalidFeed(f"{event_count} events, more than the limit of {options.max_events}")
    with _ICALENDAR_ZONES:
        icalendar.use_zoneinfo()  # type: ignore[no-untyped-call] # forgets earlier VTIMEZONEs
        try:
            simple = read_simple_feed(text) if fast_path else None
            if simple is not None:
                return _Reader(options, warnings).read_simple(simple)
            return _Reader(options, warnings).read_calendar(_read_calendar(text, warnings))
        except CalsyncError:
            raise
        except Exception as exc:
            raise InvalidFeed(f"{type(exc).__name__}: {_shorten(str(exc))}") from exc


# --- decoding and sniffing ------------------------------------------------------------


def _decode(data: bytes, warnings: list[str]) -> str:
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            data = data[len(bom) :].decode(codec, errors="replace").encode()
            break
    data = data.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
        warnings.append("NUL bytes removed")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        warnings.append("invalid UTF-8 replaced with U+FFFD")
        text = data.decode(errors="replace")
    return _TRAILING_BLANKS.sub("", text)


def _check_is_one_calendar(text: str) -> None:
    body = text.strip()
    if not body:
        raise InvalidFeed("the body is empty")
    if not body[:15].upper() == "BEGIN:VCALENDAR":
        raise InvalidFeed(f"expected BEGIN:VCALENDAR but received {_describe(body)}")
    end = body.upper().rfind("END:VCALENDAR")
    if end < 0:
        raise InvalidFeed("the feed is cut off: there is no END:VCALENDAR")
    calendars = len(_VCALENDAR_LINE.findall(body))
    if calendars > 1:
        raise InvalidFeed(
            f"the body holds {calendars} calendars (BEGIN:VCALENDAR {calendars} times)"
        )
    trailing = body[end + len("END:VCALENDAR") :].strip()
    if trailing:
        raise InvalidFeed(f"content after END:VCALENDAR: {_describe(trailing)}")


def _read_calendar(text: str, warnings: list[str]) -> icalendar.Calendar:
    """Parse ``text``; a VTIMEZONE that icalendar cannot read is dropped, not the feed.

    iCloud exports Europe/Berlin with ``TZOFFSETFROM:+5328`` for 1893, which
    icalendar refuses, and so the whole calendar. The definitions are checked one
    by one only when the whole parse fails, so good feeds pay nothing for it.
    """
    try:
        return icalendar.Calendar.from_ical(text)
    except Exception:
        kept = _VTIMEZONE_BLOCK.sub(lambda found: _unless_broken(found.group(0), warnings), text)
        if kept == text:
            raise
        return icalendar.Calendar.from_ical(kept)


def _unless_broken(definition: str, warnings: list[str]) -> str:
    """A VTIMEZONE block as it is, or nothing (and a warning) if icalendar cannot read it."""
    try:
        icalendar.Timezone.from_ical(definition)
    except Exception as exc:  # noqa: BLE001 - whatever breaks it, the definition is unusable
        found = _TZID_LINE.search(definition)
        tzid = found.group(1).strip() if found else ""
        warnings.append(
            f"broken VTIMEZONE {tzid!r} ignored ({type(exc).__name__}: {_shorten(str(exc))}); "
            "its TZID is read as a timezone name"
        )
        return ""
    return definition


def _describe(text: str) -> str:
    """Say what a body that is not iCalendar looks like, for the error message."""
    head = text[:512].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        title = re.search(r"<title[^>]*>(.*?)</title>", text[:4096], re.IGNORECASE | re.DOTALL)
        named = f" titled {_shorten(title.group(1).strip())!r}" if title else ""
        return f"an HTML page{named}"
    if head.startswith("<?xml"):
        return "an XML document"
    if head.startswith(("{", "[")):
        return "JSON"
    printable = sum(char.isprintable() or char in "\r\n\t" for char in text[:512])
    if printable < 0.9 * min(len(text), 512) or "\ufffd" in text[:64]:
        return "binary data"
    return repr(_shorten(text))


def _shorten(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


# --- reading events -------------------------------------------------------------------


@dataclass
class _Reader:
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
        self._begin(_text(calendar, "X-WR-TIMEZONE"))
        self.timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
        events = [c for c in calendar.subcomponents if c.name == "VEVENT"]
        by_uid: dict[str | None, list[icalendar.Component]] = defaultdict(list)
        for event in events:
            self._read_weeks_as_time(event)
            self._resolve_tzids(event)
            by_uid[_text(event, "UID")].append(event)
        single: list[tuple[str, Block]] = []
        recurring: list[Block] = []
        for uid, group in by_uid.items():
            self._check_budget()
            if uid is None:
                for event in group:
                    if "RRULE" in event or "RDATE" in event:
                        recurring.extend(self._expand(None, _content_key(event), [event]))
                    else:
                        single.append(self._read_component(None, _content_key(event), event))
            elif any(p in e for e in group for p in _RECURRENCE_PROPERTIES):
                recurring.extend(self._expand(uid, uid, group))
            else:
                single.extend(self._read_component(uid, uid, event) for event in group)
        return self._result(single, recurring, _text(calendar, "PRODID"), len(events))

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
        self.product_timezone = _zone(self.options.timezone) or UTC
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
        blocks = _key_blocks([pair for pair in single if pair[1] is not _NOTHING], self.warnings)
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
        zone = _zone(name)
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
            values = _event_values(
                event, _value(event, "DTSTART"), _value(event, "DTEND"), _value(event, "DURATION")
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
            starts_at, ends_at = _all_day_interval(start, event.end, event.duration)
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
            ends_at = self._instant(_as_datetime(end))
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
            zone = _zone(name) if name else None
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
        problem = _rule_problem(group, self.options.window_end)
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
                _exclude_exrules(event, first, last)
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
        block = self._block(uid, f"{key}@{at}", _event_values(component, start, end, None))
        if block is _NOTHING:
            return block
        if block.ends_at <= self.options.window_start or block.starts_at >= self.options.window_end:
            return _NOTHING
        return block

    def _key_time(self, moment: date) -> str:
        if isinstance(moment, datetime):
            return self._instant(moment).strftime("%Y%m%dT%H%M%SZ")
        return moment.strftime("%Y%m%d")


_EPOCH = datetime.min.replace(tzinfo=UTC)
_NOTHING = Block(key="", starts_at=_EPOCH, ends_at=_EPOCH, all_day=False)
"""Returned where an event imports as nothing; the reason is in ``skipped``."""


def _all_day_interval(start: date, end: object, duration: object) -> tuple[datetime, datetime]:
    """Midnight-UTC encoded dates: DTEND exclusive, DURATION in days, else one day."""
    if isinstance(end, date):
        last = end.date() if isinstance(end, datetime) else end
    elif isinstance(duration, timedelta):
        last = start + timedelta(days=duration.days)
    else:
        last = start + timedelta(days=1)
    return date_at_midnight(start), date_at_midnight(last)


def _key_blocks(pairs: list[tuple[str, Block]], warnings: list[str]) -> list[Block]:
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


def _content_key(event: icalendar.Component) -> str:
    digest = hashlib.sha256()
    for name in ("DTSTART", "DTEND", "DURATION", "SUMMARY"):
        prop = event.get(name)
        digest.update(name.encode())
        digest.update(prop.to_ical() if prop is not None else b"")
    return f"nouid-{digest.hexdigest()[:20]}"


def _event_values(
    event: icalendar.Component, start: object, end: object, duration: object
) -> EventValues:
    return EventValues(
        start=start,
        end=end,
        duration=duration,
        summary=_text(event, "SUMMARY"),
        status=_text(event, "STATUS"),
        transp=_text(event, "TRANSP"),
    )


def _text(component: icalendar.Component, name: str) -> str | None:
    """A text property's value; the first one when a feed repeats the property."""
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def _value(event: icalendar.Component, name: str) -> object:
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
        raise ValueError(f"invalid {name}: {_shorten(str(exc))}") from exc


def _as_datetime(day: date) -> datetime:
    if isinstance(day, datetime):
        return day
    return datetime(day.year, day.month, day.day)  # noqa: DTZ001 - floating, localised later


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _rule_problem(group: list[icalendar.Component], window_end: datetime) -> str | None:
    """Why the recurrence rules of ``group`` cannot be expanded safely, or None."""
    for event in group:
        for failed, message in getattr(event, "errors", ()):
            if failed in ("RRULE", "EXRULE", "RDATE", "EXDATE", "DTSTART", "RECURRENCE-ID"):
                return f"invalid {failed}: {message}"
        for name in ("RRULE", "EXRULE"):
            rules = event.get(name)
            if rules is None:
                continue
            start = event.get("DTSTART")
            if start is None:
                return "recurring event without DTSTART"
            for rule in rules if isinstance(rules, list) else [rules]:
                problem = _one_rule_problem(name, rule, _naive(start.dt), _naive(window_end))
                if problem:
                    return problem
    return None


def _one_rule_problem(
    name: str, rule: icalendar.vRecur, start: datetime, window_end: datetime
) -> str | None:
    freq = str(_first(rule.get("FREQ"), "")).upper()
    if freq not in _RULE_STEP:
        return f"invalid {name}: unknown FREQ {freq!r}"
    interval = _first(rule.get("INTERVAL"), 1)
    if not isinstance(interval, int) or interval < 1:
        return f"invalid {name}: INTERVAL={interval} (it must be 1 or more)"
    until = _first(rule.get("UNTIL"), None)
    end = min(window_end, _naive(until)) if isinstance(until, date) else window_end
    steps = max(end - start, timedelta()) / (_RULE_STEP[freq] * interval)
    fan_out = 1
    for part in _RULE_FAN_OUT:
        fan_out *= max(len(rule.get(part, ())), 1)
    count = _first(rule.get("COUNT"), None)
    if isinstance(count, int) and fan_out == 1:
        steps = min(steps, count)
    if steps * fan_out > MAX_RULE_STEPS:
        return (
            f"{name} FREQ={freq} from {start:%Y-%m-%d} needs about {int(steps * fan_out)} "
            f"steps to reach the import window (limit {MAX_RULE_STEPS})"
        )
    return None


def _exclude_exrules(event: icalendar.Component, first: datetime, last: datetime) -> None:
    """Add the starts that the event's EXRULEs generate from ``first`` to ``last`` as EXDATEs.

    recurring-ical-events ignores EXRULE (RFC 2445; RFC 5545 dropped it, feeds
    still send it); dateutil expands it as RFC 2445 says: from DTSTART, which it
    excludes only if the rule generates it.
    """
    rules = event.get("EXRULE")
    start = _value(event, "DTSTART")
    if rules is None or not isinstance(start, date):
        return
    anchor = _as_datetime(start)
    excluded: list[datetime] = []
    for rule in rules if isinstance(rules, list) else [rules]:
        until = _first(rule.get("UNTIL"), None)
        if isinstance(until, date):
            rule = icalendar.vRecur({**rule, "UNTIL": [_like(until, anchor)]})  # noqa: PLW2901
        expanded = dateutil.rrule.rrulestr(rule.to_ical().decode(), dtstart=anchor)
        excluded.extend(expanded.between(_like(first, anchor), _like(last, anchor), inc=True))
    if excluded:
        event.add(
            "EXDATE", excluded if isinstance(start, datetime) else [d.date() for d in excluded]
        )


def _like(moment: date, anchor: datetime) -> datetime:
    """``moment`` as dateutil compares it with ``anchor``: aware (in UTC) or naive alike.

    A date stands for its whole day (an UNTIL date includes its day).
    """
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(23, 59, 59), tzinfo=anchor.tzinfo)
    if anchor.tzinfo is None:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return (moment if moment.tzinfo else moment.replace(tzinfo=anchor.tzinfo)).astimezone(UTC)


def _first(value: object, default: object) -> object:
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def _naive(moment: date) -> datetime:
    """A naive datetime for step counting (an error of hours does not matter there)."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return datetime(moment.year, moment.month, moment.day)  # noqa: DTZ001
