"""Recording finished syncs: bookings, the calendar's status and a sync run, in one transaction.

A sync ends in exactly one transaction that writes its bookings, the calendar's
status and a ``sync_runs`` row together. A failure of any kind changes no
booking: it records the error, keeps ``last_synced`` and counts the failure;
the next attempt backs off, at once to the longest wait when the failure is
not retryable (a 404, a 403, an address the guard refuses: it needs a fix at
the channel or a new URL). Finished syncs are written by a :class:`SyncRecorder`,
many in one transaction (:func:`record_syncs`). A batch that fails is written
again one sync at a time, so one bad calendar never costs the others their results.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

import structlog

from calsync.core.blocks import OUTSIDE_WINDOW, ParsedFeed
from calsync.core.diff import DeletionGuard, Plan, plan_sync
from calsync.core.journal import plan_changes
from calsync.redact import redact_url
from calsync.services import calendars as calendar_service
from calsync.services import issues
from calsync.services.context import Cause, iso
from calsync.services.journal import Journal
from calsync.store import bookings as stored_bookings
from calsync.store import calendars as stored_calendars
from calsync.store import history
from calsync.sync.batches import Batches
from calsync.sync.read import Fetched, Outcome, SyncJob, crash_message
from calsync.sync.status import next_sync_at, schedule, status_only, unchanged_row
from calsync.sync.telling import failing, keep_body, recovered

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.core.diff import StoredBooking
    from calsync.store.db import Store
    from calsync.store.models import ExternalCalendar

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
    unwritten: bool = False
    """True when nothing was written (the lease was lost, or the database refused)."""
    run_id: uuid.UUID | None = None
    """The id of the sync run written (its booking changes name it)."""


@dataclass(frozen=True, slots=True)
class Recording:
    """The circumstances of one sync that its record needs."""

    settings: Settings
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    lease_owner: str | None


@dataclass(frozen=True, slots=True)
class FinishedSync:
    """A sync whose fetch (and parse) is done and whose outcome is still to be written."""

    feed: SyncJob
    read: Fetched
    recording: Recording

    @property
    def host_pause(self) -> timedelta | None:
        """How long the feed's host asked to be left alone, or None.

        A 429 or 503 with ``Retry-After`` asks it for every feed of that host,
        not only this one; capped by ``sync.max_backoff_minutes`` as the
        calendar's own retry is.
        """
        if self.read.retry_after is None:
            return None
        return schedule(self.recording.settings).next_delay(
            failures=1, retry_after=self.read.retry_after
        )


def record_syncs(store: Store, finished: Sequence[FinishedSync]) -> list[SyncResult]:
    """Write finished syncs in one transaction; if that fails, each in its own.

    Each sync's bookings, calendar status and sync run are written together or
    not at all; a sync whose lease another owner holds now writes nothing. A
    sync whose own transaction fails (its plan or apply raised, the database
    refused it) is written once more as a failure of that calendar, naming the
    error, in a fresh transaction; only if that fails too is nothing written.
    """
    try:
        results = _write(store, finished)
    except Exception as exc:  # noqa: BLE001 - written as that calendar's failure and logged
        if len(finished) > 1:
            return [result for item in finished for result in record_syncs(store, [item])]
        results = [_record_crash(store, finished[0], exc)]
    for item, result in zip(finished, results, strict=True):
        _log(item.feed, result)
    return results


def _write(store: Store, finished: Sequence[FinishedSync]) -> list[SyncResult]:
    with store.write() as session:
        quick = status_only(session, finished)
        calendars = stored_calendars.load_calendars(
            session, [item.feed.id for item in finished if item.feed.id not in quick]
        )
        results = [
            _unchanged(item) if item.feed.id in quick else _record_in(session, item, calendars)
            for item in finished
        ]
        stored_calendars.record_unchanged(
            session, [unchanged_row(item) for item in finished if item.feed.id in quick]
        )
        history.add_sync_runs(
            session,
            [
                _sync_run(item, result)
                for item, result in zip(finished, results, strict=True)
                if not result.unwritten
            ],
        )
    return results


def _unchanged(item: FinishedSync) -> SyncResult:
    """The result of a status-only sync (:func:`~calsync.sync.status.status_only`)."""
    read = item.read
    return SyncResult(
        item.feed.id, read.outcome, http_status=read.http_status,
        duration_ms=item.recording.duration_ms, run_id=uuid.uuid4(),
    )  # fmt: skip


def _record_crash(store: Store, item: FinishedSync, exc: Exception) -> SyncResult:
    """Write a sync whose transaction raised ``exc`` as a failure, or nothing if that fails too."""
    log.error(
        "sync.record_failed", calendar_id=str(item.feed.id), exc_info=exc,
        error=f"{type(exc).__name__}: {exc}",
    )  # fmt: skip
    if item.read.outcome == "failed":  # the failure itself could not be written
        return _unwritten(item, "the database refused the result")
    error = f"recording the result failed: {crash_message(exc)}"
    failure = replace(item, read=Fetched("failed", http_status=item.read.http_status, error=error))
    try:
        [result] = _write(store, [failure])
    except Exception:
        log.exception("sync.record_failed", calendar_id=str(item.feed.id))
        return _unwritten(item, "the database refused the result")
    return result


class SyncRecorder(Batches[FinishedSync, SyncResult]):
    """Writes finished syncs in batches, up to ``max_batch`` per transaction (:func:`record_syncs`).

    Syncs that finish while one batch is being written go together in the next.
    """

    def __init__(self, store: Store, *, max_batch: int = 500) -> None:
        super().__init__(partial(record_syncs, store), max_batch=max_batch, name="sync recorder")

    async def record(self, finished: FinishedSync) -> SyncResult:
        """Write ``finished`` with the next batch; its result once committed.

        A sync cancelled while its result waits for a batch is not written.
        """
        return await self.submit(finished)


def _unwritten(item: FinishedSync, reason: str) -> SyncResult:
    read = item.read
    return SyncResult(
        item.feed.id, "failed", http_status=read.http_status,
        error=f"nothing written: {reason}", duration_ms=item.recording.duration_ms,
        unwritten=True,
    )  # fmt: skip


def _record_in(
    session: Session, item: FinishedSync, calendars: Mapping[uuid.UUID, ExternalCalendar]
) -> SyncResult:
    """Write one finished sync in the caller's transaction: bookings, status, sync run."""
    feed, read, record = item.feed, item.read, item.recording
    result = SyncResult(
        feed.id, read.outcome, http_status=read.http_status, error=read.error,
        duration_ms=record.duration_ms, run_id=uuid.uuid4(),
    )  # fmt: skip
    calendar = calendars.get(feed.id) or stored_calendars.get_calendar(session, feed.id)
    if record.lease_owner is not None and calendar.lease_owner != record.lease_owner:
        holder = calendar.lease_owner or "nobody"
        log.warning("sync.lease_lost", calendar_id=str(feed.id), owner=record.lease_owner)
        return _unwritten(item, f"the lease of {calendar.id} is held by {holder}")
    journal = Journal(session, Cause(sync_run_id=result.run_id), feed.options.now)
    if read.outcome == "failed":
        _record_failure(session, calendar, read, record)
    else:
        recovered(session, calendar, record)
        if read.parsed is not None:
            result = _apply(session, journal, calendar, feed, read.parsed, result, record.settings)
        else:
            result = _confirm_unchanged(session, journal, calendar, result, feed.options.now)
        keep_body(session, item, result)
        calendar.content_digest = read.digest
        calendar.last_synced = record.finished_at
        calendar.failure_count = 0
        calendar.etag = read.etag
        calendar.last_modified = read.last_modified
    _schedule_next(calendar, read, record)
    return result


