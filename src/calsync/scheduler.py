"""The dispatcher: every tick (or at once when woken) claim due calendars and sync them.

Calendars are claimed through their lease columns (``lease_owner``,
``lease_expires_at``), at most ``sync.max_concurrent`` at once and
``sync.max_per_host`` per feed host. Parsing runs in a process pool
(:class:`~calsync.parsing.ParsePool`). The database work is
batched: a claim reads what its syncs need in the same transaction, finished
syncs are written together (:class:`~calsync.sync.SyncRecorder`), and one job
renews the leases of every sync in flight. While calendars wait, a claim is
made when a quarter of the slots is free, not after every sync.

Politeness: a 429 or 503 with ``Retry-After`` pauses every calendar of that
feed host in this process until then (no fetch of the host is started), not
only the one that got it. A lease held by a process of this host that is gone
(see :mod:`calsync.leases`) is claimed at once, not after it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calsync.clock import utc_now
from calsync.errors import CalsyncError
from calsync.leases import owner_is_gone
from calsync.store import repo
from calsync.sync import FeedToSync, FinishedSync, SyncRecorder, SyncResult, read_feeds, sync_feed

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.fetch import FeedFetcher
    from calsync.metrics import Metrics
    from calsync.parsing import ParsePool
    from calsync.store.db import Store

log = structlog.get_logger("calsync.scheduler")
_DISPATCH_JOB = "dispatch"
_TICK_STOP_TIMEOUT = 10.0
_PRUNE_JOB = "prune"
_RENEW_JOB = "renew"
_GAUGES_EVERY = timedelta(seconds=1)
"""At most this often the gauges are read: a dispatcher woken a dozen times a second
(a slot freed each time) spent 10 % of a core counting due calendars."""
_LEASE_OWNERS_EVERY = timedelta(seconds=1)
"""At most this often the owners of valid leases are read to find those that are gone."""


class Dispatcher:
    """Claims due calendars and runs their syncs concurrently, within the limits."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        fetcher: FeedFetcher,
        parse_pool: ParsePool,
        owner: str,
        metrics: Metrics,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.owner = owner
        self._store = store
        self._settings = settings
        self._fetcher = fetcher
        self._parse_pool = parse_pool
        self._metrics = metrics
        self._clock = clock
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._host_load: Counter[str] = Counter()
        self._scheduler: AsyncIOScheduler | None = None
        self._claiming = False
        self._ticking = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._again = False
        self._backlog = False
        self._recorder = SyncRecorder(store)
        self._refill = max(1, settings.sync.max_concurrent // 4)
        self._gauges_read_at: datetime | None = None
        self._paused_until: dict[str, datetime] = {}
        self._gone_owners: frozenset[str] = frozenset()
        self._owners_read_at: datetime | None = None

    @property
    def running(self) -> bool:
        """Whether the dispatcher is claiming calendars."""
        return self._claiming and self._scheduler is not None and self._scheduler.running

    def start(self, scheduler: AsyncIOScheduler) -> None:
        """Add the dispatch tick and the history pruning to ``scheduler``."""
        self._scheduler = scheduler
        self._claiming = True
        now = datetime.now(UTC)
        scheduler.add_job(
            self.tick, "interval", seconds=self._settings.sync.tick_seconds, id=_DISPATCH_JOB,
            next_run_time=now, max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip
        scheduler.add_job(
            self.prune, "interval", hours=1, id=_PRUNE_JOB, next_run_time=now,
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip
        scheduler.add_job(
            self.renew, "interval", seconds=self._settings.sync.lease_seconds / 3, id=_RENEW_JOB,
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip

    def wake(self) -> None:
        """Claim now instead of at the next tick (a manual trigger, a freed slot)."""
        self._again = True
        if self._claiming and not self._ticking and self._scheduler is not None:
            self._scheduler.modify_job(_DISPATCH_JOB, next_run_time=datetime.now(UTC))

    async def tick(self) -> None:
        """Claim as many due calendars as the limits allow and start their syncs."""
        self._ticking = True
        self._idle.clear()
        try:
            self._again = True
            while self._again and self._claiming:
                self._again = False
                await self._claim_and_start()
            await self._update_gauges()
        except CalsyncError as exc:
            log.warning("dispatch.failed", error=str(exc))
        finally:
            self._ticking = False
            self._idle.set()

    async def _claim_and_start(self) -> None:
        free = self._settings.sync.max_concurrent - len(self._tasks)
        if free <= 0:
            self._backlog = True
            return
        now = self._clock()
        self._paused_until = {h: until for h, until in self._paused_until.items() if until > now}
        claims = await asyncio.to_thread(self._claim, free, frozenset(self._paused_until))
        self._backlog = len(claims) == free
        for claim, feed in claims:
            self._host_load[claim.host] += 1
            task = asyncio.create_task(self._sync(claim, feed), name=f"sync {claim.calendar_id}")
            self._tasks[claim.calendar_id] = task

    def _claim(
        self, limit: int, paused_hosts: frozenset[str]
    ) -> list[tuple[repo.Claim, FeedToSync]]:
        now = self._clock()
        with self._store.write() as session:
            claims = repo.claim_due(
                session,
                owner=self.owner,
                now=now,
                lease_until=now + timedelta(seconds=self._settings.sync.lease_seconds),
                limit=limit,
                host_load=self._host_load,
                max_per_host=self._settings.sync.max_per_host,
                paused_hosts=paused_hosts,
                gone_owners=self._find_gone_owners(session, now),
            )
            ids = [claim.calendar_id for claim in claims]
            return list(zip(claims, read_feeds(session, ids, self._settings, now), strict=True))

    def _find_gone_owners(self, session: Session, now: datetime) -> frozenset[str]:
        """Owners of valid leases that are dead processes of this host (read once a second)."""
        if self._owners_read_at is None or now - self._owners_read_at >= _LEASE_OWNERS_EVERY:
            self._owners_read_at = now
            owners = repo.lease_owners(session, now=now) - {self.owner}
            self._gone_owners = frozenset(filter(owner_is_gone, owners))
            if self._gone_owners:
                log.info("lease.owners_gone", owners=sorted(self._gone_owners))
        return self._gone_owners

    async def _record(self, host: str, finished: FinishedSync) -> SyncResult:
        """Pause ``host`` if its answer asked for it, then hand the sync to the recorder."""
        pause = finished.host_pause
        if pause:
            until = finished.recording.finished_at + pause
            paused = self._paused_until.get(host)
            if paused is None or until > paused:
                self._paused_until[host] = until
                log.info("host.paused", host=host, until=until.isoformat())
        return await self._recorder.record(finished)

    async def _sync(self, claim: repo.Claim, feed: FeedToSync) -> None:
        try:
            result = await sync_feed(
                feed, fetcher=self._fetcher, settings=self._settings, clock=self._clock,
                parse=self._parse_pool.parse, lease_owner=self.owner,
                record=functools.partial(self._record, claim.host),
            )  # fmt: skip
            self._metrics.observe(result, claim.tld)
        except CalsyncError as exc:
            log.warning("sync.aborted", calendar_id=str(claim.calendar_id), error=str(exc))
        except Exception:
            log.exception("sync.aborted", calendar_id=str(claim.calendar_id))
        finally:
            self._tasks.pop(claim.calendar_id, None)
            self._host_load[claim.host] -= 1
            free = self._settings.sync.max_concurrent - len(self._tasks)
            if self._backlog and free >= self._refill:
                self.wake()

    async def renew(self) -> None:
        """Extend the leases of the syncs in flight; log those another replica has taken."""
        in_flight = list(self._tasks)
        if not in_flight:
            return
        until = self._clock() + timedelta(seconds=self._settings.sync.lease_seconds)

        def renew() -> set[uuid.UUID]:
            with self._store.write() as session:
                return repo.renew_leases(session, in_flight, owner=self.owner, lease_until=until)

        try:
            held = await asyncio.to_thread(renew)
        except CalsyncError as exc:
            log.warning("lease.renew_failed", calendars=len(in_flight), error=str(exc))
            return
        for calendar_id in in_flight:
            if calendar_id not in held and calendar_id in self._tasks:
                log.warning("lease.lost", calendar_id=str(calendar_id), owner=self.owner)

    async def _update_gauges(self) -> None:
        now = self._clock()
        if self._gauges_read_at is not None and now - self._gauges_read_at < _GAUGES_EVERY:
            return
        self._gauges_read_at = now

        def read() -> tuple[int, datetime | None]:
            with self._store.read() as session:
                return repo.count_due(session, now=now), repo.oldest_success(session)

        due, oldest = await asyncio.to_thread(read)
        self._metrics.calendars_due.set(due)
        self._metrics.last_success_age.set((now - oldest).total_seconds() if oldest else 0)

    async def prune(self) -> None:
        """Delete sync runs and feed-read records older than ``sync.history_days``."""
        before = self._clock() - timedelta(days=self._settings.sync.history_days)

        def prune() -> tuple[int, int]:
            with self._store.write() as session:
                runs = repo.prune_sync_runs(session, before=before)
                reads = repo.prune_feed_reads(session, before=before)
                return runs, reads

        try:
            runs, reads = await asyncio.to_thread(prune)
        except CalsyncError as exc:
            log.warning("history.prune_failed", error=str(exc))
            return
        if runs or reads:
            log.info("history.pruned", sync_runs=runs, feed_reads=reads, before=before.isoformat())

    async def shutdown(self, grace_seconds: float) -> None:
        """Stop claiming, let in-flight syncs finish within the grace, abandon the rest.

        An abandoned sync never commits (its one transaction is not reached or is
        refused for the released lease); every lease of this owner is released.
        """
        self._claiming = False
        with contextlib.suppress(TimeoutError):  # a tick under way finishes its claim first
            async with asyncio.timeout(_TICK_STOP_TIMEOUT):
                await self._idle.wait()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        tasks = list(self._tasks.values())
        done: set[asyncio.Task[None]] = set()
        pending: set[asyncio.Task[None]] = set()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._recorder.close()

        def release() -> int:
            with self._store.write() as session:
                return repo.release_leases(session, self.owner)

        released = await asyncio.to_thread(release)
        log.info(
            "dispatcher.stopped",
            finished=len(done),
            abandoned=len(pending),
            leases_released=released,
        )
