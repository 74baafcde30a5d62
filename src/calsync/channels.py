"""Naming channels: by the domain of a feed URL (``tld``), and by a feed reader's User-Agent.

A calendar's ``tld`` is the registrable domain of its feed URL: it names the
channel it comes from, groups politeness limits and appears in logs and
metrics. Its feed host (:func:`feed_host`) is what the per-host limits count.
A read of an outbound feed is put down to a channel by its User-Agent
(:func:`classify_user_agent`). :func:`channel` names a calendar's channel for
people, and :data:`PASTE_STEPS` says where each takes calsync's export URL.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import tldextract

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


@cache
def _extractor() -> tldextract.TLDExtract:
    # The public suffix list bundled with tldextract: no download, no cache files. Imported
    # here: it brings requests along, and most commands never name a channel by its URL.
    import tldextract  # noqa: PLC0415

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(url: str) -> str:
    """``https://www.airbnb.co.uk/calendar/…`` → ``airbnb.co.uk``; an IP or bare host as itself."""
    parts = _extractor()(url.replace("webcal://", "https://", 1))
    return (parts.top_domain_under_public_suffix or parts.domain).lower()


def feed_host(url: str) -> str:
    """The host a feed URL is fetched from, for per-host politeness limits."""
    return (urlsplit(url.replace("webcal://", "https://", 1)).hostname or "").lower()


def classify_user_agent(user_agent: str) -> str:
    """``Google-Calendar-Importer`` → ``google``; an unknown or empty agent → ``other``."""
    for channel, pattern in CHANNEL_PATTERNS:
        if pattern.search(user_agent):
            return channel
    return "other"


#: Channel key (CSS class, row colour) and its name, by the first label of a calendar's ``tld``.
_CHANNELS = {
    "airbnb": ("airbnb", "Airbnb"),
    "booking": ("booking", "Booking.com"),
    "vrbo": ("vrbo", "Vrbo"),
    "homeaway": ("vrbo", "Vrbo"),
    "google": ("google", "Google"),
    "outlook": ("outlook", "Outlook"),
    "live": ("outlook", "Outlook"),
    "office365": ("outlook", "Outlook"),
}

#: Where each channel takes calsync's export URL (the README's "Connect your channels").
PASTE_STEPS = {
    "airbnb": "Airbnb: Listing → Calendar → Availability → Sync calendars → Import calendar "
    "(give it a name, paste the URL).",
    "booking": "Booking.com: Extranet → Rates & Availability → Sync calendars → "
    "Import calendar / Add calendar connection.",
    "vrbo": "Vrbo: Calendar → Import & export → Import calendar.",
    "google": "Google Calendar: Other calendars → + → From URL.",
    "outlook": "Outlook.com / Microsoft 365: Add calendar → Subscribe from web.",
}


def channel(tld: str) -> tuple[str, str]:
    """(key, name) of the channel a calendar's registrable domain names; ``other`` if unknown."""
    label = tld.split(".", 1)[0].lower()
    return _CHANNELS.get(label, ("other", tld or "other"))