def _confirm_unchanged(
    session: Session, journal: Journal, calendar: ExternalCalendar, result: SyncResult,
    now: datetime,
) -> SyncResult:  # fmt: skip
    """A feed that is as it was (304, or the same digest): the last failure is over.

    Deletions held by the last fetch are confirmed: this one shows the same absence.
    """
    calendar.error = None
    if calendar.held_since is None:
        return result
    deleted = calendar_service.release_held(session, journal, calendar, now=now)
    log.info("sync.held_confirmed", calendar_id=str(calendar.id), deleted=deleted)
    return replace(result, outcome="changed", deleted=deleted)


def _record_failure(
    session: Session, calendar: ExternalCalendar, read: Fetched, record: Recording
) -> None:
    calendar.error = read.error
    calendar.failure_count += 1
    failing(session, calendar, record)
    disable_after = timedelta(days=record.settings.sync.disable_after_days)
    failing_since = calendar.last_synced or calendar.created_at
    if disable_after and record.finished_at - failing_since >= disable_after:
        calendar.active = False
        calendar.error = (
            f"{read.error} — deactivated: failing since {failing_since:%Y-%m-%d %H:%M} UTC "
            f"(sync.disable_after_days = {record.settings.sync.disable_after_days:g})"
        )


def _schedule_next(calendar: ExternalCalendar, read: Fetched, record: Recording) -> None:
    """Set next_sync_at, clear a manual request this sync served, release the lease.

    After a failure that is not retryable the longest backoff is waited at once,
    and the calendar's ``error`` says until when and why.
    """
    failed = read.outcome == "failed"
    calendar.next_sync_at = next_sync_at(
        read, record, failures=calendar.failure_count if failed else 0
    )
    if failed and not read.retryable and calendar.active:
        calendar.error = (
            f"{calendar.error} — not retried until "
            f"{calendar.next_sync_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
            "(or a manual sync): this needs a fix at the channel or a new URL"
        )
    requested = calendar.sync_requested_at
    if requested is not None and requested <= record.started_at:
        calendar.sync_requested_at = None
    if calendar.lease_owner == record.lease_owner:
        calendar.lease_owner = None
        calendar.lease_expires_at = None


