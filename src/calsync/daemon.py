"""``calsync run``: the dispatcher and the HTTP server in one asyncio event loop.

Lifecycle (as uvicorn's own server does it): the first SIGTERM or SIGINT stops
claiming, lets in-flight syncs finish within ``sync.shutdown_grace_seconds``,
abandons the rest unwritten, releases the leases and exits 0; a second signal
exits at once (an unfinished transaction never commits, so nothing is half
written). The signal handlers are installed and removed here, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
import structlog
import uvicorn
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import make_url

from calsync import __version__, reports
from calsync.clock import utc_now
from calsync.errors import CalsyncError, ConfigError
from calsync.feeds import FeedReadLog, FeedService, StaleReaderWatch
from calsync.fetch import FeedFetcher
from calsync.leases import replica_owner
from calsync.metrics import Metrics
from calsync.notify import Deliverer
from calsync.parsing import ParsePool
from calsync.scheduler import Dispatcher
from calsync.services import calendars as calendar_service
from calsync.services import issues
from calsync.services.users import Users
from calsync.store.db import Store
from calsync.store.models import SYNC_CHANNEL
from calsync.web.app import create_app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from calsync.config import Settings

log = structlog.get_logger("calsync.daemon")
_EXIT_NOW = 130
_GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (Python's default: 700)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_daemon(settings: Settings) -> int:
    """Run until stopped by a signal; return the exit code."""
    store = Store.connect(settings.database)
    if settings.database.auto_migrate:
        await asyncio.to_thread(store.upgrade)
    listener = _listen(settings.server.host, settings.server.port)
    parse_pool = ParsePool(settings.sync.parse_workers or os.cpu_count() or 1)
    metrics = Metrics()
    try:
        async with FeedFetcher(settings.fetch) as fetcher:
            owner = replica_owner()
            dispatcher = Dispatcher(
                store=store,
                settings=settings,
                fetcher=fetcher,
                parse_pool=parse_pool,
                owner=owner,
                metrics=metrics,
            )
            deliverer = Deliverer(
                store, settings, fetcher, owner=owner, observe=metrics.observe_delivery
            )
            feed_service = FeedService(store, settings.feeds)
            read_log = FeedReadLog(store)
            watch = StaleReaderWatch(store, settings.feeds)
            conflicts = reports.ConflictCache()
            app = create_app(
                store=store,
                wake=dispatcher.wake,
                is_running=lambda: dispatcher.running,
                metrics=metrics,
                feed_service=feed_service,
                read_log=read_log,
                settings=settings,
                conflicts=conflicts,
            )
            config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            server = _Server(config)
            with _stop_signals() as stop:
                scheduler = AsyncIOScheduler(timezone="UTC")
                dispatcher.start(scheduler)
                _add_feed_jobs(scheduler, store, read_log, watch, metrics, conflicts, settings)
                _add_delivery_job(scheduler, deliverer, metrics, settings)
                scheduler.start()
                serving = asyncio.create_task(server.serve(sockets=[listener]))
                listening = (
                    asyncio.create_task(listen_for_requests(settings.database.url, dispatcher.wake))
                    if store.dialect == "postgresql"
                    else None
                )
                _tune_garbage_collection()
                await _log_started(settings, store, listener, dispatcher.owner)
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if listening is not None:
                    listening.cancel()
                await dispatcher.shutdown(settings.sync.shutdown_grace_seconds)
                await deliverer.release_leases()
                server.should_exit = True
                await serving
                stopping.cancel()
                await asyncio.to_thread(read_log.flush)
    finally:
        parse_pool.close()
        listener.close()
        store.close()
    log.info("daemon.stopped")
    return 0


def _tune_garbage_collection() -> None:
    """Keep the collector from pausing the loop: freeze what start-up made, collect less often.

    Under load, full collections over every module and object of start-up paused
    the loop for 120–240 ms about once a second (the feeds' p99 latency).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 10)


def _add_delivery_job(
    scheduler: AsyncIOScheduler, deliverer: Deliverer, metrics: Metrics, settings: Settings
) -> None:
    """Deliver the outbox every ``alerts.delivery_tick_seconds``; keep its oldest age's gauge."""

    async def deliver() -> None:
        try:
            while len(await deliverer.deliver_due()) > 0:
                pass
            metrics.oldest_undelivered_age.set(await deliverer.oldest_pending_age())
        except CalsyncError as exc:
            log.warning("webhook.delivery_failed", error=str(exc))

    scheduler.add_job(
        deliver, "interval", seconds=settings.alerts.delivery_tick_seconds,
        next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
    )  # fmt: skip


def _add_feed_jobs(
    scheduler: AsyncIOScheduler,
    store: Store,
    read_log: FeedReadLog,
    watch: StaleReaderWatch,
    metrics: Metrics,
    conflicts: reports.ConflictCache,
    settings: Settings,
) -> None:
    """Write feed reads in batches every 2 s; look for stale readers and calendars and conflicts.

    The look is every 5 min: each that turned up or ended is an event (once).
    """

    async def flush() -> None:
        try:
            await asyncio.to_thread(read_log.flush)
        except CalsyncError as exc:
            log.warning("feed_reads.flush_failed", error=str(exc))

    async def check() -> None:
        try:
            readers, found = await asyncio.to_thread(check_all)
            metrics.stale_feed_readers.set(readers)
            metrics.conflicts.set(found)
        except CalsyncError as exc:
            log.warning("feed.reader_check_failed", error=str(exc))

    def check_all() -> tuple[int, int]:
        stale_readers = watch.check()
        now = utc_now()
        with store.read() as session:
            found = conflicts.everywhere(session, now=now)
        for conflict in found:
            log.warning("booking.conflict", **conflict)
        with store.write() as session:
            issues.check_stale_readers(session, stale_readers, now=now)
            issues.check_conflicts(session, found, now=now)
            issues.check_stale_calendars(
                session, now=now, after=timedelta(hours=settings.alerts.stale_after_hours)
            )
        return len(stale_readers), len(found)

    now = datetime.now(UTC)
    for job, seconds in ((flush, 2), (check, 300)):
        scheduler.add_job(
            job, "interval", seconds=seconds, next_run_time=now, max_instances=1, coalesce=True
        )


async def listen_for_requests(database_url: str, wake: Callable[[], None]) -> None:
    """PostgreSQL: wake the dispatcher on every ``NOTIFY calsync_sync``; reconnect on failure.

    A manual trigger on any replica (API or CLI) commits a notification, so every
    replica claims the calendar at once instead of at its next tick.
    """
    url = make_url(database_url).set(drivername="postgresql")
    conninfo = url.render_as_string(hide_password=False)
    delay = 1.0
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {SYNC_CHANNEL}")
                log.info("wakeup.listening", channel=SYNC_CHANNEL)
                delay = 1.0
                async for _ in conn.notifies():
                    wake()
        except psycopg.Error as exc:
            log.warning("wakeup.reconnecting", error=str(exc), in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        msg = f"cannot listen on {host}:{port}: {exc.strerror}"
        raise ConfigError(msg) from exc
    sock.listen(512)
    sock.setblocking(False)  # noqa: FBT003 - socket's own API
    return sock


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Event]:
    """First SIGTERM/SIGINT sets the event; a second one exits at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("daemon.exit_now", signal=signal.Signals(signum).name)
            os._exit(_EXIT_NOW)
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield stop
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _log_started(
    settings: Settings, store: Store, listener: socket.socket, owner: str
) -> None:
    def count_active() -> int:
        with store.read() as session:
            return calendar_service.count_active(session)

    host, port = listener.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    listen = f"http://{shown_host}:{port}"
    log.info(
        "daemon.started",
        version=__version__,
        database=make_url(settings.database.url).render_as_string(hide_password=True),
        listen=listen,
        active_calendars=await asyncio.to_thread(count_active),
        replica=owner,
    )
    token = await asyncio.to_thread(Users(store).open_setup)
    if token is not None:
        log.warning(
            "ui.setup_url",
            url=f"{settings.server.public_url.rstrip('/') or listen}/setup/{token}",
            hint="no account yet: open this URL to make the first one (or: calsync users add NAME)",
        )
