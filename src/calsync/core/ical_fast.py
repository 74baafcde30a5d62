"""Read a feed of the common shape straight from its content lines: the parser's fast path.

icalendar builds a component object for every event and parses every line
character by character (DESIGN §11); most feeds are a plain list of stays
(Airbnb, Booking.com, Vrbo, Google). :func:`read_simple_feed` reads such a feed
into :class:`SimpleFeed`, and the import rules (:mod:`calsync.core.ical_in`)
apply to it exactly as to icalendar's reading. The values are read with
icalendar's own pieces: its unfolding (``UFOLD``), its TEXT unescaping, its
date, date-time and duration parsing and TZID lookup (``vDDDTypes.from_ical``).

It answers None ("not sure": the feed goes through icalendar) for anything else:

* a line that is not ``NAME[;PARAM=VALUE]…:VALUE`` in a strict form: ASCII
  names; parameter values without backslash, ``^``, comma or control
  characters and without blanks at their edges or around ``=``, quoted ones
  without ``"`` (icalendar would unescape, split or strip those);
* a component other than VEVENT and VTIMEZONE, or any inside a VEVENT (VALARM);
* a VTIMEZONE whose TZID is not an IANA name (icalendar would use the
  definition), or that icalendar cannot read (it would be dropped with a warning);
* an event without UID (its key hashes icalendar's serialisation), with RRULE,
  RDATE, EXDATE, EXRULE, RECURRENCE-ID or DUE, or with a property the rules read
  given twice;
* a DTSTART or DTEND that is not a date or date-time, a DURATION that is not a
  duration (``PT1W``), a ``VALUE`` parameter other than DATE or DATE-TIME on
  them or any on the TEXT properties read, a TZID starting with ``/``;
* a property nobody reads whose value icalendar could refuse in a way that
  matters, its type taken by name or ``VALUE`` as icalendar takes it: in the
  calendar only TEXT and unknown ones are passed over (icalendar refuses the
  whole calendar for a bad one), in an event those of the types in
  :data:`_EVENT_TYPES_PASSED_OVER` (an event keeps its unreadable values aside).

No I/O, no clock; the parser workers import it, so it imports little.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING

from icalendar import Component, Timezone
from icalendar.parser.content_line import NEWLINE, UFOLD
from icalendar.parser.property import unescape_backslash
from icalendar.prop import (
    vCalAddress,
    vCategory,
    vDDDTypes,
    vGeo,
    vInt,
    vText,
    vUnknown,
    vUri,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True, slots=True)
class EventValues:
    """What the import rules read from one event (or occurrence), however it was parsed.

    ``start`` and ``end`` are dates or date-times as icalendar gives them; a
    ``*_tzid`` is the TZID of a time that icalendar could not put in a zone, for
    the rules to resolve (display names, unknown zones).
    """

    start: object
    end: object
    duration: object
    summary: str | None
    status: str | None
    transp: str | None
    start_tzid: str | None = None
    end_tzid: str | None = None


@dataclass(frozen=True, slots=True)
class SimpleFeed:
    """A feed of the common shape: its events (UID and values) in order, PRODID, X-WR-TIMEZONE."""

    events: tuple[tuple[str, EventValues], ...]
    prodid: str | None
    calendar_timezone: str | None


def read_simple_feed(text: str) -> SimpleFeed | None:
    """Read ``text`` (one decoded VCALENDAR) if it has the common shape, else None."""
    try:
        return _read_calendar(_content_lines(text))
    except _NotSimple:
        return None


class _NotSimple(Exception):
    """The feed is not of the shape this reader is sure about."""


_QUOTED = r'"[^"\\^\x00-\x08\x0a-\x1f\x7f]*"'
_PLAIN = r'(?!\s)(?:[^";:,=\\^\x00-\x1f\x7f]|(?<!\s)=(?!\s))*(?<!\s)'
_LINE = re.compile(rf"([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:{_QUOTED}|{_PLAIN}))*):(.*)", re.DOTALL)
_PARAM = re.compile(r';([A-Za-z0-9-]+)=(?:"([^"]*)"|([^;]*))')
_VALUE_PARAM = re.compile(r";VALUE=", re.IGNORECASE)
_READ_IN_EVENT = frozenset(("UID", "DTSTART", "DTEND", "DURATION", "SUMMARY", "STATUS", "TRANSP"))
_NOT_IN_A_SIMPLE_EVENT = frozenset(
    ("BEGIN", "RRULE", "RDATE", "EXDATE", "EXRULE", "RECURRENCE-ID", "DUE")
)
_READ_IN_CALENDAR = frozenset(("PRODID", "X-WR-TIMEZONE"))
_CALENDAR_TYPES_PASSED_OVER = frozenset((vText, vUnknown))
#: Value types of event properties the rules do not read whose parsers raise
#: nothing but ValueError and TypeError (which an event records and ignores)
#: and whose constructors take whatever their parsers return.
_EVENT_TYPES_PASSED_OVER = frozenset(
    (vText, vUnknown, vDDDTypes, vInt, vUri, vCalAddress, vCategory, vGeo)
)
_DATE_VALUES = ("DATE", "DATE-TIME")

_Line = tuple[str, str, str]
"""A content line: its name (upper case), its parameters as written (``;A=b;C="d"``), its value."""


def _content_lines(text: str) -> Iterator[_Line]:
    """Unfold as icalendar does, skip empty lines, and split each line strictly."""
    for line in NEWLINE.split(UFOLD.sub("", text)):
        if not line:
            continue
        found = _LINE.fullmatch(line)
        if found is None:
            raise _NotSimple
        yield found[1].upper(), found[2], found[3]


def _read_calendar(lines: Iterator[_Line]) -> SimpleFeed:
    if _component(next(lines, ("", "", "")), "BEGIN") != "VCALENDAR":
        raise _NotSimple
    events: list[tuple[str, EventValues]] = []
    properties: dict[str, tuple[str, str]] = {}
    for line in lines:
        name, params, value = line
        if name == "BEGIN":
            component = _component(line, "BEGIN")
            if component == "VEVENT":
                events.append(_read_event(lines))
            elif component == "VTIMEZONE":
                _check_timezone(lines)
            else:
                raise _NotSimple
        elif name == "END":
            if _component(line, "END") != "VCALENDAR" or next(lines, None) is not None:
                raise _NotSimple
            return SimpleFeed(
                events=tuple(events),
                prodid=_text(properties.get("PRODID")),
                calendar_timezone=_unknown(properties.get("X-WR-TIMEZONE")),
            )
        elif name in _READ_IN_CALENDAR:
            _keep_once(properties, name, params, value)
        elif not _passed_over(name, params, _CALENDAR_TYPES_PASSED_OVER):
            raise _NotSimple
    raise _NotSimple


def _read_event(lines: Iterator[_Line]) -> tuple[str, EventValues]:
    properties: dict[str, tuple[str, str]] = {}
    for line in lines:
        name, params, value = line
        if name in _READ_IN_EVENT:
            _keep_once(properties, name, params, value)
        elif name == "END":
            if _component(line, "END") != "VEVENT":
                raise _NotSimple
            return _event(properties)
        elif name in _NOT_IN_A_SIMPLE_EVENT or not _passed_over(
            name, params, _EVENT_TYPES_PASSED_OVER
        ):
            raise _NotSimple
    raise _NotSimple


def _event(properties: dict[str, tuple[str, str]]) -> tuple[str, EventValues]:
    uid = _text(properties.get("UID"))
    if uid is None:
        raise _NotSimple
    start, start_tzid = _moment(properties.get("DTSTART"))
    end, end_tzid = _moment(properties.get("DTEND"))
    return uid, EventValues(
        start=start,
        end=end,
        duration=_duration(properties.get("DURATION")),
        summary=_text(properties.get("SUMMARY")),
        status=_text(properties.get("STATUS")),
        transp=_text(properties.get("TRANSP")),
        start_tzid=start_tzid,
        end_tzid=end_tzid,
    )


def _check_timezone(lines: Iterator[_Line]) -> None:
    """Pass over a VTIMEZONE that icalendar reads and then ignores: an IANA TZID's.

    icalendar resolves a TZID it knows by name and uses a definition only for a
    name it does not know; a definition it cannot read is dropped with a warning.
    """
    block, tzids = _timezone_block(lines)
    if len(tzids) != 1 or tzids[0] not in _iana_zones():
        raise _NotSimple
    try:
        Timezone.from_ical("\r\n".join(block))
    except Exception as exc:  # whatever icalendar refuses, the icalendar path reports
        raise _NotSimple from exc


def _timezone_block(lines: Iterator[_Line]) -> tuple[list[str], list[str]]:
    """The lines of a VTIMEZONE up to its END, and its TZIDs; STANDARD and DAYLIGHT inside."""
    block = ["BEGIN:VTIMEZONE"]
    tzids: list[str] = []
    inside: str | None = None
    for line in lines:
        name, params, value = line
        block.append(f"{name}{params}:{value}")
        if name == "BEGIN" and inside is None:
            inside = _component(line, "BEGIN")
            if inside not in ("STANDARD", "DAYLIGHT"):
                raise _NotSimple
        elif name == "END":
            if _component(line, "END") != (inside or "VTIMEZONE"):
                raise _NotSimple
            if inside is None:
                return block, tzids
            inside = None
        elif name == "BEGIN":
            raise _NotSimple
        elif name == "TZID" and inside is None:
            tzids.append(_text((params, value)) or "")
    raise _NotSimple


@cache
def _iana_zones() -> frozenset[str]:
    """The zone names icalendar's zoneinfo provider knows (it asks the same function)."""
    return frozenset(zoneinfo.available_timezones())


