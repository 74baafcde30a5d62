"""Parsing untrusted bytes: blocks or a FeedError, nothing else, always within the budget."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calsync.core.ical_in import ParsedFeed, parse_feed
from calsync.errors import FeedError
from conftest import calendar, parse_options
from differential import difference

FEEDS = Path(__file__).parent.parent / "feeds"
SAMPLES = [path.read_bytes() for path in sorted(FEEDS.glob("*.ics"))] + [
    calendar(
        "UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205\nSUMMARY:Reserved",
        "UID:r\nDTSTART;TZID=Europe/Amsterdam:20261201T150000\nDTEND;TZID=Europe/Amsterdam:20261201T160000\n"
        "RRULE:FREQ=WEEKLY;COUNT=10\nEXDATE;TZID=Europe/Amsterdam:20261208T150000",
        "UID:r\nRECURRENCE-ID;TZID=Europe/Amsterdam:20261215T150000\nDTSTART:20261215T170000Z\nDURATION:PT1H",
        "UID:x\nDTSTART;TZID=Europe/Berlin:20261201T150000\nDURATION:PT1W\nRRULE:FREQ=DAILY;COUNT=20\n"
        "EXRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261231T000000Z",
        'DTSTART;TZID="(UTC-05:00) Eastern Time (US & Canada)":20261201T150000\nDURATION:PT2H\n'
        "RRULE:FREQ=WEEKLY;COUNT=5\nSUMMARY:no uid",
    )
]
OPTIONS = parse_options(
    time_budget_seconds=2.0, max_occurrences=2000, max_occurrences_per_event=500
)


def parse_or_feed_error(data: bytes) -> ParsedFeed | None:
    try:
        return parse_feed(data, OPTIONS)
    except FeedError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_give_blocks_or_a_feed_error(data):
    """Any bytes at all: parse returns a ParsedFeed or raises FeedError."""
    parse_or_feed_error(data)


@st.composite
def mutated_feeds(draw: st.DrawFn) -> bytes:
    """A real-shaped feed with lines dropped, repeated, cut, swapped or sprinkled with junk."""
    lines = draw(st.sampled_from(SAMPLES)).split(b"\n")
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "cut", "junk", "swap", "digits"]))
        line = lines[index]
        if action == "drop":
            del lines[index]
        elif action == "repeat":
            lines.insert(index, line)
        elif action == "cut":
            lines[index] = line[: draw(st.integers(0, len(line)))]
        elif action == "junk":
            lines[index] = line + draw(st.binary(max_size=12))
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            lines[index] = bytes(
                ch if not chr(ch).isdigit() else ord(str(draw(st.integers(0, 9)))) for ch in line
            )
    return b"\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_feeds())
def test_mutated_real_feeds_give_blocks_or_a_feed_error(data):
    """Damaged real feeds: a ParsedFeed whose blocks are well-formed, or a FeedError."""
    feed = parse_or_feed_error(data)
    if feed is None:
        return
    keys = [block.key for block in feed.blocks]
    assert len(keys) == len(set(keys))
    for block in feed.blocks:
        assert block.starts_at < block.ends_at
        assert block.starts_at.tzinfo is not None
        assert block.ends_at > OPTIONS.window_start
        assert block.starts_at < OPTIONS.window_end


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_feeds())
def test_mutated_real_feeds_read_the_same_on_the_fast_path(data):
    """Damaged real feeds: the fast path reads them as icalendar does, or leaves them to it."""
    assert difference(data, OPTIONS) is None
