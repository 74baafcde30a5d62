"""URL redaction and the volatile-free content digest."""

from __future__ import annotations

import pytest

from calsync.core.digest import content_digest
from calsync.redact import redact_target, redact_url


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://www.airbnb.com/calendar/ical/12345678.ics?s=0123456789abcdef0123",
            "https://www.airbnb.com/calendar/ical/12345678.ics?***",
        ),
        (
            "https://admin.booking.com/hotel/hoteladmin/ical.html?t=8c3f1e0a-0b4c-4f1e-9d3c-9b1b4a2c7e11",
            "https://admin.booking.com/hotel/hoteladmin/ical.html?***",
        ),
        (
            "https://calendar.google.com/calendar/ical/x/private-0123456789abcdef0123456789abcdef/basic.ics",
            "https://calendar.google.com/calendar/ical/x/***/basic.ics",
        ),
        (
            "http://www.vrbo.com/icalendar/7a3e0c9f1b2d4e5f8a9b0c1d2e3f4a5b.ics",
            "http://www.vrbo.com/icalendar/***.ics",
        ),
        ("https://user:secret@example.com:8443/feed.ics", "https://***@example.com:8443/feed.ics"),
        ("not a url", "***"),
    ],
)
def test_secrets_in_feed_urls_are_redacted(url, redacted):
    """Query strings, path tokens and user:password never reach a log line."""
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "mailtos://user:password@mail.example.com?to=owner@example.com",
            "mailtos://…@mail.example.com",
        ),
        ("mailtos://user:p@ss/word@mail.example.com", "mailtos://…"),
        ("mailto://127.0.0.1:25?from=calsync@example.com", "mailto://127.0.0.1"),
        ("tgram://123456:bottoken/987654", "tgram://…"),
        ("slack://TokenA/TokenB/TokenC/#bookings", "slack://…"),
        ("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "discord://…"),
        ("json://hooks.example.com/alerts?secret=1", "json://hooks.example.com"),
        ("jsons://user:pw@[::1]:8443/x", "jsons://…@[::1]"),
        ("ntfy://ntfy.sh/my-private-topic", "ntfy://ntfy.sh"),
        ("json://" + "a" * 70 + ".b" * 3 + "/x", "json://…"),
        ("not a url", "…"),
    ],
)
def test_apprise_urls_keep_only_their_scheme_and_a_real_host(url, redacted):
    """Passwords, tokens (a Telegram bot token is the 'host'), paths and queries are left out."""
    assert redact_target(url) == redacted


FEED = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20261115T120000Z\r\nDTSTART;VALUE=DATE:20261201\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"


def test_digest_ignores_dtstamp_and_line_endings():
    """A new DTSTAMP (Airbnb stamps the request time) or LF endings give the same digest."""
    restamped = FEED.replace(b"20261115T120000Z", b"20261115T130000Z")
    assert (
        content_digest(FEED)
        == content_digest(restamped)
        == content_digest(FEED.replace(b"\r\n", b"\n"))
    )


def test_digest_ignores_folded_continuations_of_volatile_lines():
    """A folded LAST-MODIFIED line is ignored with its continuation."""
    folded = FEED.replace(b"UID:a\r\n", b"UID:a\r\nLAST-MODIFIED:2026\r\n 1115T120000Z\r\n")
    assert content_digest(FEED) == content_digest(folded)


def test_digest_sees_real_changes_and_parameters():
    """A changed date, or a different parse parameter, changes the digest."""
    assert content_digest(FEED) != content_digest(FEED.replace(b"20261201", b"20261202"))
    assert content_digest(FEED, 0) != content_digest(FEED, 2)
