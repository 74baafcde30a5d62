"""Table tests of the import rules (DESIGN §4), one rule per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.core.ical_in import ParsedFeed, parse_feed
from calsync.errors import FeedError, InvalidFeed
from conftest import NOW, calendar, parse_options


def parse(data: bytes, **overrides: object) -> ParsedFeed:
    return parse_feed(data, parse_options(**overrides))


def spans(feed: ParsedFeed) -> list[tuple[str, str, str, bool]]:
    return [(b.key, b.starts_at.isoformat(), b.ends_at.isoformat(), b.all_day) for b in feed.blocks]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> str:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).isoformat()


# --- all-day events -----------------------------------------------------------------------


def test_all_day_dtend_is_the_exclusive_check_out_day():
    """DTSTART;VALUE=DATE:20261201 / DTEND;VALUE=DATE:20261205 occupies 1–4 Dec, out on the 5th."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205"))
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 5), True)]


def test_all_day_without_dtend_lasts_one_day():
    """DTSTART;VALUE=DATE:20261210 with no DTEND is the one day 10 Dec."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261210"))
    assert spans(feed) == [("a", utc(2026, 12, 10), utc(2026, 12, 11), True)]


def test_bare_eight_digit_date_is_all_day():
    """DTSTART:20261201 without VALUE=DATE (Lodgify, Smoobu) is still a date."""
    feed = parse(calendar("UID:a\nDTSTART:20261201\nDTEND:20261203"))
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 3), True)]


def test_all_day_duration_in_days():
    """DTSTART;VALUE=DATE:20261201 with DURATION:P3D ends on 4 Dec."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nDURATION:P3D"))
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 4), True)]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_all_day_dates_never_pass_through_a_timezone(zone):
    """The same all-day event gives the same dates whatever the product's timezone."""
    feed = parse(
        calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261202"), timezone=zone
    )
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 2), True)]


@pytest.mark.parametrize("offset", [-12, -3, 5, 14])
def test_time_offset_never_shifts_all_day_events(offset):
    """time_offset applies to timed events only: dates stay on their day."""
    feed = parse(
        calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261202"),
        time_offset_hours=offset,
    )
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 2), True)]


# --- timed events and timezones --------------------------------------------------------------


def test_utc_times_are_honoured():
    """DTSTART:20261201T150000Z is 15:00 UTC."""
    feed = parse(calendar("UID:a\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z"))
    assert spans(feed) == [("a", utc(2026, 12, 1, 15), utc(2026, 12, 1, 16), False)]


def test_tzid_is_honoured_across_dst():
    """DTSTART;TZID=Europe/Amsterdam:20270601T150000 is 13:00 UTC in summer, 14:00 in winter."""
    feed = parse(
        calendar(
            "UID:s\nDTSTART;TZID=Europe/Amsterdam:20270601T150000\nDTEND;TZID=Europe/Amsterdam:20270601T160000",
            "UID:w\nDTSTART;TZID=Europe/Amsterdam:20261201T150000\nDTEND;TZID=Europe/Amsterdam:20261201T160000",
        ),
        timezone="UTC",
    )
    assert spans(feed) == [
        ("w", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False),
        ("s", utc(2027, 6, 1, 13), utc(2027, 6, 1, 14), False),
    ]


def test_windows_timezone_names_are_honoured():
    """Outlook's DTSTART;TZID=W. Europe Standard Time:20261201T150000 is Berlin time."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;TZID=W. Europe Standard Time:20261201T150000\n"
            "DTEND;TZID=W. Europe Standard Time:20261201T160000"
        ),
        timezone="UTC",
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]


def test_floating_times_are_read_in_the_product_timezone():
    """DTSTART:20261201T150000 (no Z, no TZID) is 15:00 in Europe/Amsterdam."""
    feed = parse(calendar("UID:a\nDTSTART:20261201T150000\nDTEND:20261201T160000"))
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]


def test_x_wr_timezone_is_the_zone_of_floating_times():
    """X-WR-TIMEZONE:America/New_York makes 15:00 floating mean 20:00 UTC."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART:20261201T150000\nDTEND:20261201T160000",
            head="X-WR-TIMEZONE:America/New_York\r\n",
        )
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 20), utc(2026, 12, 1, 21), False)]


