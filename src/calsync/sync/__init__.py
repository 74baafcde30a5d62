"""Syncing calendars: fetch → parse → plan → apply, the one place where core meets I/O.

:class:`Syncer` is the one entry point: the dispatcher and ``calsync sync`` both
claim calendars through it (:meth:`Syncer.claim_due`, :meth:`Syncer.claim`) and
run each claimed :class:`SyncJob` with :meth:`Syncer.sync`. Its parts:

* :mod:`calsync.sync.read`: what a sync needs of its calendar, read when it is
  claimed, in one query for many; the fetch and the parse, whose failure is a
  value, never a raise.
* :mod:`calsync.sync.record`: the outcome written in one transaction per sync
  (bookings, the calendar's status and a sync run, the journal of its changes
  and their events), many syncs a transaction; :mod:`calsync.sync.telling`: the
  body kept for ``replay`` and the calendar's events, in that transaction.

:meth:`Syncer.dry_run` plans a body against a calendar's bookings and writes
nothing (``calsync replay``, ``preview --calendar``).

A 429 or 503 with ``Retry-After`` pauses every calendar of that feed host in
this process until then (no fetch of the host is claimed), not only the one
that got it. A lease held by a process of this host that is gone (see
:mod:`calsync.leases`) is claimed at once, not after it expires.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Self

import structlog

from calsync.clock import utc_now
from calsync.leases import cli_owner, owner_is_gone
from calsync.store import calendars as stored_calendars
from calsync.sync.batches import Batches
from calsync.sync.read import (
    Parser,
    SyncJob,
    fetch_and_parse,
    parse_in_thread,
    parse_options,
    read_jobs,
)
from calsync.sync.record import (
    FinishedSync,
    Recording,
    SyncRecorder,
    SyncResult,
    anonymous_summary,
    plan_against,
)

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from types import TracebackType

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.core.diff import Plan, StoredBooking
    from calsync.core.ical_in import ParsedFeed
    from calsync.fetch import FeedFetcher
    from calsync.store.db import Store

__all__ = [
    "DryRun",
    "SyncJob",
    "SyncResult",
    "Syncer",
    "anonymous_summary",
    "parse_options",
    "sync_calendar",
]

log = structlog.get_logger("calsync.sync")


@dataclass(frozen=True, slots=True)
class DryRun:
    """What a sync of a body would do now, written nowhere: the plan, the bookings, the parse."""

    plan: Plan
    existing: dict[uuid.UUID, StoredBooking]
    parsed: ParsedFeed


_LEASE_OWNERS_EVERY = timedelta(seconds=1)
"""At most this often the owners of valid leases are read to find those that are gone."""


class Syncer:
    """Claims calendars and syncs them, writing the results in batches.

    ``owner`` names this process in leases (None: syncs that claim nothing, and
    write whatever lease a calendar has). ``parse`` runs the CPU-bound parse
    (default: a thread; the daemon passes a process pool). Use it as an async
    context manager, or :meth:`close` it: that waits for the results still
    being written.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fetcher: FeedFetcher,
        *,
        owner: str | None,
        parse: Parser | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.owner = owner
        self._store = store
        self._settings = settings
        self._fetcher = fetcher
        self._parse = parse or parse_in_thread
        self._clock = clock
        self._recorder = SyncRecorder(store)
        self._claims = Batches(self._claim_each, max_batch=500, name="sync claims")
        self._lease = timedelta(seconds=settings.sync.lease_seconds)
        self._paused_until: dict[str, datetime] = {}
        self._gone_owners: frozenset[str] = frozenset()
        self._owners_read_at: datetime | None = None

    @classmethod
    def for_cli(cls, store: Store, settings: Settings, fetcher: FeedFetcher) -> Syncer:
        """The syncer of a ``calsync sync`` command: leases in the command's name."""
        return cls(store, settings, fetcher, owner=cli_owner())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # --- claiming ----------------------------------------------------------------------

    async def claim_due(self, *, limit: int, host_load: Mapping[str, int]) -> list[SyncJob]:
        """Lease up to ``limit`` due calendars, and read what their syncs need, in one transaction.

        Manual requests come first; hosts with ``sync.max_per_host`` syncs in flight
        (``host_load``) or paused by a ``Retry-After`` wait for a later claim.
        """
        now = self._clock()
        self._paused_until = {h: until for h, until in self._paused_until.items() if until > now}
        paused, load = frozenset(self._paused_until), dict(host_load)

        def claim() -> list[SyncJob]:
            with self._store.write() as session:
                claims = stored_calendars.claim_due(
                    session, owner=self._owner(), now=now, lease_until=now + self._lease,
                    limit=limit, host_load=load, max_per_host=self._settings.sync.max_per_host,
                    paused_hosts=paused, gone_owners=self._find_gone_owners(session, now),
                )  # fmt: skip
                ids = [claim.calendar_id for claim in claims]
                return read_jobs(session, ids, self._settings, now)

        return await asyncio.to_thread(claim)

    async def claim(self, calendar_id: uuid.UUID) -> SyncJob | None:
        """Lease one calendar (taking over a dead process's lease) and read its job.

        None when a live process holds it: a sync is requested instead, so that
        process (a running daemon) syncs it once more as soon as it can. Claims
        asked for while one is written go together in the next transaction.
        """
        return await self._claims.submit(calendar_id)

    def _claim_each(self, calendar_ids: Sequence[uuid.UUID]) -> list[SyncJob | None]:
        """:meth:`claim` for many calendars in one transaction; their jobs in their order."""
        now = self._clock()
        with self._store.write() as session:
            claimed = [
                calendar_id
                for calendar_id in calendar_ids
                if stored_calendars.claim_calendar(
                    session, calendar_id, owner=self._owner(), now=now,
                    lease_until=now + self._lease, owner_gone=owner_is_gone,
                )
            ]  # fmt: skip
            for calendar_id in set(calendar_ids) - set(claimed):
                stored_calendars.request_sync(
                    stored_calendars.get_calendar(session, calendar_id), now=now
                )
            jobs = {job.id: job for job in read_jobs(session, claimed, self._settings, now)}
        return [jobs.get(calendar_id) for calendar_id in calendar_ids]

    async def job(self, calendar_id: uuid.UUID) -> SyncJob:
        """What syncing the calendar needs, read now without claiming it."""

        def read() -> SyncJob:
            with self._store.read() as session:
                return read_jobs(session, [calendar_id], self._settings, self._clock())[0]

        return await asyncio.to_thread(read)

    def _owner(self) -> str:
        if self.owner is None:
            msg = "a syncer without an owner claims nothing"
            raise ValueError(msg)
        return self.owner

    def _find_gone_owners(self, session: Session, now: datetime) -> frozenset[str]:
        """Owners of valid leases that are dead processes of this host (read once a second)."""
        if self._owners_read_at is None or now - self._owners_read_at >= _LEASE_OWNERS_EVERY:
            self._owners_read_at = now
            owners = stored_calendars.lease_owners(session, now=now) - {self._owner()}
            self._gone_owners = frozenset(filter(owner_is_gone, owners))
            if self._gone_owners:
                log.info("lease.owners_gone", owners=sorted(self._gone_owners))
        return self._gone_owners

    async def renew(self, calendar_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Extend this owner's leases on these calendars; those it still held."""
        until = self._clock() + self._lease

        def renew() -> set[uuid.UUID]:
            with self._store.write() as session:
                return stored_calendars.renew_leases(
                    session, calendar_ids, owner=self._owner(), lease_until=until
                )

        return await asyncio.to_thread(renew)

    async def release_leases(self) -> int:
        """Give up every lease of this owner (shutting down); how many."""

        def release() -> int:
            with self._store.write() as session:
                return stored_calendars.release_leases(session, self._owner())

        return await asyncio.to_thread(release)

    # --- syncing -----------------------------------------------------------------------

    async def sync(self, job: SyncJob) -> SyncResult:
        """Sync one claimed calendar: fetch, parse unless unchanged, and record the outcome.

        A ``Retry-After`` in the answer pauses the feed's host before the outcome
        is written. The result comes once it is committed.
        """
        finished = await self.fetch(job)
        pause = finished.host_pause
        if pause:
            until = finished.recording.finished_at + pause
            paused = self._paused_until.get(job.host)
            if paused is None or until > paused:
                self._paused_until[job.host] = until
                log.info("host.paused", host=job.host, until=until.isoformat())
        return await self._recorder.record(finished)

    async def fetch(self, job: SyncJob) -> FinishedSync:
        """The first half of :meth:`sync`: the fetch and parse, nothing written yet."""
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(calendar_id=str(job.id)):
            read = await fetch_and_parse(job, self._fetcher, self._parse)
        duration_ms = int((time.monotonic() - started) * 1000)
        recording = Recording(
            self._settings, job.options.now, self._clock(), duration_ms, self.owner
        )
        return FinishedSync(job, read, recording)

    async def dry_run(self, job: SyncJob, body: bytes) -> DryRun:
        """Parse ``body`` as the job's calendar and plan it against its stored bookings; no write.

        What ``calsync replay`` (a kept body) and ``preview --calendar`` (a fetch now) print.
        """
        parsed = await self._parse(body, job.options)

        def plan() -> DryRun:
            with self._store.read() as session:
                return DryRun(*plan_against(session, job, parsed, self._settings), parsed)

        return await asyncio.to_thread(plan)

    async def close(self) -> None:
        """Wait until every claim and result handed in so far is written."""
        await self._claims.close()
        await self._recorder.close()


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
    """Sync one calendar now, without claiming it (:class:`Syncer` for one job).

    With ``lease_owner`` the result is written only if that owner still holds
    the calendar's lease; otherwise nothing is written.
    """
    async with Syncer(
        store, settings, fetcher, owner=lease_owner, parse=parse, clock=clock
    ) as syncer:
        return await syncer.sync(await syncer.job(calendar_id))
