"""Which feed URLs are accepted, and the reason given for the others (one rule for API and CLI)."""

from __future__ import annotations

import pytest

from calsync.core.feed_url import feed_url_problem


@pytest.mark.parametrize(
    "url",
    [
        "https://www.airbnb.com/calendar/ical/1.ics?s=abc",
        "webcal://www.airbnb.co.uk/c/1.ics",
        "http://127.0.0.1:8765/feed.ics",
        "http://[2001:db8::1]/feed.ics",
        "https://bücher.example/feed.ics",
        "https://user:pass@feeds.example.com/feed.ics",
        "https://feeds.example.com./feed.ics",
    ],
)
def test_feed_urls_that_are_accepted(url):
    """http, https and webcal URLs with an IP literal or a valid (international) host name."""
    assert feed_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x.ics", "scheme ftp: a feed URL is http, https or webcal"),
        ("not a url", "no scheme"),
        ("https://", "the URL has no host"),
        ("http://0..0/x.ics", "host '0..0' has an empty label"),
        ("http://.example.com/", "has an empty label"),
        ("http://exa mple.com/", "label 'exa mple' has characters a host name cannot have"),
        (f"http://{'a' * 64}.com/", "has a label longer than 63 characters"),
        (f"http://{'a.' * 130}com/", "host name longer than 253 characters"),
        (f"http://{'ä' * 60}.com/", "is not a valid international (IDNA) name"),
        ("http://example.com:99999/", "not a valid URL (Port out of range"),
    ],
)
def test_feed_urls_that_are_refused_with_the_reason(url, reason):
    """Schemes, missing hosts, empty or long labels, spaces, bad ports: each refused with why."""
    assert reason in (feed_url_problem(url) or "")