def _component(line: _Line, keyword: str) -> str:
    """The component a BEGIN or END line names; a line with parameters is not sure."""
    name, params, value = line
    if name != keyword or params:
        raise _NotSimple
    return value.upper()


def _keep_once(properties: dict[str, tuple[str, str]], name: str, params: str, value: str) -> None:
    if name in properties:
        raise _NotSimple
    properties[name] = (params, value)


def _passed_over(name: str, params: str, types: frozenset[type]) -> bool:
    """Whether a property nobody reads is one icalendar reads without failing the feed.

    Its type is the one icalendar picks, by name or by ``VALUE`` parameter;
    CATEGORIES with a ``VALUE`` is built by icalendar in a way that may raise.
    """
    kind = _params(params).get("VALUE") if params else None
    if kind is not None and name == "CATEGORIES":
        return False
    return Component.types_factory.for_property(name, kind and kind.upper()) in types


def _params(params: str) -> dict[str, str]:
    """Parameters by upper-case name, as icalendar reads them (the last of a name wins)."""
    return {name.upper(): quoted or plain for name, quoted, plain in _PARAM.findall(params)}


def _text(prop: tuple[str, str] | None) -> str | None:
    """A TEXT value, unescaped as icalendar does."""
    if prop is None:
        return None
    params, value = prop
    if params and _VALUE_PARAM.search(params):
        raise _NotSimple
    return unescape_backslash(value) if "\\" in value else value


