"""Reading a feed for a sync: what the sync needs of its calendar, the fetch and the parse.

Nothing here writes: a failure of any kind, calsync's own errors and any other
exception alike, ends as a failed :class:`Fetched` value, recorded later as that
calendar's failure (:mod:`calsync.sync.record`), never lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, cast

import structlog

from calsync.channels import feed_host
from calsync.core.digest import content_digest
from calsync.core.ical_in import (
    EventStatusSync,
    ParsedFeed,
    ParseOptions,
    TransparentEvents,
    parse_feed,
)
from calsync.errors import FeedError, FeedHttpError, FeedRateLimited
from calsync.redact import redact_url
from calsync.store.calendars import calendars_with_timezones

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.fetch import FeedFetcher, FetchedFeed

Outcome = Literal["changed", "unchanged", "not_modified", "failed", "held"]
Parser = Callable[[bytes, ParseOptions], Awaitable[ParsedFeed]]
log = structlog.get_logger("calsync.sync")
_CRASH_DETAIL = 200


@dataclass(frozen=True, slots=True)
class SyncJob:
    """What a sync of one calendar reads before fetching (see :func:`read_jobs`)."""

    id: uuid.UUID
    product_id: uuid.UUID
    url: str
    tld: str
    etag: str | None
    last_modified: str | None
    content_digest: str | None
    prodid: str | None
    options: ParseOptions

    @property
    def host(self) -> str:
        """The feed's host: what per-host limits and pauses count."""
        return feed_host(self.url)


@dataclass(frozen=True, slots=True)
class Fetched:
    """What fetching (and maybe parsing) a feed produced, before anything is written."""

    outcome: Outcome
    http_status: int | None = None
    error: str | None = None
    retryable: bool = True
    """For a failure: whether another attempt may pass without anyone changing anything."""
    retry_after: timedelta | None = None
    parsed: ParsedFeed | None = None
    digest: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = None
    """The body, when it was parsed (it changed): kept for ``calsync replay``."""
    headers: tuple[tuple[str, str], ...] = ()


async def parse_in_thread(body: bytes, options: ParseOptions) -> ParsedFeed:
    """Parse in a thread of this process (the daemon parses in a process pool)."""
    return await asyncio.to_thread(parse_feed, body, options)


async def fetch_and_parse(feed: SyncJob, fetcher: FeedFetcher, parse: Parser) -> Fetched:
    """Fetch the feed and parse it unless it is unchanged; a failure is a value, not a raise.

    Whatever goes wrong, calsync's own errors and any other exception alike, ends
    as a failed read: the sync is recorded as this calendar's failure, never lost.
    """
    fetched: FetchedFeed | None = None
    try:
        fetched = await fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        if fetched.status == 304:  # noqa: PLR2004
            return Fetched(
                "not_modified",
                http_status=304,
                digest=feed.content_digest,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
        body = fetched.body or b""
        options = feed.options
        digest = content_digest(
            body,
            options.timezone,
            options.time_offset_hours,
            options.event_status_sync,
            options.transparent_events,
            options.now.date(),
            options.past_days,
            options.horizon_days,
        )
        parsed = None if digest == feed.content_digest else await parse(body, options)
    except FeedError as exc:
        status = exc.status if isinstance(exc, FeedHttpError) else _status(fetched)
        retry_after = (
            timedelta(seconds=exc.retry_after_seconds)
            if isinstance(exc, FeedRateLimited) and exc.retry_after_seconds is not None
            else None
        )
        return Fetched(
            "failed", http_status=status, error=str(exc), retryable=exc.retryable,
            retry_after=retry_after,
        )  # fmt: skip
    except Exception as exc:
        log.exception("sync.crashed", calendar_id=str(feed.id), url=redact_url(feed.url))
        return Fetched("failed", http_status=_status(fetched), error=crash_message(exc))
    return Fetched(
        "unchanged",
        http_status=fetched.status,
        parsed=parsed,
        digest=digest,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body=body if parsed is not None else None,
        headers=fetched.headers,
    )


def _status(fetched: FetchedFeed | None) -> int | None:
    """The HTTP status of a fetch that answered, for a failure found after it (an HTML page)."""
    return fetched.status if fetched is not None else None


def crash_message(exc: Exception) -> str:
    """A failure calsync did not foresee, named by its type (the log line has the traceback)."""
    detail = str(exc)[:_CRASH_DETAIL]
    return f"internal error: {type(exc).__name__}" + (f": {detail}" if detail else "")


def read_jobs(
    session: Session, calendar_ids: Sequence[uuid.UUID], settings: Settings, now: datetime
) -> list[SyncJob]:
    """What syncing these calendars needs, in one query, in the order of ``calendar_ids``.

    Raises :class:`~calsync.errors.NotFound` for an id that does not exist.
    """
    return [
        SyncJob(
            id=calendar.id,
            product_id=calendar.product_id,
            url=calendar.ical_url,
            tld=calendar.tld,
            etag=calendar.etag,
            last_modified=calendar.last_modified,
            content_digest=calendar.content_digest,
            prodid=calendar.prodid,
            options=parse_options(
                settings,
                now=now,
                timezone=timezone,
                time_offset_hours=calendar.time_offset,
                event_status_sync=cast("EventStatusSync", calendar.event_status_sync),
                transparent_events=cast("TransparentEvents", calendar.transparent_events),
            ),
        )
        for calendar, timezone in calendars_with_timezones(session, calendar_ids)
    ]


def parse_options(
    settings: Settings,
    *,
    now: datetime,
    timezone: str,
    time_offset_hours: int = 0,
    event_status_sync: EventStatusSync = "import",
    transparent_events: TransparentEvents = "block",
) -> ParseOptions:
    """The parse options of a calendar under these settings."""
    sync = settings.sync
    return ParseOptions(
        now=now,
        monotonic=time.monotonic,
        timezone=timezone,
        time_offset_hours=time_offset_hours,
        past_days=sync.past_days,
        horizon_days=sync.horizon_days,
        max_occurrences=sync.max_occurrences,
        max_occurrences_per_event=sync.max_occurrences_per_event,
        max_events=sync.max_events,
        time_budget_seconds=sync.parse_time_budget_seconds,
        event_status_sync=event_status_sync,
        transparent_events=transparent_events,
    )
