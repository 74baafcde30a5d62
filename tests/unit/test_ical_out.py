"""The outbound feed's text values, and the plain-text rule for names and summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.core.ical_out import FeedEvent, render_feed
from calsync.core.text import check_plain_text, feed_text

STAMP = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
EVENT = FeedEvent("b1@calsync", STAMP, STAMP + timedelta(days=2), all_day=True)


def render(name: str, summary: str = "Not available") -> bytes:
    return render_feed(
        [EVENT],
        calendar_name=name,
        summary=summary,
        stamp=STAMP,
        refresh_interval=timedelta(hours=1),
    )


def test_calendar_name_is_escaped_as_text():
    r"""X-WR-CALNAME:Müller\; Strandhaus\, Zimmer 3 — not cut at the comma by a reader."""
    assert "X-WR-CALNAME:Müller\\; Strandhaus\\, Zimmer 3\r\n".encode() in render(
        "Müller; Strandhaus, Zimmer 3"
    )


def test_line_breaks_in_a_name_cannot_end_the_calendar():
    """A name "X<CR><LF>END:VCALENDAR" stays one escaped line: the feed ends once, at its end."""
    body = render("X\r\nEND:VCALENDAR", summary="Not\ravailable")
    assert b"X-WR-CALNAME:X\\nEND:VCALENDAR\r\n" in body
    assert b"SUMMARY:Not\\navailable\r\n" in body
    assert body.split(b"\r\n").count(b"END:VCALENDAR") == 1
    assert body.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("a\r\nb\rc\nd", "a\nb\nc\nd"),
        ("tab\tstays", "tab\tstays"),
        ("nul\x00 esc\x1b del\x7f nel\x85 gone", "nul esc del nel gone"),
        ("Zimmer 3 \u2028 ü", "Zimmer 3 \u2028 ü"),
    ],
)
def test_feed_text_keeps_line_breaks_and_tabs_and_drops_other_controls(text, plain):
    """Line breaks become one LF, a tab stays, every other control character goes."""
    assert plain == feed_text(text)


@pytest.mark.parametrize(
    ("text", "position"),
    [("Beach\nhouse", 5), ("Beach\rhouse", 5), ("\x00", 0), ("tab\there", 3), ("a\x9b", 1)],
)
def test_control_characters_are_refused_in_plain_text(text, position):
    """CR, LF, NUL, a tab, C1: ValueError naming the first one and where it is."""
    with pytest.raises(ValueError, match=f"U\\+00[0-9A-F]{{2}} at position {position}"):
        check_plain_text(text)


def test_plain_text_passes_unchanged():
    """Punctuation, umlauts, emoji and line separators that are not controls are fine."""
    text = "Müller; Strandhaus, Zimmer 3 \\N 🏖 \u2028"
    assert text == check_plain_text(text)
