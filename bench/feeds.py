"""Realistic channel feeds, generated: Airbnb, Booking.com and Google Calendar shapes.

Each feed is made of events that do not overlap, spread over the sync window
(about two years from now), in the layout the channel really sends (see
``tests/feeds`` for the real-shaped originals). DTSTAMP is stamped with the
request time on every fetch, as Airbnb and Booking.com do; the feed server
fills it in. A ``version`` other than 0 changes exactly one event: its end moves
(a day, or half an hour for Google's timed events).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Shape = Literal["airbnb", "booking", "google"]
SHAPES: tuple[Shape, ...] = ("airbnb", "booking", "google")
STAMP = b"\x00STAMP\x00"
"""Where the server puts the request time (``YYYYMMDDTHHMMSSZ``) in a feed template."""

_HEADERS: dict[Shape, str] = {
    "airbnb": (
        "BEGIN:VCALENDAR\r\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar"
        " 0.8.8//EN\r\nCALSCALE:GREGORIAN\r\nVERSION:2.0\r\n"
    ),
    "booking": (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//admin.booking.com//h2cal//EN\r\n"
        "CALSCALE:GREGORIAN\r\n"
    ),
    "google": (
        "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\n"
        "CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:Huisje Bergen\r\n"
        "X-WR-TIMEZONE:Europe/Amsterdam\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Amsterdam\r\n"
        "X-LIC-LOCATION:Europe/Amsterdam\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    ),
}


@dataclass(frozen=True)
class FeedSpec:
    """One generated feed: its channel shape, event count, seed and version."""

    shape: Shape
    events: int
    seed: int
    version: int = 0
    offset_days: int = 0
    """Moves every event: a product's calendars get different offsets, so their stays
    do not overlap (each reservation is on one channel, as on a real host's calendars)."""

    def template(self, today: date | None = None) -> bytes:
        """The feed's bytes with :data:`STAMP` where the request time goes."""
        start = today or datetime.now(UTC).date()
        lines = [_HEADERS[self.shape]]
        # Spread over 700 days from 20 days ago: stays of 1–3 nights (Google: one-hour
        # slots); a feed of more events than days has several on a day, as a venue's or
        # a multi-unit property's has.
        changed = self.version % self.events if self.version and self.events else None
        for index in range(self.events):
            digest = hashlib.blake2b(f"{self.seed}:{index}".encode(), digest_size=16).hexdigest()
            day = start + timedelta(days=index * 700 // self.events - 20 + self.offset_days)
            lines.append(_event(self.shape, digest, day, index, changed=index == changed))
        lines.append("END:VCALENDAR\r\n")
        return "".join(lines).encode()


def _event(shape: Shape, digest: str, day: date, index: int, *, changed: bool) -> str:
    stamp = STAMP.decode()
    end = day + timedelta(days=1 + int(digest[0], 16) % 3 + changed)
    if shape == "airbnb":
        return (
            f"BEGIN:VEVENT\r\nDTSTAMP:{stamp}\r\nDTEND;VALUE=DATE:{end:%Y%m%d}\r\n"
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}\r\nUID:1418fb94e984-{digest}@airbnb.com\r\n"
            "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\r\n"
            f" tails/HM{digest[:10].upper()}\\nPhone Number (Last 4 Digits): "
            f"{index % 10000:04d}\r\n"
            "SUMMARY:Reserved\r\nEND:VEVENT\r\n"
        )
    if shape == "booking":
        return (
            f"BEGIN:VEVENT\r\nUID:{digest}@booking.com\r\nDTSTAMP:{stamp}\r\n"
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}\r\nDTEND;VALUE=DATE:{end:%Y%m%d}\r\n"
            "SUMMARY:CLOSED - Not available\r\nEND:VEVENT\r\n"
        )
    hour = 8 + index % 12
    return (
        f"BEGIN:VEVENT\r\nDTSTART;TZID=Europe/Amsterdam:{day:%Y%m%d}T{hour:02d}0000\r\n"
        f"DTEND;TZID=Europe/Amsterdam:{day:%Y%m%d}T{hour + 1:02d}{30 * changed:02d}00\r\n"
        f"DTSTAMP:{stamp}\r\nUID:{digest}@google.com\r\nCREATED:20260102T090000Z\r\n"
        "LAST-MODIFIED:20260103T101500Z\r\nSEQUENCE:0\r\nSTATUS:CONFIRMED\r\n"
        f"SUMMARY:Eigen gebruik {index}\r\nTRANSP:OPAQUE\r\nEND:VEVENT\r\n"
    )
