"""``sync_calendar``: fetch → parse → plan → apply, the one place where core meets I/O.

A sync ends in exactly one transaction that writes its bookings, the calendar's
status and a ``sync_runs`` row together. A failure of any kind changes no
booking: it records the error, keeps ``last_synced`` and counts the failure.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, cast

import structlog

from calsync.core.diff import DeletionGuard, Plan, plan_sync
from calsync.core.digest import content_digest
from calsync.core.ical_in import (
    OUTSIDE_WINDOW,
    EventStatusSync,
    ParsedFeed,
    ParseOptions,
    parse_feed,
)
from calsync.core.redact import redact_url
from calsync.core.schedule import SyncSchedule
from calsync.errors import CalsyncError, FeedError, FeedHttpError, FeedRateLimited
from calsync.store import repo
from calsync.store.models import ExternalCalendar, SyncRun, utc_now

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.fetch import FeedFetcher
    from calsync.store.db import Store

Outcome = Literal["changed", "unchanged", "not_modified", "failed", "held"]
Parser = Callable[[bytes, ParseOptions], Awaitable[ParsedFeed]]
log = structlog.get_logger("calsync.sync")
_LOGGED_SKIPS = 20
_ANONYMOUS = re.compile(
    r"|(?:.*\()?(?:not available|unavailable|blocked|busy|closed)(?:\).*)?"
    r"|closed\s*-\s*not available|.*\(not available\)"
)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How one sync of one calendar ended."""

    calendar_id: uuid.UUID
    outcome: Outcome
    http_status: int | None = None
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    held_deletes: int = 0
    skipped: int = 0
    error: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class _Feed:
    """What a sync read of a calendar before fetching."""

    id: uuid.UUID
    product_id: uuid.UUID
    url: str
    tld: str
    etag: str | None
    last_modified: str | None
    content_digest: str | None
    prodid: str | None
    held: bool
    options: ParseOptions


@dataclass(frozen=True, slots=True)
class _Read:
    """What fetching (and maybe parsing) a feed produced, before anything is written."""

    outcome: Outcome
    http_status: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    parsed: ParsedFeed | None = None
    digest: str | None = None
    etag: str | None = None
    last_modified: str | None = None


async def sync_calendar(
    calendar_id: uuid.UUID,
    *,
    store: Store,
    fetcher: FeedFetcher,
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    parse: Parser | None = None,
    lease_owner: str | None = None,
) -> SyncResult:
    """Sync one external calendar now and record the outcome (see the module docstring).

    ``parse`` runs the CPU-bound parse (default: a thread; the daemon passes a
    process pool). With ``lease_owner`` the result is written only if that owner
    still holds the calendar's lease; otherwise nothing is written.
    """
    started_at = clock()
    started = time.monotonic()
    feed = await asyncio.to_thread(_read_calendar, store, calendar_id, settings, started_at)
    read = await _fetch_and_parse(feed, fetcher, parse or _parse_in_thread)
    duration_ms = int((time.monotonic() - started) * 1000)
    record = _Recording(settings, started_at, clock(), duration_ms, lease_owner)
    return await asyncio.to_thread(_record, store, feed, read, record)


async def _parse_in_thread(body: bytes, options: ParseOptions) -> ParsedFeed:
    return await asyncio.to_thread(parse_feed, body, options)