def test_outlook_display_name_tzid_is_its_zone():
    """Regression: TZID="(UTC-05:00) Eastern Time (US & Canada)" was read in the product's zone."""
    zone = '"(UTC-05:00) Eastern Time (US & Canada)"'
    feed = parse(
        calendar(f"UID:a\nDTSTART;TZID={zone}:20261201T150000\nDTEND;TZID={zone}:20261201T160000")
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 20), utc(2026, 12, 1, 21), False)]
    assert feed.warnings == ()


def test_outlook_display_name_tzid_holds_for_every_occurrence():
    """A weekly event in "(UTC+10:00) Canberra, Melbourne, Sydney": each occurrence and EXDATE in Sydney time."""
    zone = '"(UTC+10:00) Canberra, Melbourne, Sydney"'
    feed = parse(
        calendar(
            f"UID:w\nDTSTART;TZID={zone}:20261201T090000\nDTEND;TZID={zone}:20261201T100000\n"
            f"RRULE:FREQ=WEEKLY;COUNT=3\nEXDATE;TZID={zone}:20261208T090000"
        )
    )
    assert spans(feed) == [
        ("w@20261130T220000Z", utc(2026, 11, 30, 22), utc(2026, 11, 30, 23), False),
        ("w@20261214T220000Z", utc(2026, 12, 14, 22), utc(2026, 12, 14, 23), False),
    ]


def test_empty_tzid_is_read_in_the_product_timezone_with_a_warning():
    """Regression: DTSTART;TZID=:20261201T150000 was read in Europe/Amsterdam without a word."""
    feed = parse(calendar("UID:a\nDTSTART;TZID=:20261201T150000\nDTEND;TZID=:20261201T160000"))
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert feed.warnings == ("empty TZID, read in Europe/Amsterdam",)


