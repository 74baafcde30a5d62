"""What a feed would import, writing nothing: the dry run of ``calsync preview`` and of the web UI.

A feed URL is fetched through the same SSRF-guarded fetcher as a sync
(:class:`~calsync.fetch.FeedFetcher`) and parsed with a calendar's options under
the settings (:func:`~calsync.sync.parse_options`), so the preview shows what the
first sync would import: the blocks, the events skipped with their reasons, the
warnings. A failure raises calsync's own error: a :class:`~calsync.errors.FetchError`
(the network, the guard, an HTTP status) or :class:`~calsync.errors.InvalidFeed`
(no calendar: "an HTML page titled 'Log in'").
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from calsync.core.ical_in import ParsedFeed, TransparentEvents, parse_feed
from calsync.fetch import FeedFetcher
from calsync.sync import parse_options

if TYPE_CHECKING:
    from datetime import datetime

    from calsync.config import Settings


async def fetch(settings: Settings, url: str) -> bytes:
    """The body the feed's URL answers, fetched through the guarded fetcher (no validators)."""
    async with FeedFetcher(settings.fetch) as fetcher:
        fetched = await fetcher.fetch(url)
    return fetched.body or b""


def parse(
    settings: Settings,
    body: bytes,
    *,
    now: datetime,
    timezone: str,
    time_offset: int = 0,
    transparent_events: TransparentEvents | None = None,
) -> ParsedFeed:
    """The feed as a calendar with these options would import it (``sync.*`` bounds apply)."""
    options = parse_options(
        settings,
        now=now,
        timezone=timezone,
        time_offset_hours=time_offset,
        transparent_events=transparent_events or settings.sync.transparent_events,
    )
    return parse_feed(body, options)


async def preview(
    settings: Settings,
    url: str,
    *,
    now: datetime,
    timezone: str,
    time_offset: int = 0,
    transparent_events: TransparentEvents | None = None,
) -> ParsedFeed:
    """Fetch the feed and parse it in a worker thread: the event loop is never blocked."""
    body = await fetch(settings, url)
    return await asyncio.to_thread(
        parse, settings, body, now=now, timezone=timezone, time_offset=time_offset,
        transparent_events=transparent_events,
    )  # fmt: skip


def rows(parsed: ParsedFeed) -> list[dict[str, Any]]:
    """Blocks by start: dates when all-day (the end is the check-out day), else UTC instants."""
    return [
        {
            "key": block.key,
            "start": shown_time(block.starts_at, all_day=block.all_day),
            "end": shown_time(block.ends_at, all_day=block.all_day),
            "all_day": block.all_day,
            "summary": block.summary,
        }
        for block in parsed.blocks
    ]


def shown_time(moment: datetime, *, all_day: bool) -> str:
    """A date for an all-day block (the end is the check-out day), a UTC instant for a timed one."""
    return moment.date().isoformat() if all_day else moment.strftime("%Y-%m-%dT%H:%M:%SZ")