async def _fetch_and_parse(feed: _Feed, fetcher: FeedFetcher, parse: Parser) -> _Read:
    """Fetch the feed and parse it unless it is unchanged; a failure is a value, not a raise."""
    try:
        fetched = await fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        if fetched.status == 304:  # noqa: PLR2004
            return _Read(
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
            options.now.date(),
            options.past_days,
            options.horizon_days,
        )
        unchanged = digest == feed.content_digest and not feed.held
        parsed = None if unchanged else await parse(body, options)
    except FeedError as exc:
        status = exc.status if isinstance(exc, FeedHttpError) else None
        retry_after = (
            timedelta(seconds=exc.retry_after_seconds)
            if isinstance(exc, FeedRateLimited) and exc.retry_after_seconds is not None
            else None
        )
        return _Read("failed", http_status=status, error=str(exc), retry_after=retry_after)
    return _Read(
        "unchanged",
        http_status=fetched.status,
        parsed=parsed,
        digest=digest,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def _read_calendar(
    store: Store, calendar_id: uuid.UUID, settings: Settings, now: datetime
) -> _Feed:
    with store.read() as session:
        calendar = repo.get_calendar(session, calendar_id)
        product = repo.get_product(session, calendar.product_id)
        return _Feed(
            id=calendar.id,
            product_id=calendar.product_id,
            url=calendar.ical_url,
            tld=calendar.tld,
            etag=calendar.etag,
            last_modified=calendar.last_modified,
            content_digest=calendar.content_digest,
            prodid=calendar.prodid,
            held=calendar.held_since is not None,
            options=parse_options(
                settings,
                now=now,
                timezone=product.timezone,
                time_offset_hours=calendar.time_offset,
                event_status_sync=cast("EventStatusSync", calendar.event_status_sync),
            ),
        )


def parse_options(
    settings: Settings,
    *,
    now: datetime,
    timezone: str,
    time_offset_hours: int = 0,
    event_status_sync: EventStatusSync = "import",
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
    )


@dataclass(frozen=True, slots=True)
class _Recording:
    """The circumstances of one sync that its record needs."""

    settings: Settings
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    lease_owner: str | None


class _LeaseLostError(CalsyncError):
    """Another replica owns the calendar now: this sync's result must not be written."""


def _record(store: Store, feed: _Feed, read: _Read, record: _Recording) -> SyncResult:
    """Write the outcome in one transaction: bookings, calendar status, sync run."""
    result = SyncResult(
        feed.id, read.outcome, http_status=read.http_status, error=read.error,
        duration_ms=record.duration_ms,
    )  # fmt: skip
    try:
        with store.write() as session:
            calendar = repo.get_calendar(session, feed.id)
            _check_lease(calendar, record.lease_owner)
            if read.outcome == "failed":
                _record_failure(calendar, read, record)
            else:
                if read.parsed is not None:
                    result = _apply(session, calendar, feed, read.parsed, result, record.settings)
                calendar.content_digest = read.digest
                calendar.last_synced = record.finished_at
                calendar.failure_count = 0
                calendar.etag = read.etag
                calendar.last_modified = read.last_modified
            _schedule_next(calendar, read, record)
            session.add(_sync_run(calendar.id, result, record.started_at, record.finished_at))
    except _LeaseLostError as exc:
        log.warning("sync.lease_lost", calendar_id=str(feed.id), owner=record.lease_owner)
        result = replace(result, outcome="failed", error=f"nothing written: {exc}")
    except CalsyncError as exc:
        log.exception("sync.record_failed", calendar_id=str(feed.id))
        result = replace(result, outcome="failed", error=str(exc))
    _log(feed, result)
    return result


def _check_lease(calendar: ExternalCalendar, owner: str | None) -> None:
    if owner is not None and calendar.lease_owner != owner:
        msg = f"the lease of {calendar.id} is held by {calendar.lease_owner or 'nobody'}"
        raise _LeaseLostError(msg)


def _record_failure(calendar: ExternalCalendar, read: _Read, record: _Recording) -> None:
    calendar.error = read.error
    calendar.failure_count += 1
    disable_after = timedelta(days=record.settings.sync.disable_after_days)
    failing_since = calendar.last_synced or calendar.created_at
    if disable_after and record.finished_at - failing_since >= disable_after:
        calendar.active = False
        calendar.error = (
            f"{read.error} — deactivated: failing since {failing_since:%Y-%m-%d %H:%M} UTC "
            f"(sync.disable_after_days = {record.settings.sync.disable_after_days:g})"
        )


def _schedule_next(calendar: ExternalCalendar, read: _Read, record: _Recording) -> None:
    """Set next_sync_at, clear a manual request this sync served, release the lease."""
    sync = record.settings.sync
    schedule = SyncSchedule(
        interval=timedelta(minutes=sync.interval_minutes),
        max_backoff=timedelta(minutes=sync.max_backoff_minutes),
    )
    failures = calendar.failure_count if read.outcome == "failed" else 0
    delay = schedule.next_delay(
        failures=failures,
        retry_after=read.retry_after,
        jitter=random.random(),  # noqa: S311
    )
    calendar.next_sync_at = record.finished_at + delay
    requested = calendar.sync_requested_at
    if requested is not None and requested <= record.started_at:
        calendar.sync_requested_at = None
    if calendar.lease_owner == record.lease_owner:
        calendar.lease_owner = None
        calendar.lease_expires_at = None


def _apply(
    session: Session,
    calendar: ExternalCalendar,
    feed: _Feed,
    parsed: ParsedFeed,
    result: SyncResult,
    settings: Settings,
) -> SyncResult:
    """Plan against the stored bookings and apply the plan, in the caller's transaction."""
    now = feed.options.now
    bookings = repo.imported_bookings(session, calendar.id)
    plan = plan_sync(
        [repo.stored_booking(booking) for booking in bookings.values()],
        parsed.blocks,
        now=now,
        window_start=feed.options.window_start,
        window_end=feed.options.window_end,
        prodid_changed=feed.prodid is not None and parsed.prodid != feed.prodid,
        guard=DeletionGuard(max_delete_fraction=settings.sync.max_delete_fraction),
    )
    touched = repo.apply_plan(session, calendar, bookings, plan, now=now)
    echoes = repo.mark_echoes(
        session, calendar, touched, is_anonymous=anonymous_summary(settings.feeds.summary)
    )
    if echoes:
        log.info("feed.echoes_marked", calendar_id=str(calendar.id), count=echoes)
    _log_feed_problems(parsed)
    calendar.prodid = parsed.prodid
    calendar.event_count = len(parsed.blocks)
    if plan.changes_bookings:
        calendar.updated_at = now
    if plan.holds:
        calendar.held_since = calendar.held_since or now
        calendar.error = _held_message(plan, calendar.id)
    else:
        calendar.held_since = None
        calendar.error = None
    return replace(
        result,
        outcome=_outcome(plan),
        inserted=len(plan.inserts),
        updated=len(plan.updates),
        deleted=len(plan.deletes),
        held_deletes=len(plan.holds),
        skipped=len(parsed.skipped),
        error=calendar.error,
    )


def anonymous_summary(own_summary: str) -> Callable[[str], bool]:
    """Whether a summary carries no reservation data ("Not available", "Blocked", empty…).

    Such an import may be a channel re-exporting calsync's own feed; a summary
    naming a reservation ("Reserved", a guest) never is.
    """
    own = own_summary.strip().lower()

    def anonymous(summary: str) -> bool:
        text = summary.strip().lower()
        return text == own or bool(_ANONYMOUS.fullmatch(text))

    return anonymous


def _log_feed_problems(parsed: ParsedFeed) -> None:
    """One line naming the skipped events and warnings a host may want to fix at the channel."""
    skipped = [
        {"uid": event.uid, "reason": event.reason}
        for event in parsed.skipped
        if not event.reason.startswith(OUTSIDE_WINDOW)
    ]
    if skipped or parsed.warnings:
        log.info(
            "feed.events_skipped",
            skipped=skipped[:_LOGGED_SKIPS],
            skipped_total=len(skipped),
            warnings=list(parsed.warnings),
        )


def _outcome(plan: Plan) -> Outcome:
    if plan.holds:
        return "held"
    return "changed" if plan.changes_bookings else "unchanged"


def _held_message(plan: Plan, calendar_id: uuid.UUID) -> str:
    return (
        f"{len(plan.holds)} deletions held: {plan.hold_reason}. They are applied when the "
        f"next fetch confirms them, or now with `calsync calendars release {calendar_id}`"
    )


def _sync_run(
    calendar_id: uuid.UUID, result: SyncResult, started_at: datetime, finished_at: datetime
) -> SyncRun:
    return SyncRun(
        external_calendar_id=calendar_id,
        started_at=started_at,
        finished_at=finished_at,
        created_at=finished_at,
        updated_at=finished_at,
        **_outcome_fields(result),
    )


def _outcome_fields(result: SyncResult) -> dict[str, object]:
    """The result's fields, named as the ``sync_runs`` columns are."""
    fields = asdict(result)
    del fields["calendar_id"]
    return fields


def _log(feed: _Feed, result: SyncResult) -> None:
    fields = {
        "calendar_id": str(feed.id),
        "product_id": str(feed.product_id),
        "tld": feed.tld,
        "url": redact_url(feed.url),
        **_outcome_fields(result),
    }
    if result.outcome == "failed":
        log.warning("sync.failed", **fields)
    else:
        log.info("sync.finished", **fields)
    structlog.contextvars.unbind_contextvars("calendar_id")
