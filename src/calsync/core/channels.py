"""Which channel read a feed, told from its User-Agent."""

from __future__ import annotations

import re

#: (channel, pattern) in the order they are tried; the first match names the channel.
CHANNEL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (channel, re.compile(pattern, re.IGNORECASE))
    for channel, pattern in (
        ("airbnb", r"airbnb"),
        ("booking.com", r"booking\.?com|bookingcom"),
        ("vrbo", r"vrbo|homeaway|expedia"),
        ("google", r"google"),
        ("outlook", r"microsoft|outlook|office"),
        ("apple", r"dataaccessd|calendaragent|\bios/|mac ?os"),
        ("tripadvisor", r"tripadvisor"),
    )
)


def classify_user_agent(user_agent: str) -> str:
    """``Google-Calendar-Importer`` → ``google``; an unknown or empty agent → ``other``."""
    for channel, pattern in CHANNEL_PATTERNS:
        if pattern.search(user_agent):
            return channel
    return "other"
