"""The parser's fast path against its icalendar path: the one comparison every differential test uses.

``parse_feed`` reads a feed of the common shape with the fast path and any other
with icalendar; ``fast_path=False`` forces icalendar. Both must give the same
blocks, skips (in the same order), warnings, PRODID and event count, or the same
error: :func:`difference` says where they part, or returns None.
"""

from __future__ import annotations

from calsync.core.ical_in import ParsedFeed, ParseOptions, parse_feed
from calsync.errors import FeedError


def read(data: bytes, options: ParseOptions, *, fast_path: bool) -> ParsedFeed | str:
    """The parsed feed, or the FeedError it raises (as text, to compare)."""
    try:
        return parse_feed(data, options, fast_path=fast_path)
    except FeedError as exc:
        return f"{type(exc).__name__}: {exc}"


def difference(data: bytes, options: ParseOptions) -> str | None:
    """How the fast path's reading of ``data`` differs from icalendar's; None if it does not.

    None too where the fast path does not answer (the feed is not of its shape
    and goes through icalendar): icalendar's reading of some feeds depends on
    what the process parsed before (its timezone cache), so it is not compared
    with itself.
    """
    fast = read(data, options, fast_path=True)
    if isinstance(fast, ParsedFeed) and not fast.fast_path:
        return None
    slow = read(data, options, fast_path=False)
    if fast == slow:
        return None
    if isinstance(fast, str) or isinstance(slow, str):
        return f"fast path: {fast!r}\nicalendar: {slow!r}"
    parts = [
        f"{name}:\n  fast path: {getattr(fast, name)!r}\n  icalendar: {getattr(slow, name)!r}"
        for name in ("blocks", "skipped", "warnings", "prodid", "event_count")
        if getattr(fast, name) != getattr(slow, name)
    ]
    return "\n".join(parts)


def took_fast_path(data: bytes, options: ParseOptions) -> bool:
    """Whether the fast path answered for ``data`` (else icalendar read it)."""
    feed = read(data, options, fast_path=True)
    return isinstance(feed, ParsedFeed) and feed.fast_path
