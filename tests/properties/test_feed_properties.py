"""Rendering a feed: any calendar name and summary come back as the same text, in valid lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import icalendar
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser import Contentlines

from calsync.core.ical_out import FeedEvent, render_feed
from calsync.core.text import feed_text

STAMP = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cs"]),  # any code point UTF-8 can carry
        st.sampled_from("\\;,:\"'=\r\n\t\x00\x1b\x7f\x85\u2028 Nn"),  # what escaping is about
    ),
    max_size=120,
)
_ESCAPE = re.compile(r"\\([\\;,nN])")


def unescape(value: str) -> str:
    r"""An RFC 5545 TEXT value as text, in one pass.

    icalendar's own decoder replaces ``\n`` before ``\\``, so it reads the escaped
    backslash of ``C:\next`` (``C:\\next``) as a line break; the feed is right.
    """
    return _ESCAPE.sub(lambda found: "\n" if found[1] in "nN" else found[1], value)


def expected(text: str) -> str:
    r"""What a reader gets back: :func:`feed_text`, and vText's ``\N`` read as a line break."""
    return feed_text(text).replace("\\N", "\n")


@settings(max_examples=300, deadline=None)
@given(name=TEXT, summary=TEXT, count=st.integers(0, 3))
def test_any_name_and_summary_round_trip_through_icalendar(name, summary, count):
    """Any text as X-WR-CALNAME and SUMMARY: the feed parses, adds no line, and reads back."""
    events = [
        FeedEvent(f"{day}@calsync", STAMP + timedelta(days=day), STAMP + timedelta(days=day + 1),
                  all_day=False)
        for day in range(count)
    ]  # fmt: skip
    body = render_feed(
        events,
        calendar_name=name,
        summary=summary,
        stamp=STAMP,
        refresh_interval=timedelta(hours=1),
    )

    physical = body.split(b"\r\n")
    assert physical[-1] == b""
    assert all(len(line) <= 75 and b"\r" not in line and b"\n" not in line for line in physical)
    parsed = icalendar.Calendar.from_ical(body)
    assert len(parsed.events) == count
    unfolded = Contentlines.from_ical(body.decode())  # type: ignore[no-untyped-call]
    lines = [line.raw_parts() for line in unfolded if line]
    names = [value for prop, _, value in lines if prop == "X-WR-CALNAME"]
    summaries = [value for prop, _, value in lines if prop == "SUMMARY"]
    assert [expected(name)] == [unescape(value) for value in names]
    assert [expected(summary)] * count == [unescape(value) for value in summaries]
    assert ["BEGIN", "END"] == [prop for prop, _, value in lines if value == "VCALENDAR"]
