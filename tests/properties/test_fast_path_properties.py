"""The parser's fast path reads generated feeds exactly as icalendar does, or leaves them to it.

The feeds are of the common shapes (Airbnb, Booking.com, Google: VEVENTs with
dates, UTC or TZID times, DTEND or DURATION) and of shapes just beside them
(recurrence, VALARM, odd parameters, folds inside UTF-8 sequences, escapes,
duplicates, broken values). Every one is parsed both ways and compared with
:func:`differential.difference`.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from calsync.core import ical_fast
from conftest import NOW, parse_options
from differential import difference, took_fast_path

TZIDS = [
    "Europe/Amsterdam",
    "America/New_York",
    "W. Europe Standard Time",
    '"(UTC-05:00) Eastern Time (US & Canada)"',
    "(UTC+01:00) Amsterdam",
    '"Mitteleuropäische Zeit"',
    "Customized Time Zone",
    "Zone Defined By The Tests",
    "",
    '"Zone; with: odd"',
    "/freeassociation.sourceforge.net/Europe/Berlin",
]
KNOWN_TZIDS = TZIDS[:2]
EXCHANGE_UID = "040000008200E00074C5B7101A82E00800000000A1C3E5F7092BDB01000000000000000010000000"
AMSTERDAM = (
    "BEGIN:VTIMEZONE\nTZID:Europe/Amsterdam\nX-LIC-LOCATION:Europe/Amsterdam\n"
    "BEGIN:DAYLIGHT\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nTZNAME:CEST\n"
    "DTSTART:19700329T020000\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nEND:DAYLIGHT\n"
    "BEGIN:STANDARD\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nTZNAME:CET\n"
    "DTSTART:19701025T030000\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nEND:STANDARD\n"
    "END:VTIMEZONE"
)
VTIMEZONES = [
    AMSTERDAM,
    AMSTERDAM.replace("Europe/Amsterdam", "Zone Defined By The Tests"),
    AMSTERDAM.replace("Europe/Amsterdam", "W. Europe Standard Time"),
    AMSTERDAM.replace("TZOFFSETFROM:+0100", "TZOFFSETFROM:+5328"),
    AMSTERDAM.replace("TZID:Europe/Amsterdam", "TZID:Europe/Amsterdam\nTZID:Europe/Berlin"),
]
PRODIDS = [
    "PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN",
    "PRODID:-//admin.booking.com//h2cal//EN",
    r"PRODID:-//Google Inc//Google Calendar 70.9054//EN\, really",
    "PRODID;VALUE=TEXT:-//odd//EN",
]
CALENDAR_LINES = [
    "VERSION:2.0",
    "CALSCALE:GREGORIAN",
    "METHOD:PUBLISH",
    "X-WR-CALNAME:Huisje Bergen",
    "X-WR-TIMEZONE:Europe/Amsterdam",
    "X-WR-TIMEZONE:America/Los_Angeles",
    "X-WR-TIMEZONE:Mars/Olympus_Mons",
    "X-PUBLISHED-TTL:PT1H",
    "NAME:Calendar",
    'X-WR-CALDESC;X-A="b:c;d":e',
]
ODD_CALENDAR_LINES = [
    "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
    "REFRESH-INTERVAL;VALUE=DURATION:soon",
    "SOURCE:https://example.com/",
    "X-WR-TIMEZONE;VALUE=TEXT:Europe/Amsterdam",
    "BEGIN:VTODO\nUID:t\nEND:VTODO",
    "X-COMMENT:x",
]
SUMMARY_PIECES = [
    "Reserved",
    "CLOSED - Not available",
    "Airbnb (Not available)",
    r"\,",
    r"\;",
    r"\n",
    r"\N",
    r"\\",
    r"\:",
    ",",
    ";",
    ":",
    '"',
    " ",
    "é",
    "Wenen–Genève",
    "😀",
]
EXTRA_LINES = [
    "DTSTAMP:20261115T101544Z",
    "DTSTAMP;VALUE=DATE-TIME:20261115T101544Z",
    "DTSTAMP:garbage",
    "CREATED:20260102T090000Z",
    "SEQUENCE:0",
    "SEQUENCE:x",
    "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HMABCDEF\\nPhone Number (Last 4 Digits): 1234",
    "LOCATION;LANGUAGE=de:Bergen\\, NH",
    'ATTENDEE;CN="Doe, Jane";ROLE=REQ-PARTICIPANT:mailto:jane@example.com',
    "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
    'X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE="Terminal 2";X-HANDLE=CAES=:geo:52.3,4.7',
    "GEO:52.3;4.7",
    "URL:https://example.com/",
    "CLASS:PUBLIC",
    "dtstamp:20261115T101544Z",
    "X-EMPTY:",
    "CATEGORIES:a,b",
]
ODD_LINES = [
    "X-PARAM;X-A = b:c",
    "X-PARAM;X-A=b :c",
    "CATEGORIES;VALUE=TEXT:a",
    "CATEGORIES;VALUE=INTEGER:a",
    "ATTACH;VALUE=BINARY;ENCODING=BASE64:Zm9v",
    "DT START:20261201",
    "X-A^B:c",
    "X-A;X-B=c^d:e",
    "RRULE:FREQ=DAILY;COUNT=3",
    "RDATE;VALUE=DATE:20261210",
    "EXDATE:20261202T150000Z",
    "EXRULE:FREQ=WEEKLY",
    "RECURRENCE-ID:20261201T150000Z",
    "DUE:20261201T150000Z",
    "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nDESCRIPTION:x\nEND:VALARM",
    "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:soon\nEND:VALARM",
    "SUMMARY:twice",
    "DTSTART;VALUE=DATE:20261203",
]


def rarely(draw: st.DrawFn) -> bool:
    """True about once in twenty draws: how often a generated feed strays from the common shape."""
    return draw(st.integers(0, 19)) == 0


def sometimes(draw: st.DrawFn) -> bool:
    """True about once in ten draws."""
    return draw(st.integers(0, 9)) == 0


@st.composite
def moments(draw: st.DrawFn, day: int, *, plain: bool) -> tuple[str, str]:
    """A DTSTART/DTEND-like ``(parameters, value)`` around ``NOW + day`` days."""
    when = NOW + timedelta(days=day, hours=draw(st.integers(-30, 30)))
    date_value, time_value = f"{when:%Y%m%d}", f"{when:%Y%m%dT%H%M%S}"
    if plain:
        forms = ["date", "bare date", "utc", "tzid"]
    elif rarely(draw):
        forms = ["date with tzid", "tzid utc", "period", "invalid", "odd"]
    else:
        forms = ["date", "bare date", "utc", "tzid", "floating"]
    form = draw(st.sampled_from(forms))
    tzid = draw(st.sampled_from(KNOWN_TZIDS if plain else TZIDS))
    value_kind = draw(st.sampled_from(["VALUE=DATE", "value=date", "VALUE=DATE-TIME"]))
    odd_params = draw(st.sampled_from(["; TZID=Europe/Amsterdam", ";X-A=1", ";TZID="]))
    invalid = draw(st.sampled_from(["20261301", "2026120", "20261201T250000", "P1D", "x"]))
    return {
        "date": (";VALUE=DATE" if plain else f";{value_kind}", date_value),
        "bare date": ("", date_value),
        "utc": ("", f"{time_value}Z"),
        "tzid": (f";TZID={tzid}", time_value),
        "floating": ("", time_value),
        "date with tzid": (f";{value_kind};TZID={tzid}", date_value),
        "tzid utc": (f";TZID={tzid}", f"{time_value}Z"),
        "period": (";VALUE=PERIOD", f"{time_value}Z/PT1H"),
        "invalid": ("", invalid),
        "odd": (odd_params, time_value),
    }[form]


@st.composite
def events(draw: st.DrawFn, *, plain: bool) -> list[str]:
    """The lines of one VEVENT (without BEGIN/END)."""
    lines: list[str] = []
    uid = draw(st.sampled_from(["1418fb94e984-a@airbnb.com", "b@booking.com", "c", EXCHANGE_UID]))
    if plain or not rarely(draw):
        lines.append(f"UID:{uid}")
    day = draw(st.integers(-60, 800))
    params, value = draw(moments(day, plain=plain))
    if plain or not rarely(draw):
        lines.append(f"DTSTART{params}:{value}")
    end = draw(st.sampled_from(["dtend", "duration", "none"]))
    if end == "dtend":
        end_params, end_value = draw(moments(day + draw(st.integers(-1, 4)), plain=plain))
        lines.append(f"DTEND{end_params}:{end_value}")
    elif end == "duration":
        durations = ["P3D", "PT2H", "P1W", "PT90M", "-P1D", "P0D"]
        if not plain and rarely(draw):
            durations = ["PT1W", "p1d", "P1DT", "20261201", "garbage"]
        lines.append(f"DURATION:{draw(st.sampled_from(durations))}")
    if draw(st.booleans()):
        summary = "".join(draw(st.lists(st.sampled_from(SUMMARY_PIECES), max_size=6)))
        lines.append(f"SUMMARY:{summary}")
    for name, values in (
        ("STATUS", ["CONFIRMED", "TENTATIVE", "CANCELLED", "tentative"]),
        ("TRANSP", ["OPAQUE", "TRANSPARENT", "transparent"]),
    ):
        if draw(st.booleans()):
            lines.append(f"{name}:{draw(st.sampled_from(values))}")
    if not plain:
        lines += draw(st.lists(st.sampled_from(EXTRA_LINES), max_size=2))
        if sometimes(draw):
            lines.append(draw(st.sampled_from(ODD_LINES)))
        if lines and sometimes(draw):
            lines.append(draw(st.sampled_from(lines)))
        if draw(st.booleans()) and lines:
            index = draw(st.integers(0, len(lines) - 1))
            name, rest = re.split(r"(?=[;:])", lines[index], maxsplit=1)
            lines[index] = name.lower() + rest
    return draw(st.permutations(lines))


def fold(line: bytes, draw: st.DrawFn, *, width: int | None = None) -> bytes:
    """``line`` folded every ``width`` bytes, or at drawn byte offsets; inside UTF-8 sequences too."""
    if width:
        cuts = list(range(width, len(line), width))
    else:
        cuts = sorted(set(draw(st.lists(st.integers(1, max(len(line) - 1, 1)), max_size=3))))
    pieces = [line[i:j] for i, j in zip([0, *cuts], [*cuts, len(line)], strict=True)]
    return b"\r\n ".join(pieces) if draw(st.booleans()) else b"\n\t".join(pieces)


@st.composite
def feeds(draw: st.DrawFn, *, plain: bool = False) -> bytes:
    """A whole feed: header, VTIMEZONEs, events, each line maybe folded, CRLF or LF."""
    lines = ["BEGIN:VCALENDAR", draw(st.sampled_from(PRODIDS[:2] if plain else PRODIDS[:3]))]
    if not plain and rarely(draw):
        lines[1] = PRODIDS[3]
    if plain:
        lines += draw(st.lists(st.sampled_from(CALENDAR_LINES[:4]), unique=True))
        lines += draw(st.lists(st.sampled_from(CALENDAR_LINES[4:6]), max_size=1))
    else:
        lines += draw(
            st.lists(st.sampled_from(CALENDAR_LINES[:4] + CALENDAR_LINES[7:]), unique=True)
        )
        lines += draw(st.lists(st.sampled_from(CALENDAR_LINES[4:7]), max_size=1))
        if sometimes(draw):
            lines.append(draw(st.sampled_from(ODD_CALENDAR_LINES)))
    timezones = draw(st.lists(st.sampled_from(VTIMEZONES[:1]), max_size=2))
    if not plain and sometimes(draw):
        timezones.append(draw(st.sampled_from(VTIMEZONES[1:])))
    body: list[str] = []
    for event in draw(st.lists(events(plain=plain), min_size=1, max_size=5)):
        body += ["BEGIN:VEVENT", *"\n".join(event).split("\n"), "END:VEVENT"]
    zones = [line for zone in timezones for line in zone.split("\n")]
    lines += body + zones if draw(st.booleans()) else zones + body
    lines.append("END:VCALENDAR")
    newline = b"\r\n" if draw(st.booleans()) else b"\n"
    encoded = [line.encode() for line in lines]
    if plain:
        encoded = [fold(line, draw, width=75) if len(line) > 75 else line for line in encoded]
    else:
        width = draw(st.sampled_from([None, 75, 40]))
        encoded = [
            fold(line, draw, width=width) if len(line) > (width or 75) or rarely(draw) else line
            for line in encoded
        ]
        if rarely(draw):
            encoded.insert(draw(st.integers(1, len(encoded) - 1)), b"")
    return newline.join(encoded) + newline


OPTIONS = [
    parse_options(),
    parse_options(timezone="America/New_York", time_offset_hours=3),
    parse_options(timezone="Pacific/Kiritimati", time_offset_hours=-5, transparent_events="skip"),
    parse_options(timezone="UTC", event_status_sync="TENTATIVE", past_days=0, horizon_days=365),
]
SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(feeds(), st.sampled_from(OPTIONS))
def test_the_fast_path_reads_generated_feeds_as_icalendar_does(feed, options):
    """Common and near-miss shapes: the fast path's result equals icalendar's, or it leaves the feed to icalendar."""
    assert difference(feed, options) is None


@SETTINGS
@given(feeds(plain=True), st.sampled_from(OPTIONS))
def test_the_fast_path_answers_for_the_common_shapes(feed, options):
    """Plain Airbnb/Booking.com/Google shapes are read by the fast path itself, and equal icalendar's reading."""
    assert took_fast_path(feed, options)
    assert difference(feed, options) is None


def _unescape_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical_fast, "unescape_backslash", lambda value: value)


def _keep_the_blank_of_a_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical_fast, "UFOLD", re.compile(r"\r?\n(?=[ \t])"))


def _ignore_tzids(monkeypatch: pytest.MonkeyPatch) -> None:
    params = ical_fast._params
    monkeypatch.setattr(
        ical_fast, "_params", lambda text: {k: v for k, v in params(text).items() if k != "TZID"}
    )


@pytest.mark.parametrize("mutate", [_unescape_nothing, _keep_the_blank_of_a_fold, _ignore_tzids])
def test_the_differential_test_catches_a_broken_fast_path(monkeypatch, mutate):
    """With a small bug put into the fast path, the comparison finds a generated feed it misreads."""
    mutate(monkeypatch)
    find(
        st.tuples(feeds(), st.sampled_from(OPTIONS)),
        lambda example: difference(*example) is not None,
        settings=settings(
            max_examples=2000, database=None, derandomize=True, phases=[Phase.generate]
        ),
    )
