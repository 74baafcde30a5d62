"""The registrable domain of a feed URL (``tld``): it names the channel a calendar comes from."""

from __future__ import annotations

from functools import cache

import tldextract


@cache
def _extractor() -> tldextract.TLDExtract:
    # The public suffix list bundled with tldextract: no download, no cache files.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(url: str) -> str:
    """``https://www.airbnb.co.uk/calendar/…`` → ``airbnb.co.uk``; an IP or bare host as itself."""
    parts = _extractor()(url.replace("webcal://", "https://", 1))
    return (parts.top_domain_under_public_suffix or parts.domain).lower()
