"""Scale, measured: 50 000 calendars at a 5-minute interval on PostgreSQL, one replica then two.

50 000 calendars of 50-event feeds served by the bench feed server (no ETags,
DTSTAMP changing on every fetch), 1 % of the feeds changing one event per minute,
``sync.interval_minutes = 5`` (±10 % jitter). The store starts warm, as a running
deployment finds it: the first :data:`DISTINCT_FEEDS` calendars are synced for
real and the others (serving the same bytes) get their digests, and every
calendar is due at a random moment of the first interval, its last sync one
interval before (a ``sync_runs`` row). Their bookings are not copied: a feed whose
digest is unchanged never reads them.

Phase 1: one ``calsync run`` for 1.2 intervals: the re-check gaps of the syncs
that started in it (p50, max), its CPU (share of both cores) and peak RSS.
Phase 2: a second replica joins on the same database for one more interval:
the syncs each replica made, and how many calendars were synced twice within
half an interval (none should be: the leases split the work).

The database is a private schema of ``CALSYNC_BENCH_POSTGRES_URL`` (default: the
test PostgreSQL), dropped afterwards. ``--quick``: 5 000 calendars at 1 minute.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bench import seed
from bench.daemon import Daemon, wait_until
from bench.feedserver import FeedServer
from bench.report import Figure, Target
from bench.steady import _Changer
from bench.syncing import DAEMON_SETTINGS as FAST
from calsync.config import DatabaseSettings
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar, SyncRun

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

    from bench.options import BenchOptions

EVENTS = 50
DISTINCT_FEEDS = 300
POSTGRES_URL = os.environ.get(
    "CALSYNC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def run(options: BenchOptions) -> list[Figure]:
    """One measurement (it takes about 13 minutes at full size); --quick: 5 000 at 1 minute."""
    calendars, interval = (5000, 1.0) if options.quick else (50_000, 5.0)
    settings = {
        "CALSYNC_SYNC__INTERVAL_MINUTES": str(interval),
        "CALSYNC_SYNC__TICK_SECONDS": "1",
        "CALSYNC_SYNC__MAX_CONCURRENT": "64",
        "CALSYNC_SYNC__MAX_PER_HOST": "64",  # every bench feed is on one host
    }
    try:
        _admin().connect().close()
    except OperationalError as exc:
        print(f"   skipped: no PostgreSQL at {POSTGRES_URL} ({exc.orig})", file=sys.stderr)
        return []
    with _schema() as url:
        measured = _measure(url, calendars, interval, settings)
    print("   " + ", ".join(f"{k} {v:.1f}" for k, v in measured.items()), file=sys.stderr)
    one = f"scale, {calendars} calendars every {interval:g} min, PostgreSQL, 1 replica"
    two = f"scale, {calendars} calendars every {interval:g} min, PostgreSQL, 2 replicas"
    limit = interval * 60 * 1.1 + 2
    return [
        Figure(one, "re-check gap, p50", "s", [measured["gap_p50"]]),
        Figure(one, "re-check gap, max", "s", [measured["gap_max"]], Target(limit, at_least=False)),
        Figure(one, "syncs per second", "syncs/s", [measured["syncs_per_second"]]),
        Figure(one, "CPU, share of 2 cores (daemon + workers)", "%", [measured["cpu_percent"]]),
        Figure(one, "peak RSS, daemon + workers", "MB", [measured["peak_rss_mb"]]),
        Figure(two, "syncs by replica A", "syncs", [measured["syncs_a"]]),
        Figure(two, "syncs by replica B", "syncs", [measured["syncs_b"]]),
        Figure(two, "CPU, share of 2 cores (both replicas)", "%", [measured["cpu_percent_two"]]),
        Figure(two, "calendars synced twice within half an interval", "calendars",
               [measured["twice"]], Target(0, at_least=False)),
    ]  # fmt: skip


def _admin() -> Engine:
    return create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool
    )


@contextmanager
def _schema() -> Iterator[str]:
    """A private schema on the bench PostgreSQL, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _measure(
    url: str, calendars: int, interval: float, settings: dict[str, str]
) -> dict[str, float]:
    specs = seed.feed_specs(calendars, EVENTS, distinct=DISTINCT_FEEDS)
    store = Store.connect(DatabaseSettings(url=url))
    store.upgrade()
    with FeedServer(specs, etags=False) as server:
        ids = seed.add_calendars(store, [server.url(n) for n in range(calendars)])
        _warm_up(store, url, ids, interval)
        changer = _Changer(server, calendars)
        changer.start()
        try:
            with Daemon(url, settings) as first:
                before = first.usage()
                started, began = datetime.now(UTC), time.monotonic()
                time.sleep(interval * 60 * 1.2)
                after = first.usage()
                elapsed = time.monotonic() - began
                gaps = _gaps(store, started, datetime.now(UTC), interval)
                with Daemon(url, settings) as second:
                    syncs_a, cpu_a = first.syncs, first.usage().cpu_seconds
                    split = datetime.now(UTC)
                    began_two = time.monotonic()
                    time.sleep(interval * 60)
                    elapsed_two = time.monotonic() - began_two
                    cpu_two = first.usage().cpu_seconds - cpu_a + second.usage().cpu_seconds
                    syncs = (first.syncs - syncs_a, second.syncs)
        finally:
            changer.stop()
    twice = _synced_twice(store, split, interval)
    store.close()
    return {
        "gap_p50": statistics.median(gaps),
        "gap_max": max(gaps),
        "syncs_per_second": len(gaps) / elapsed,
        "cpu_percent": (after.cpu_seconds - before.cpu_seconds) / elapsed / 2 * 100,
        "peak_rss_mb": after.peak_rss_mb,
        "syncs_a": syncs[0],
        "syncs_b": syncs[1],
        "cpu_percent_two": cpu_two / elapsed_two / 2 * 100,
        "twice": twice,
    }


