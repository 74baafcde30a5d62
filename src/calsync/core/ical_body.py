"""The body of a feed before its events are read: decoding, sniffing, one calendar.

Pure; used by :func:`calsync.core.ical_in.parse_feed`. A body that is not one
VCALENDAR raises :class:`~calsync.errors.InvalidFeed` saying what it looks like
(an HTML login page, JSON, binary data); a VTIMEZONE icalendar cannot read is
dropped with a warning instead of failing the feed.
"""

from __future__ import annotations

import codecs
import re

import icalendar

from calsync.errors import InvalidFeed

_VTIMEZONE_BLOCK = re.compile(
    r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?(?:\n|\Z)", re.IGNORECASE | re.MULTILINE | re.DOTALL
)
_TZID_LINE = re.compile(r"^TZID(?:;[^:\r\n]*)?:(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
_VEVENT_LINE = re.compile(rb"^BEGIN:VEVENT\r?$", re.IGNORECASE | re.MULTILINE)
_VCALENDAR_LINE = re.compile(r"^BEGIN:VCALENDAR\r?$", re.IGNORECASE | re.MULTILINE)
# Trailing blanks on a line that no folded continuation follows (Smoobu writes
# "DTEND;VALUE=DATE:20261224 "); before a fold they are content and stay.
_TRAILING_BLANKS = re.compile(r"[ \t]+(?=\r?\n(?![ \t])|\Z)")


def count_events(text: str) -> int:
    """How many VEVENTs the text holds (checked against ``max_events`` before parsing)."""
    return len(_VEVENT_LINE.findall(text.encode()))


def decode(data: bytes, warnings: list[str]) -> str:
    """The body as text: BOMs and NUL bytes dropped, invalid UTF-8 replaced (with warnings)."""
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


def check_is_one_calendar(text: str) -> None:
    """Raise :class:`InvalidFeed` unless ``text`` is exactly one VCALENDAR."""
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


def read_calendar(text: str, warnings: list[str]) -> icalendar.Calendar:
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
            f"broken VTIMEZONE {tzid!r} ignored ({type(exc).__name__}: {shorten(str(exc))}); "
            "its TZID is read as a timezone name"
        )
        return ""
    return definition


def _describe(text: str) -> str:
    """Say what a body that is not iCalendar looks like, for the error message."""
    head = text[:512].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        title = re.search(r"<title[^>]*>(.*?)</title>", text[:4096], re.IGNORECASE | re.DOTALL)
        named = f" titled {shorten(title.group(1).strip())!r}" if title else ""
        return f"an HTML page{named}"
    if head.startswith("<?xml"):
        return "an XML document"
    if head.startswith(("{", "[")):
        return "JSON"
    printable = sum(char.isprintable() or char in "\r\n\t" for char in text[:512])
    if printable < 0.9 * min(len(text), 512) or "\ufffd" in text[:64]:
        return "binary data"
    return repr(shorten(text))


def shorten(text: str, limit: int = 80) -> str:
    """One line of at most ``limit`` characters, for messages."""
    line = " ".join(text.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"