def _unknown(prop: tuple[str, str] | None) -> str | None:
    """A value of unknown type (X-WR-TIMEZONE): icalendar keeps it verbatim."""
    if prop is None:
        return None
    params, value = prop
    if params and _VALUE_PARAM.search(params):
        raise _NotSimple
    return value


def _moment(prop: tuple[str, str] | None) -> tuple[date | None, str | None]:
    """A DTSTART or DTEND as icalendar reads it, and its TZID."""
    if prop is None:
        return None, None
    params, value = prop
    found = _params(params)
    kind = found.get("VALUE")
    tzid = found.get("TZID")
    if (kind is not None and kind.upper() not in _DATE_VALUES) or (tzid or "").startswith("/"):
        raise _NotSimple
    moment = _parse(value, tzid)
    if not isinstance(moment, date):
        raise _NotSimple
    return moment, tzid


def _duration(prop: tuple[str, str] | None) -> timedelta | None:
    if prop is None:
        return None
    params, value = prop
    if params and _VALUE_PARAM.search(params):
        raise _NotSimple
    duration = _parse(value, None)
    if not isinstance(duration, timedelta):
        raise _NotSimple
    return duration


def _parse(value: str, tzid: str | None) -> object:
    """The value as icalendar's parser gives it (a TZID it cannot find leaves a time floating)."""
    if "\\" in value:
        value = unescape_backslash(value)
    try:
        return vDDDTypes.from_ical(value, tzid) if tzid else vDDDTypes.from_ical(value)  # type: ignore[no-untyped-call]
    except Exception as exc:  # icalendar marks the value broken: the rules say why
        raise _NotSimple from exc
