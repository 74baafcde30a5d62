"""The dispatcher: every tick (or at once when woken) claim due calendars and sync them.

Claiming and syncing are the :class:`~calsync.sync.Syncer`'s, as for ``calsync
sync``: calendars are claimed through their leases, at most
``sync.max_concurrent`` at once and ``sync.max_per_host`` per feed host, a claim
reads what its syncs need in the same transaction, finished syncs are written
together, and a host that sent ``Retry-After`` is paused. Parsing runs in a
process pool (:class:`~calsync.parsing.ParsePool`). The dispatcher keeps the
pace: the ticks, the syncs in flight, one job that renews all their leases, the
gauges and the pruning of history. While calendars wait, a claim is made when
a quarter of the slots is free, not after every sync.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import asdict, astuple
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calsync.clock import utc_now
from calsync.errors import CalsyncError
from calsync.services import calendars, history
from calsync.sync import Syncer

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from calsync.config import Settings
    from calsync.fetch import FeedFetcher
    from calsync.metrics import Metrics
    from calsync.parsing import ParsePool
    from calsync.store.db import Store
    from calsync.sync import SyncJob

log = structlog.get_logger("calsync.scheduler")
_DISPATCH_JOB = "dispatch"
_TICK_STOP_TIMEOUT = 10.0
_PRUNE_JOB = "prune"
_RENEW_JOB = "renew"
_GAUGES_EVERY = timedelta(seconds=1)
"""At most this often the gauges are read: a dispatcher woken a dozen times a second
(a slot freed each time) spent 10 % of a core counting due calendars."""


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
        self._syncer = Syncer(
            store, settings, fetcher, owner=owner, parse=parse_pool.parse, clock=clock
        )
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
        self._refill = max(1, settings.sync.max_concurrent // 4)
        self._gauges_read_at: datetime | None = None

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
        jobs = await self._syncer.claim_due(limit=free, host_load=self._host_load)
        self._backlog = len(jobs) == free
        for job in jobs:
            self._host_load[job.host] += 1
            self._tasks[job.id] = asyncio.create_task(self._sync(job), name=f"sync {job.id}")

    async def _sync(self, job: SyncJob) -> None:
        try:
            result = await self._syncer.sync(job)
            self._metrics.observe(result, job.tld)
        except CalsyncError as exc:
            log.warning("sync.aborted", calendar_id=str(job.id), error=str(exc))
        except Exception:
            log.exception("sync.aborted", calendar_id=str(job.id))
        finally:
            self._tasks.pop(job.id, None)
            self._host_load[job.host] -= 1
            free = self._settings.sync.max_concurrent - len(self._tasks)
            if self._backlog and free >= self._refill:
                self.wake()

    async def renew(self) -> None:
        """Extend the leases of the syncs in flight; log those another replica has taken."""
        in_flight = list(self._tasks)
        if not in_flight:
            return
        try:
            held = await self._syncer.renew(in_flight)
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
                return calendars.due_and_oldest(session, now)

        due, oldest = await asyncio.to_thread(read)
        self._metrics.calendars_due.set(due)
        self._metrics.last_success_age.set((now - oldest).total_seconds() if oldest else 0)

    async def prune(self) -> None:
        """Delete sync runs, feed reads, changes and events older than ``sync.history_days``."""
        before = self._clock() - timedelta(days=self._settings.sync.history_days)

        def prune() -> history.Pruned:
            with self._store.write() as session:
                return history.prune(session, before=before)

        try:
            pruned = await asyncio.to_thread(prune)
        except CalsyncError as exc:
            log.warning("history.prune_failed", error=str(exc))
            return
        if any(astuple(pruned)):
            log.info("history.pruned", **asdict(pruned), before=before.isoformat())

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
        await self._syncer.close()
        released = await self._syncer.release_leases()
        log.info(
            "dispatcher.stopped",
            finished=len(done),
            abandoned=len(pending),
            leases_released=released,
        )