def test_unknown_tzid_is_read_in_the_product_timezone_even_with_x_wr_timezone():
    """An unknown TZID goes to the product's zone (the rule), not the X-WR-TIMEZONE of floating times."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;TZID=Customized Time Zone:20261201T150000\nDURATION:PT1H",
            head="X-WR-TIMEZONE:America/New_York\r\n",
        )
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert feed.warnings == ("unknown timezone 'Customized Time Zone', read in Europe/Amsterdam",)


def test_icloud_broken_vtimezone_does_not_fail_the_feed():
    """Regression: iCloud's Europe/Berlin with TZOFFSETFROM:+5328 (1893) rejected the whole feed."""
    berlin = (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:18930401T000000\r\n"
        "TZOFFSETFROM:+5328\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    feed = parse(
        calendar(
            "UID:a\nDTSTART;TZID=Europe/Berlin:20261201T150000\nDTEND;TZID=Europe/Berlin:20261201T160000",
            head=berlin,
        ),
        timezone="UTC",
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert "broken VTIMEZONE 'Europe/Berlin' ignored" in feed.warnings[0]


def test_broken_custom_vtimezone_falls_back_to_the_product_timezone_with_warnings():
    """A broken VTIMEZONE whose TZID is no zone name: its times are read in the product's zone."""
    custom = (
        "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\n"
        "DTSTART:16010101T000000\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    feed = parse(
        calendar(
            "UID:a\nDTSTART;TZID=Customized Time Zone:20261201T150000\nDURATION:PT1H", head=custom
        )
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert [w.split(" (")[0] for w in feed.warnings] == [
        "broken VTIMEZONE 'Customized Time Zone' ignored",
        "unknown timezone 'Customized Time Zone', read in Europe/Amsterdam",
    ]


def test_empty_tzid_with_an_empty_named_vtimezone_does_not_fail_the_feed():
    """Regression (ical4j#367 shape): TZID= with a VTIMEZONE named "" rejected the whole feed."""
    unnamed = (
        "BEGIN:VTIMEZONE\r\nTZID:\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    feed = parse(calendar("UID:a\nDTSTART;TZID=:20261201T150000\nDURATION:PT1H", head=unnamed))
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert [w.split(" (")[0] for w in feed.warnings] == [
        "broken VTIMEZONE '' ignored",
        "empty TZID, read in Europe/Amsterdam",
    ]


def _custom_zone_feed(offset: str) -> bytes:
    """A feed whose one event is at 12:00 in a VTIMEZONE named like Outlook's custom ones."""
    zone = (
        "BEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\nBEGIN:STANDARD\r\n"
        f"DTSTART:16010101T000000\r\nTZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\n"
        "END:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    return calendar(
        "UID:custom\nDTSTART;TZID=Customized Time Zone:20261201T120000\n"
        "DTEND;TZID=Customized Time Zone:20261201T130000",
        head=zone,
    )


def test_custom_vtimezone_of_one_feed_never_applies_to_another():
    """Two feeds define ``TZID:Customized Time Zone`` differently: each is read in its own.

    icalendar caches custom zones per process and the first definition won, so a
    parser worker read the second feed's 12:00 +0100 as 12:00 +0200.
    """
    first = parse_feed(_custom_zone_feed("+0200"), parse_options())
    second = parse_feed(_custom_zone_feed("+0100"), parse_options())
    assert datetime(2026, 12, 1, 10, tzinfo=UTC) == first.blocks[0].starts_at
    assert datetime(2026, 12, 1, 11, tzinfo=UTC) == second.blocks[0].starts_at


def test_a_custom_vtimezone_never_reaches_a_later_feed_without_one():
    """A feed naming ``Customized Time Zone`` without defining it is read in the product's zone.

    Even right after another feed defined that name (+0200): the fast path looked
    the name up in icalendar's process-wide cache and found that definition.
    """
    parse_feed(_custom_zone_feed("+0200"), parse_options())
    bare = calendar(
        "UID:bare\nDTSTART;TZID=Customized Time Zone:20261201T120000\n"
        "DTEND;TZID=Customized Time Zone:20261201T130000"
    )
    parsed = parse_feed(bare, parse_options())
    assert datetime(2026, 12, 1, 11, tzinfo=UTC) == parsed.blocks[0].starts_at
    assert ["unknown timezone 'Customized Time Zone', read in Europe/Amsterdam"] == list(
        parsed.warnings
    )


def test_unknown_tzid_falls_back_to_the_product_timezone_with_a_warning():
    """DTSTART;TZID=Mars/Olympus_Mons:20261201T150000 is read in Europe/Amsterdam, and said so."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;TZID=Mars/Olympus_Mons:20261201T150000\nDTEND;TZID=Mars/Olympus_Mons:20261201T160000"
        )
    )
    assert spans(feed) == [("a", utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), False)]
    assert any("Mars/Olympus_Mons" in warning for warning in feed.warnings)


def test_synology_duration_pt1w_is_one_week():
    """Regression: Synology's DURATION:PT1W (not RFC 5545's P1W) dropped the event; it is a week."""
    feed = parse(calendar("UID:a\nDTSTART:20261201T150000Z\nDURATION:PT1W"))
    assert spans(feed) == [("a", utc(2026, 12, 1, 15), utc(2026, 12, 8, 15), False)]
    assert feed.warnings == ("DURATION:PT1W read as P1W (1 week)",)


def test_duration_weeks_as_time_hold_for_every_occurrence():
    """DURATION:PT2W on a monthly rule: each occurrence lasts two weeks."""
    feed = parse(
        calendar("UID:m\nDTSTART;VALUE=DATE:20261201\nDURATION:PT2W\nRRULE:FREQ=MONTHLY;COUNT=2")
    )
    assert spans(feed) == [
        ("m@20261201", utc(2026, 12, 1), utc(2026, 12, 15), True),
        ("m@20270101", utc(2027, 1, 1), utc(2027, 1, 15), True),
    ]


def test_duration_gives_the_end_of_a_timed_event():
    """DTSTART:20261201T150000Z with DURATION:PT90M ends at 16:30."""
    feed = parse(calendar("UID:a\nDTSTART:20261201T150000Z\nDURATION:PT90M"))
    assert spans(feed) == [("a", utc(2026, 12, 1, 15), utc(2026, 12, 1, 16, 30), False)]


@pytest.mark.parametrize(("offset", "start_hour"), [(2, 17), (-3, 12), (0, 15)])
def test_time_offset_shifts_timed_events_by_hours(offset, start_hour):
    """time_offset (hours) moves a timed event's start and end."""
    feed = parse(
        calendar("UID:a\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z"),
        time_offset_hours=offset,
    )
    start = datetime(2026, 12, 1, start_hour, tzinfo=UTC)
    assert spans(feed) == [
        ("a", start.isoformat(), (start + timedelta(hours=1)).isoformat(), False)
    ]


# --- skipped events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("UID:x\nDTSTART;VALUE=DATE:20261201\nSTATUS:CANCELLED", "cancelled"),
        ("UID:x\nDTSTART:20261201T150000Z", "zero length"),
        ("UID:x\nDTSTART:20261201T150000Z\nDTEND:20261201T140000Z", "negative length"),
        ("UID:x\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261201", "zero length"),
        ("UID:x\nSUMMARY:no start", "no DTSTART"),
        ("UID:x\nDTSTART:20261341", "invalid DTSTART"),
        ("UID:x\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20269999", "invalid DTEND"),
        ("UID:x\nDTSTART;VALUE=DATE:20260901\nDTEND;VALUE=DATE:20260905", "outside window"),
        ("UID:x\nDTSTART;VALUE=DATE:20300101", "outside window"),
    ],
)
def test_skipped_events_have_a_reason_and_the_rest_imports(event, reason):
    """A bad or non-blocking event is skipped with its reason; the good event beside it imports."""
    feed = parse(calendar(event, "UID:ok\nDTSTART;VALUE=DATE:20261210"))
    assert [block.key for block in feed.blocks] == ["ok"]
    assert [s.uid for s in feed.skipped] == ["x"]
    assert reason in feed.skipped[0].reason