def plan_against(
    session: Session, feed: SyncJob, parsed: ParsedFeed, settings: Settings
) -> tuple[Plan, dict[uuid.UUID, StoredBooking]]:
    """The plan that makes the calendar's stored bookings match ``parsed``, and those bookings.

    What a sync applies, and what ``replay`` and ``preview --calendar`` print.
    """
    bookings = stored_bookings.imported_bookings(session, feed.id)
    plan = plan_sync(
        list(bookings.values()),
        parsed.blocks,
        now=feed.options.now,
        window_start=feed.options.window_start,
        window_end=feed.options.window_end,
        prodid_changed=feed.prodid is not None and parsed.prodid != feed.prodid,
        guard=DeletionGuard(max_delete_fraction=settings.sync.max_delete_fraction),
    )
    return plan, bookings


def _apply(
    session: Session,
    journal: Journal,
    calendar: ExternalCalendar,
    feed: SyncJob,
    parsed: ParsedFeed,
    result: SyncResult,
    settings: Settings,
) -> SyncResult:
    """Plan against the stored bookings and apply the plan, journaled, in one transaction."""
    now = feed.options.now
    plan, bookings = plan_against(session, feed, parsed, settings)
    journal.removing(action.booking_id for action in plan.deletes)
    touched = stored_bookings.apply_plan(session, calendar, bookings, plan, now=now)
    echoes = stored_bookings.mark_echoes(
        session,
        calendar,
        touched,
        is_anonymous=anonymous_summary(settings.feeds.summary),
        now=now,
    )
    if echoes:
        log.info("feed.echoes_marked", calendar_id=str(calendar.id), count=echoes)
    _log_feed_problems(feed, parsed)
    calendar.prodid = parsed.prodid
    calendar.event_count = len(parsed.blocks)
    journal.record(
        plan_changes(plan, bookings, touched[len(plan.updates) :]),
        product_id=calendar.product_id,
        calendar_id=calendar.id,
    )
    journal.write()
    if plan.changes_bookings:
        calendar.updated_at = now
        issues.after_bookings_changed(session, [calendar.product_id], now=now)
    if plan.holds:
        newly_held = calendar.held_since is None
        calendar.held_since = calendar.held_since or now
        calendar.error = _held_message(plan, calendar.id)
        if newly_held:
            issues.calendar_event(
                session, "calendar.held", calendar, now=now, since=iso(now),
                held_deletes=len(plan.holds), reason=plan.hold_reason,
            )  # fmt: skip
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


def _log_feed_problems(feed: SyncJob, parsed: ParsedFeed) -> None:
    """One line naming the skipped events and warnings a host may want to fix at the channel."""
    skipped = [
        {"uid": event.uid, "reason": event.reason}
        for event in parsed.skipped
        if not event.reason.startswith(OUTSIDE_WINDOW)
    ]
    if skipped or parsed.warnings:
        log.info(
            "feed.events_skipped",
            calendar_id=str(feed.id),
            product_id=str(feed.product_id),
            tld=feed.tld,
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


def _sync_run(item: FinishedSync, result: SyncResult) -> dict[str, object]:
    """The ``sync_runs`` row of a written sync."""
    finished_at = item.recording.finished_at
    return {
        "id": result.run_id,
        "external_calendar_id": item.feed.id,
        "started_at": item.recording.started_at,
        "finished_at": finished_at,
        "created_at": finished_at,
        "updated_at": finished_at,
        **_outcome_fields(result),
    }


_OUTCOME_FIELDS = tuple(
    field.name
    for field in fields(SyncResult)
    if field.name not in {"calendar_id", "unwritten", "run_id"}
)


def _outcome_fields(result: SyncResult) -> dict[str, object]:
    """The result's fields, named as the ``sync_runs`` columns are."""
    return {name: getattr(result, name) for name in _OUTCOME_FIELDS}


def _log(feed: SyncJob, result: SyncResult) -> None:
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
