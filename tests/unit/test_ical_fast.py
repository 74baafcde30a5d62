"""The parser's fast path: which feeds it reads itself, and that every corpus feed reads the same both ways."""

from __future__ import annotations

import pytest
from bench.feeds import SHAPES, STAMP, FeedSpec

from calsync.core import ical_fast
from calsync.core.ical_fast import read_simple_feed
from conftest import FEEDS, calendar, parse_options
from differential import difference, took_fast_path

CORPUS = sorted(FEEDS.glob("*.ics"))
OPTIONS = {
    "Amsterdam": parse_options(),
    "New York, +3 h": parse_options(timezone="America/New_York", time_offset_hours=3),
    "Kiritimati, -5 h, transparent skipped": parse_options(
        timezone="Pacific/Kiritimati", time_offset_hours=-5, transparent_events="skip"
    ),
    "UTC, forced tentative, short window": parse_options(
        timezone="UTC", event_status_sync="TENTATIVE", past_days=0, horizon_days=365
    ),
}
FAST_IN_THE_CORPUS = {
    "airbnb_classic_reserved_blocked",
    "airbnb_dtstamp_request_time",
    "booking_com_closed_not_available",
    "channel_manager_tentative_transparent",
    "google_transparent_all_day_blocks",
    "google_vtimezone_tzid_cancelled",
    "icloud_published_no_vtimezone",
    "outlook_windows_tzid_no_vtimezone",
    "smoobu_same_uid_lf_trailing_ws",
    "vrbo_homeaway_reserved_blocked",
    "xwrtimezone_floating_and_utc",
}
PLAIN = "UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205\nSUMMARY:Reserved"


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_every_corpus_feed_reads_the_same_on_the_fast_path(path, options):
    """Each feed of tests/feeds, under several timezones and offsets: the fast path equals icalendar."""
    assert difference(path.read_bytes(), options) is None


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.stem)
def test_the_fast_path_reads_the_common_corpus_feeds_itself(path):
    """Airbnb, Booking.com, Vrbo, Google, iCloud and Windows-TZID feeds take the fast path; the others do not."""
    assert took_fast_path(path.read_bytes(), parse_options()) == (path.stem in FAST_IN_THE_CORPUS)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_fast_path_reads_the_bench_feeds_itself(shape):
    """The benchmark's Airbnb, Booking.com and Google shapes are read by the fast path, as icalendar does."""
    body = FeedSpec(shape, 50, seed=1).template().replace(STAMP, b"20261121T120000Z")
    assert took_fast_path(body, parse_options())
    assert difference(body, parse_options()) is None


@pytest.mark.parametrize(
    ("event", "head"),
    [
        (PLAIN + "\nRRULE:FREQ=WEEKLY;COUNT=3", ""),
        (PLAIN + "\nEXDATE;VALUE=DATE:20261208", ""),
        (PLAIN + "\nEXRULE:FREQ=WEEKLY", ""),
        (PLAIN + "\nRECURRENCE-ID;VALUE=DATE:20261201", ""),
        (PLAIN + "\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT15M\nEND:VALARM", ""),
        (PLAIN.replace("UID:a\n", ""), ""),
        (PLAIN + "\nSUMMARY:again", ""),
        (PLAIN.replace("DTEND;VALUE=DATE:20261205", "DURATION:PT1W"), ""),
        (PLAIN.replace("20261205", "20261305"), ""),
        (
            PLAIN.replace("VALUE=DATE:20261205", "TZID=/example.com/Europe/Berlin:20261205T100000"),
            "",
        ),
        (PLAIN + "\nX-A;X-B= c:d", ""),
        (PLAIN, "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"),
        (
            PLAIN,
            "BEGIN:VTIMEZONE\r\nTZID:Zone Defined By The Tests\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        ),
        (
            PLAIN,
            "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:18930401T000000\r\nTZOFFSETFROM:+5328\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        ),
    ],
    ids=[
        "RRULE",
        "EXDATE",
        "EXRULE",
        "RECURRENCE-ID",
        "VALARM",
        "no UID",
        "SUMMARY twice",
        "DURATION:PT1W",
        "invalid DTEND",
        "globally unique TZID",
        "blank around a parameter",
        "calendar property icalendar may refuse",
        "VTIMEZONE of a name icalendar does not know",
        "VTIMEZONE icalendar cannot read",
    ],
)
def test_the_fast_path_leaves_other_shapes_to_icalendar(event, head):
    """Recurrence, alarms, missing UIDs, duplicates, broken values and custom VTIMEZONEs go through icalendar."""
    data = calendar(event, head=head)
    assert read_simple_feed(data.decode()) is None
    assert not took_fast_path(data, parse_options())


@pytest.mark.parametrize(
    "event",
    [
        PLAIN,
        PLAIN.replace("SUMMARY:Reserved", r"SUMMARY:Stay\, 2 guests\; paid\nnote \\ done"),
        'UID:a\nDTSTART;TZID="(UTC-05:00) Eastern Time (US & Canada)":20261201T150000\nDURATION:PT2H',
        "UID:a\nDTSTART;TZID=Nowhere Standard Time:20261201T150000\nDTEND:20261201T170000Z",
        "uid:a\ndtstart:20261201T150000\ndtend:20261201T160000\nstatus:tentative\ntransp:transparent",
    ],
    ids=["all-day", "TEXT escapes", "display-name TZID", "unknown TZID", "lower-case names"],
)
def test_the_fast_path_reads_the_common_shapes_as_icalendar_does(event):
    """Dates, escapes, display-name and unknown TZIDs, lower-case names: read by the fast path, equal to icalendar."""
    data = calendar(event, head="X-WR-TIMEZONE:America/Los_Angeles\r\n")
    assert took_fast_path(data, parse_options())
    assert difference(data, parse_options()) is None


def test_the_corpus_comparison_catches_a_broken_fast_path(monkeypatch):
    """With TEXT unescaping dropped from the fast path, the corpus comparison finds the feeds it misreads."""
    monkeypatch.setattr(ical_fast, "unescape_backslash", lambda value: value)
    differing = {path.stem for path in CORPUS if difference(path.read_bytes(), parse_options())}
    assert {
        "google_vtimezone_tzid_cancelled",
        "channel_manager_tentative_transparent",
    } <= differing