def test_google_transparent_all_day_block_blocks():
    """Regression: Google's all-day owner block is TRANSP:TRANSPARENT by default; it blocks."""
    feed = parse(calendar("UID:g\nDTSTART;VALUE=DATE:20261201\nTRANSP:TRANSPARENT"))
    assert spans(feed) == [("g", utc(2026, 12, 1), utc(2026, 12, 2), True)]


def test_transparent_events_skip_honours_transp():
    """transparent_events=skip imports a TRANSP:TRANSPARENT event as nothing, with the reason."""
    feed = parse(
        calendar(
            "UID:free\nDTSTART;VALUE=DATE:20261201\nTRANSP:TRANSPARENT",
            "UID:busy\nDTSTART;VALUE=DATE:20261203\nTRANSP:OPAQUE",
        ),
        transparent_events="skip",
    )
    assert [b.key for b in feed.blocks] == ["busy"]
    assert [(s.uid, "TRANSP:TRANSPARENT" in s.reason) for s in feed.skipped] == [("free", True)]


def test_a_cancelled_transparent_event_stays_skipped():
    """STATUS:CANCELLED is skipped whatever TRANSP says, also when transparent events block."""
    feed = parse(
        calendar("UID:c\nDTSTART;VALUE=DATE:20261201\nTRANSP:TRANSPARENT\nSTATUS:CANCELLED")
    )
    assert feed.blocks == ()
    assert "cancelled" in feed.skipped[0].reason


def test_tentative_imports_as_tentative_and_still_blocks():
    """STATUS:TENTATIVE with event_status_sync=import gives a tentative block."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nSTATUS:TENTATIVE"))
    assert [b.status for b in feed.blocks] == ["tentative"]


@pytest.mark.parametrize(
    ("mode", "status"), [("CONFIRMED", "confirmed"), ("TENTATIVE", "tentative")]
)
def test_event_status_sync_forces_the_status(mode, status):
    """event_status_sync=CONFIRMED/TENTATIVE overrides the event's own STATUS."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;VALUE=DATE:20261201\nSTATUS:TENTATIVE",
            "UID:b\nDTSTART;VALUE=DATE:20261203",
        ),
        event_status_sync=mode,
    )
    assert [b.status for b in feed.blocks] == [status, status]


# --- keys ---------------------------------------------------------------------------------------


def test_same_uid_at_different_times_keeps_every_stay():
    """Smoobu repeats UID:stay for two stays: both import, keyed UID@start."""
    feed = parse(
        calendar(
            "UID:stay\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261203",
            "UID:stay\nDTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261212",
        )
    )
    assert [b.key for b in feed.blocks] == ["stay@20261201", "stay@20261210"]


