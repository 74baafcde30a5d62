"""Steady state: ``calsync run`` keeping 10 000 calendars fresh, two minutes at a time.

10 000 calendars with 50-event feeds and no ETags (DTSTAMP changes on every
fetch, the Airbnb case), 1 % of feeds changing one event per minute. The store
starts warm, as a daemon that has been running finds it: the first
:data:`DISTINCT_FEEDS` calendars are synced for real, the others serve the same
bytes and get a copy of their bookings and digests, and every calendar is due
at a random moment within the first interval.

The sync interval is 51 s (``interval_minutes = 0.85``): with its ±10 % jitter
and the 1 s tick, that is the setting that re-checks every calendar at least
every 60 s. Measured over the window after warm-up: the gap between successive
syncs of a calendar (p50, p99, max), the daemon's CPU (with its parser workers,
as a share of both cores), its peak RSS, and the p99 latency of the REST API
and the outbound feed, asked 10 times a second meanwhile.
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from bench import seed
from bench.daemon import Daemon, open_store, wait_until
from bench.feedserver import FeedServer
from bench.report import Figure, Target
from calsync.store.models import Booking, ExternalCalendar, Product, SyncRun

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.orm import Session

    from bench.options import BenchOptions
    from calsync.store.db import Store

EVENTS = 50
DISTINCT_FEEDS = 300
INTERVAL_MINUTES = 0.85
CHANGES_PER_MINUTE = 0.01
DAEMON_SETTINGS = {
    "CALSYNC_SYNC__INTERVAL_MINUTES": str(INTERVAL_MINUTES),
    "CALSYNC_SYNC__TICK_SECONDS": "1",
    "CALSYNC_SYNC__MAX_CONCURRENT": "64",
    "CALSYNC_SYNC__MAX_PER_HOST": "64",  # every bench feed is on one host
}


def run(options: BenchOptions) -> list[Figure]:
    """Run the steady state twice at most (``options.runs``); --quick: shorter and smaller."""
    calendars = 1000 if options.quick else 10_000
    window = 40.0 if options.quick else 120.0
    runs = min(options.runs, 2)
    measured: dict[str, list[float]] = {}
    for number in range(runs):
        workdir = options.workdir / f"steady-{number}"
        workdir.mkdir()
        for name, value in _measure(calendars, window, workdir).items():
            measured.setdefault(name, []).append(value)
        print(
            f"   run {number + 1}: "
            + ", ".join(f"{name} {values[-1]:.1f}" for name, values in measured.items()),
            file=sys.stderr,
        )
    scenario = f"steady state, {calendars} calendars, {window:.0f} s"
    return [
        Figure(scenario, "re-check gap, p50", "s", measured["gap_p50"]),
        Figure(scenario, "re-check gap, p99", "s", measured["gap_p99"]),
        Figure(scenario, "re-check gap, max", "s", measured["gap_max"], Target(60, at_least=False)),
        Figure(scenario, "syncs per second", "syncs/s", measured["syncs_per_second"]),
        Figure(scenario, "CPU, share of 2 cores", "%", measured["cpu_percent"],
               Target(70, at_least=False)),
        Figure(scenario, "peak RSS, daemon + workers", "MB", measured["peak_rss_mb"],
               Target(300, at_least=False)),
        Figure(scenario, "REST API latency, p99", "ms", measured["api_p99_ms"],
               Target(50, at_least=False)),
        Figure(scenario, "outbound feed latency, p99", "ms", measured["feed_p99_ms"]),
    ]  # fmt: skip


def _measure(calendars: int, window: float, workdir: Path) -> dict[str, float]:
    specs = seed.feed_specs(calendars, EVENTS, distinct=DISTINCT_FEEDS)
    database = workdir / "calsync.db"
    with FeedServer(specs, etags=False) as server:
        store = open_store(database)
        ids = seed.add_calendars(store, [server.url(n) for n in range(calendars)])
        _warm_up(store, ids, database)
        key = seed.api_key(store)
        with Daemon(database, DAEMON_SETTINGS) as daemon:
            time.sleep(INTERVAL_MINUTES * 60 * 1.2)  # one whole interval: every calendar synced
            changer = _Changer(server, calendars)
            probe = _Prober(daemon, key, _feed_token(store))
            before = daemon.usage()
            started = datetime.now(UTC)
            began = time.monotonic()
            changer.start()
            probe.start()
            time.sleep(window)
            probe.stop()
            changer.stop()
            after = daemon.usage()
            elapsed = time.monotonic() - began
            ended = datetime.now(UTC)
        gaps = _gaps(store, started, ended)
        store.engine.dispose()
    cpu_seconds = after.cpu_seconds - before.cpu_seconds
    return {
        "gap_p50": statistics.median(gaps),
        "gap_p99": _percentile(gaps, 99),
        "gap_max": max(gaps),
        "syncs_per_second": len(gaps) / elapsed,
        "cpu_percent": cpu_seconds / elapsed / 2 * 100,
        "peak_rss_mb": after.peak_rss_mb,
        "api_p99_ms": _percentile(probe.api_ms, 99),
        "feed_p99_ms": _percentile(probe.feed_ms, 99),
    }


def _warm_up(store: Store, ids: list[uuid.UUID], database: Path) -> None:
    """Sync the distinct feeds for real, copy the result to the rest, spread the due times."""
    from bench.syncing import DAEMON_SETTINGS as FAST  # noqa: PLC0415

    sources = ids[:DISTINCT_FEEDS]
    with store.write() as session:
        session.execute(
            update(ExternalCalendar)
            .where(ExternalCalendar.id.in_(sources))
            .values(next_sync_at=datetime.now(UTC))
        )
    since = datetime.now(UTC)
    with Daemon(database, FAST):
        probe = seed.runs_since(store, since)
        wait_until(lambda: probe()[0] >= len(sources), timeout=600, interval=0.1)
    with store.write() as session:
        _copy_state(session, ids)
        now = datetime.now(UTC)
        interval = INTERVAL_MINUTES * 60
        session.execute(
            update(ExternalCalendar),
            [
                {"id": ident, "next_sync_at": now + timedelta(seconds=random.uniform(0, interval))}
                for ident in ids
            ],
        )


def _copy_state(session: Session, ids: list[uuid.UUID]) -> None:
    """Give calendar n the digests and bookings of calendar n mod DISTINCT_FEEDS."""
    columns = ("content_digest", "prodid", "event_count", "last_synced", "etag", "last_modified")
    calendars = {
        calendar.id: calendar for calendar in session.scalars(select(ExternalCalendar)).all()
    }
    bookings: dict[uuid.UUID, list[Booking]] = {}
    for booking in session.scalars(
        select(Booking).where(Booking.external_calendar_id.in_(ids[:DISTINCT_FEEDS]))
    ):
        bookings.setdefault(booking.external_calendar_id, []).append(booking)  # type: ignore[arg-type]
    rows: list[dict[str, object]] = []
    for number, ident in enumerate(ids[DISTINCT_FEEDS:], start=DISTINCT_FEEDS):
        source = calendars[ids[number % DISTINCT_FEEDS]]
        target = calendars[ident]
        for column in columns:
            setattr(target, column, getattr(source, column))
        rows.extend(
            {
                "id": uuid.uuid4(), "product_id": target.product_id,
                "external_calendar_id": ident, "source_key": booking.source_key,
                "starts_at": booking.starts_at, "ends_at": booking.ends_at,
                "all_day": booking.all_day, "summary": booking.summary, "units": booking.units,
                "status": booking.status, "created_at": booking.created_at,
                "updated_at": booking.updated_at,
            }
            for booking in bookings.get(source.id, [])
        )  # fmt: skip
    session.flush()
    for start in range(0, len(rows), 20_000):
        session.execute(insert(Booking), rows[start : start + 20_000])


def _feed_token(store: Store) -> str:
    with store.read() as session:
        return session.scalars(select(Product.feed_token).limit(1)).one()


class _Changer(threading.Thread):
    """Changes one event in random feeds, 1 % of them per minute, until stopped."""

    def __init__(self, server: FeedServer, calendars: int) -> None:
        super().__init__(daemon=True)
        self._server = server
        self._calendars = calendars
        self._stopping = threading.Event()

    def run(self) -> None:
        pause = 60 / max(self._calendars * CHANGES_PER_MINUTE, 1)
        while not self._stopping.wait(pause):
            self._server.change(random.randrange(self._calendars))

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


class _Prober(threading.Thread):
    """Asks the REST API and an outbound feed in turn, 10 times a second; keeps latencies."""

    def __init__(self, daemon: Daemon, key: str, token: str) -> None:
        super().__init__(daemon=True)
        self._daemon = daemon
        self._key = key
        self._token = token
        self._stopping = threading.Event()
        self.api_ms: list[float] = []
        self.feed_ms: list[float] = []
        self.failure: str | None = None

    def run(self) -> None:
        api = {"Authorization": f"Bearer {self._key}"}
        turn = 0
        while not self._stopping.wait(0.1):
            turn += 1
            began = time.perf_counter()
            if turn % 2:
                status, _, _ = self._daemon.get("/v1/external_calendars?limit=20", api)
                latencies = self.api_ms
            else:
                status, _, _ = self._daemon.get(f"/ical/{self._token}.ics")
                latencies = self.feed_ms
            if status not in {200, 206}:
                self.failure = f"the daemon answered {status} during the steady state"
                return
            latencies.append((time.perf_counter() - began) * 1000)

    def stop(self) -> None:
        """Stop asking; raise if an answer was an error."""
        self._stopping.set()
        self.join(10)
        if self.failure is not None:
            raise RuntimeError(self.failure)


def _gaps(store: Store, started: datetime, ended: datetime) -> list[float]:
    """Seconds between successive syncs of each calendar, for syncs that started in the window.

    A calendar's last sync before ``ended`` also counts, as the gap up to
    ``ended``, so a calendar that starves shows up even without a later sync.
    """
    lookback = started - timedelta(minutes=INTERVAL_MINUTES * 3)
    with store.read() as session:
        rows = session.execute(
            select(SyncRun.external_calendar_id, SyncRun.started_at)
            .where(SyncRun.started_at >= lookback, SyncRun.started_at <= ended)
            .order_by(SyncRun.external_calendar_id, SyncRun.started_at)
        ).all()
    by_calendar: dict[uuid.UUID, list[datetime]] = {}
    for calendar_id, at in rows:
        by_calendar.setdefault(calendar_id, []).append(at)
    gaps: list[float] = []
    for times in by_calendar.values():
        gaps.extend(
            (later - earlier).total_seconds()
            for earlier, later in itertools.pairwise(times)
            if later >= started
        )
        if (ended - times[-1]).total_seconds() > INTERVAL_MINUTES * 60:
            gaps.append((ended - times[-1]).total_seconds())
    return gaps


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