def _warm_up(store: Store, url: str, ids: list[uuid.UUID], interval: float) -> None:
    """Sync the distinct feeds for real; give the others their state, a due time, a last sync."""
    with store.write() as session:
        session.execute(
            update(ExternalCalendar)
            .where(ExternalCalendar.id.in_(ids[:DISTINCT_FEEDS]))
            .values(next_sync_at=datetime.now(UTC))
        )
    since = datetime.now(UTC)
    with Daemon(url, FAST):
        probe = seed.runs_since(store, since)
        wait_until(lambda: probe()[0] >= DISTINCT_FEEDS, timeout=600, interval=0.2)
    columns = ("content_digest", "prodid", "event_count", "etag", "last_modified")
    with store.read() as session:
        sources = {
            row.id: row
            for row in session.execute(
                select(ExternalCalendar.id, *(getattr(ExternalCalendar, c) for c in columns))
                .where(ExternalCalendar.id.in_(ids[:DISTINCT_FEEDS]))
            )
        }  # fmt: skip
    now = datetime.now(UTC)
    period = timedelta(minutes=interval)
    states = []
    runs = []
    for number, ident in enumerate(ids):
        source = sources[ids[number % DISTINCT_FEEDS]]
        due = now + period * random.random()
        states.append({
            "id": ident, "next_sync_at": due, "last_synced": due - period,
            **{column: getattr(source, column) for column in columns},
        })  # fmt: skip
        runs.append({
            "id": uuid.uuid4(), "external_calendar_id": ident, "started_at": due - period,
            "finished_at": due - period, "outcome": "unchanged", "created_at": now,
            "updated_at": now,
        })  # fmt: skip
    with store.write() as session:
        for start in range(0, len(ids), 10_000):
            session.execute(update(ExternalCalendar), states[start : start + 10_000])
            session.execute(insert(SyncRun), runs[start : start + 10_000])


def _gaps(store: Store, started: datetime, ended: datetime, interval: float) -> list[float]:
    """Seconds from each calendar's sync before to each of its syncs that started in the window."""
    with store.read() as session:
        rows = session.execute(
            select(SyncRun.external_calendar_id, SyncRun.started_at)
            .where(SyncRun.started_at >= started - timedelta(minutes=interval * 2))
            .order_by(SyncRun.external_calendar_id, SyncRun.started_at)
        ).all()
    gaps: list[float] = []
    previous: tuple[uuid.UUID, datetime] | None = None
    for calendar_id, at in rows:
        if previous is not None and previous[0] == calendar_id and started <= at <= ended:
            gaps.append((at - previous[1]).total_seconds())
        previous = (calendar_id, at)
    return gaps


def _synced_twice(store: Store, since: datetime, interval: float) -> int:
    """Calendars with two syncs less than half an interval apart since ``since``."""
    return sum(1 for gap in _gaps(store, since, datetime.now(UTC), interval) if gap < interval * 30)