def test_exact_duplicate_event_imports_once_and_is_reported():
    """The same UID at the same interval twice is one block; the later one wins."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;VALUE=DATE:20261201\nSUMMARY:first",
            "UID:a\nDTSTART;VALUE=DATE:20261201\nSUMMARY:second",
        )
    )
    assert [(b.key, b.summary) for b in feed.blocks] == [("a", "second")]
    assert any("duplicate" in warning for warning in feed.warnings)


def test_event_without_uid_gets_a_stable_content_key():
    """No UID: the key is a hash of DTSTART, DTEND and SUMMARY, the same on every fetch."""
    data = calendar("DTSTART;VALUE=DATE:20261201\nSUMMARY:Blocked")
    first, second = parse(data), parse(data)
    assert first.blocks[0].key.startswith("nouid-")
    assert first.blocks[0].key == second.blocks[0].key


# --- recurrence -----------------------------------------------------------------------------------


def test_rrule_exdate_and_recurrence_id_override():
    """RRULE weekly ×4, EXDATE removes the 2nd, RECURRENCE-ID moves the 3rd to 17:00."""
    feed = parse(
        calendar(
            "UID:r\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z\nRRULE:FREQ=WEEKLY;COUNT=4\nEXDATE:20261208T150000Z",
            "UID:r\nRECURRENCE-ID:20261215T150000Z\nDTSTART:20261215T170000Z\nDTEND:20261215T180000Z",
        )
    )
    assert spans(feed) == [
        ("r@20261201T150000Z", utc(2026, 12, 1, 15), utc(2026, 12, 1, 16), False),
        ("r@20261215T150000Z", utc(2026, 12, 15, 17), utc(2026, 12, 15, 18), False),
        ("r@20261222T150000Z", utc(2026, 12, 22, 15), utc(2026, 12, 22, 16), False),
    ]


def test_exchange_2010_recurring_event_without_uid_keeps_its_repeats():
    """Regression: a weekly event without UID (Exchange 2010) gave 1 block; each occurrence is one."""
    data = calendar(
        "DTSTART:20261201T150000Z\nDTEND:20261201T160000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nSUMMARY:Cleaning"
    )
    feed = parse(data)
    assert [b.starts_at.isoformat() for b in feed.blocks] == [
        utc(2026, 12, 1, 15),
        utc(2026, 12, 8, 15),
        utc(2026, 12, 15, 15),
    ]
    prefix = feed.blocks[0].key.split("@")[0]
    assert prefix.startswith("nouid-")
    assert [b.key for b in feed.blocks] == [
        f"{prefix}@20261201T150000Z",
        f"{prefix}@20261208T150000Z",
        f"{prefix}@20261215T150000Z",
    ]
    assert [b.key for b in parse(data).blocks] == [b.key for b in feed.blocks]


def test_exrule_cancelling_every_occurrence_imports_nothing():
    """Regression: RRULE:FREQ=DAILY;COUNT=5 with EXRULE:FREQ=DAILY;COUNT=5 imported 5 phantom blocks."""
    feed = parse(
        calendar(
            "UID:x\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z\n"
            "RRULE:FREQ=DAILY;COUNT=5\nEXRULE:FREQ=DAILY;COUNT=5"
        )
    )
    assert feed.blocks == ()


def test_exrule_removes_only_the_occurrences_it_generates():
    """Daily in Berlin time with EXRULE:FREQ=WEEKLY;BYDAY=TU: the Tuesday goes, DTSTART (Monday) stays."""
    feed = parse(
        calendar(
            "UID:d\nDTSTART;TZID=Europe/Berlin:20261130T150000\nDTEND;TZID=Europe/Berlin:20261130T160000\n"
            "RRULE:FREQ=DAILY;COUNT=4\nEXRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261231T000000Z"
        )
    )
    assert [b.key for b in feed.blocks] == [
        "d@20261130T140000Z",
        "d@20261202T140000Z",
        "d@20261203T140000Z",
    ]


def test_exrule_with_an_until_date_on_all_day_events():
    """EXRULE:FREQ=DAILY;UNTIL=20261202 removes 1 and 2 Dec (its UNTIL day included) of a daily stay."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;VALUE=DATE:20261201\nRRULE:FREQ=DAILY;COUNT=4\nEXRULE:FREQ=DAILY;UNTIL=20261202"
        )
    )
    assert [b.key for b in feed.blocks] == ["a@20261203", "a@20261204"]


def test_rdate_adds_occurrences():
    """RDATE;VALUE=DATE:20261210 adds a day to an all-day event."""
    feed = parse(calendar("UID:r\nDTSTART;VALUE=DATE:20261201\nRDATE;VALUE=DATE:20261210"))
    assert [b.key for b in feed.blocks] == ["r@20261201", "r@20261210"]


def test_recurrence_is_expanded_only_inside_the_window():
    """A daily rule with no end gives occurrences from now−30 days to now+horizon only."""
    feed = parse(
        calendar("UID:r\nDTSTART;VALUE=DATE:20260101\nRRULE:FREQ=DAILY"),
        past_days=2,
        horizon_days=3,
    )
    assert [b.key for b in feed.blocks] == [
        "r@20261113",
        "r@20261114",
        "r@20261115",
        "r@20261116",
        "r@20261117",
        "r@20261118",
    ]


def test_occurrences_are_capped_per_event():
    """An hourly rule is cut at max_occurrences_per_event, with a reason."""
    feed = parse(
        calendar(
            "UID:r\nDTSTART:20261115T000000Z\nDTEND:20261115T003000Z\nRRULE:FREQ=HOURLY;COUNT=5000"
        ),
        max_occurrences_per_event=50,
    )
    assert len(feed.blocks) == 50
    assert "more than 50 occurrences" in feed.skipped[0].reason


def test_occurrences_are_capped_per_feed():
    """Two daily rules stop together at max_occurrences for the feed, with a warning."""
    feed = parse(
        calendar(
            "UID:a\nDTSTART;VALUE=DATE:20261115\nRRULE:FREQ=DAILY;COUNT=40",
            "UID:b\nDTSTART;VALUE=DATE:20261115\nRRULE:FREQ=DAILY;COUNT=40",
        ),
        max_occurrences=50,
    )
    assert len(feed.blocks) == 50
    assert any("more than 50 occurrences" in warning for warning in feed.warnings)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0"),
        ("FREQ=FORTNIGHTLY", "FORTNIGHTLY"),
        ("FREQ=HOURLY", "steps"),
        ("FREQ=MINUTELY", "steps"),
        ("FREQ=SECONDLY", "steps"),
    ],
)
def test_runaway_or_invalid_rules_skip_their_event(rule, reason):
    """RRULE:INTERVAL=0, an unknown FREQ or an hourly rule from 1900 skips that event only, fast."""
    feed = parse(
        calendar(
            f"UID:x\nDTSTART:19000101T000000Z\nDTEND:19000101T003000Z\nRRULE:{rule}",
            "UID:ok\nDTSTART;VALUE=DATE:20261210",
        )
    )
    assert [b.key for b in feed.blocks] == ["ok"]
    assert reason in feed.skipped[0].reason


@pytest.mark.parametrize(("rule", "reason"), [("FREQ=SECONDLY", "steps"), ("FREQ=NEVER", "NEVER")])
def test_runaway_or_invalid_exrule_skips_its_event(rule, reason):
    """An EXRULE that would run away (secondly from 1900) or cannot be read skips its event only."""
    feed = parse(
        calendar(
            f"UID:x\nDTSTART:19000101T000000Z\nDTEND:19000101T003000Z\nRRULE:FREQ=YEARLY\nEXRULE:{rule}",
            "UID:ok\nDTSTART;VALUE=DATE:20261210",
        )
    )
    assert [b.key for b in feed.blocks] == ["ok"]
    assert "EXRULE" in feed.skipped[0].reason
    assert reason in feed.skipped[0].reason


def test_time_budget_stops_a_slow_feed_with_a_feed_error():
    """A feed that takes longer than its time budget raises InvalidFeed, importing nothing."""
    ticks = iter(range(0, 10_000, 10))
    with pytest.raises(InvalidFeed, match="longer than 5 s"):
        parse(
            calendar("UID:a\nDTSTART;VALUE=DATE:20261115\nRRULE:FREQ=DAILY;COUNT=400"),
            monotonic=lambda: float(next(ticks)),
        )


# --- hostile and non-iCal input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the body is empty"),
        (b"   \r\n", "the body is empty"),
        (
            b"<!DOCTYPE html><html><head><title>Log in - Airbnb</title></head><body/></html>",
            "an HTML page titled 'Log in - Airbnb'",
        ),
        (b'{"error":"unauthorized"}', "JSON"),
        (b"<?xml version='1.0'?><error/>", "XML"),
        (bytes(range(256)) * 4, "binary data"),
        (
            calendar("UID:a\nDTSTART;VALUE=DATE:20261201") + b"<html><body>Error 500</body></html>",
            "content after END:VCALENDAR: an HTML page",
        ),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n", "cut off"),
        (calendar("UID:a\nDTSTART;VALUE=DATE:20261201") * 2, "the body holds 2 calendars"),
        (
            b"BEGIN:VCALENDAR\r\nthis is not a content line\r\nEND:VCALENDAR\r\n",
            "not a valid iCalendar feed",
        ),
    ],
)
def test_non_ical_input_raises_one_clear_feed_error(body, message):
    """Anything but one VCALENDAR raises InvalidFeed saying what was received."""
    with pytest.raises(FeedError, match="not a valid iCalendar feed") as raised:
        parse(body)
    assert message in str(raised.value)


def test_bom_and_nul_bytes_are_tolerated():
    """A UTF-8 BOM is accepted and NUL bytes are removed (and reported)."""
    feed = parse(b"\xef\xbb\xbf" + calendar("UID:a\x00\nDTSTART;VALUE=DATE:20261201"))
    assert [b.key for b in feed.blocks] == ["a"]
    assert "NUL bytes removed" in feed.warnings


def test_invalid_utf8_is_replaced_and_reported():
    r"""SUMMARY:caf\xe9 (Latin-1) imports as café with U+FFFD and a warning."""
    feed = parse(
        calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nSUMMARY:caf").replace(b"caf", b"caf\xe9")
    )
    assert feed.blocks[0].summary == "caf\ufffd"
    assert any("UTF-8" in warning for warning in feed.warnings)


def test_lf_line_endings_are_read():
    """A feed with bare LF line endings reads like one with CRLF."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201").replace(b"\r\n", b"\n"))
    assert [b.key for b in feed.blocks] == ["a"]


def test_too_many_events_is_refused():
    """More VEVENTs than max_events raises InvalidFeed before parsing."""
    events = [f"UID:{n}\nDTSTART;VALUE=DATE:20261201" for n in range(11)]
    with pytest.raises(InvalidFeed, match="11 events, more than the limit of 10"):
        parse(calendar(*events), max_events=10)


def test_prodid_and_event_count_are_reported():
    """The feed's PRODID and its number of VEVENTs come back with the blocks."""
    feed = parse(
        calendar("UID:a\nDTSTART;VALUE=DATE:20261201", "UID:b\nDTSTART;VALUE=DATE:20260101")
    )
    assert (feed.prodid, feed.event_count) == ("-//calsync tests//EN", 2)


def test_now_is_the_window_anchor():
    """The window is computed from the given now, never the clock."""
    assert parse_options().window_start == NOW - timedelta(days=30)


def test_repeated_properties_read_their_first_value():
    """Regression: a feed repeating PRODID, UID or SUMMARY gave "[vText(...)]" strings."""
    data = calendar(
        "UID:a\nUID:b\nDTSTART;VALUE=DATE:20261201\nSUMMARY:one\nSUMMARY:two",
        head="PRODID:-//first//EN\r\nPRODID:-//second//EN\r\n",
    )
    feed = parse(data)
    assert (feed.prodid, feed.blocks[0].key, feed.blocks[0].summary) == ("-//first//EN", "a", "one")


def test_trailing_blanks_after_a_value_are_ignored():
    """Regression (Smoobu): "DTEND;VALUE=DATE:20261203 " with a trailing blank was skipped as invalid."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201 \nDTEND;VALUE=DATE:20261203\t"))
    assert spans(feed) == [("a", utc(2026, 12, 1), utc(2026, 12, 3), True)]


def test_blank_before_a_fold_is_kept():
    r"""A blank that ends a folded line's first part is content: "Sea \r\n view" reads "Sea view"."""
    feed = parse(calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nSUMMARY:Sea \r\n view"))
    assert feed.blocks[0].summary == "Sea view"


def test_invalid_feed_survives_pickling():
    """A parse error raised in a parser process arrives with the same message."""
    import pickle

    error = InvalidFeed("the body is empty")
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert str(restored) == "not a valid iCalendar feed: the body is empty"
