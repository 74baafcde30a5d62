"""A big feed: importing N events into one calendar, then shifting every one by a day.

Each run syncs one calendar twice with ``sync_calendar`` on a fresh store: first
every event is new (inserts), then every event moved a day (updates). The feed's
bytes come from the bench feed server (a small feed whose version changes, so
the sync does not skip it as unchanged); its blocks are made here, so the figures
are the store's work and not the parse's. Measured per sync: its wall time and
its longest transaction (on SQLite the write transaction holds the database's
write lock from ``BEGIN IMMEDIATE`` to commit: every other writer waits for it).

Runs on SQLite, and on PostgreSQL when ``CALSYNC_BENCH_POSTGRES_URL`` (or
``CALSYNC_TEST_POSTGRES_URL``) is set, in a private schema dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from bench.feeds import FeedSpec
from bench.feedserver import FeedServer
from bench.report import Figure, Target
from calsync.config import DatabaseSettings, FetchSettings, Settings, SyncSettings
from calsync.core.blocks import Block
from calsync.core.ical_in import ParsedFeed, ParseOptions
from calsync.fetch import FeedFetcher
from calsync.services import calendars
from calsync.services.context import Cause, WriteContext
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.sync import SyncResult, sync_calendar

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.options import BenchOptions

SHIFT_TARGET = 2.0
"""Shifting every event may cost at most twice inserting them (issue "Reliability, round 2")."""
_SPACING = timedelta(minutes=20)  # 40 000 events fit in the sync window (555 days)


@dataclass
class _Transactions:
    """The longest transaction seen on an engine since the last :meth:`reset`."""

    longest: float = 0.0
    _started: dict[int, float] = field(default_factory=dict)

    def watch(self, engine: sqlalchemy.Engine) -> None:
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def reset(self) -> None:
        self.longest = 0.0

    def _begin(self, conn: Any) -> None:  # noqa: ANN401 - a Connection
        self._started[id(conn)] = time.perf_counter()

    def _end(self, conn: Any) -> None:  # noqa: ANN401
        started = self._started.pop(id(conn), None)
        if started is not None:
            self.longest = max(self.longest, time.perf_counter() - started)


@dataclass(frozen=True)
class _Run:
    insert_seconds: float
    shift_seconds: float
    insert_lock_seconds: float
    shift_lock_seconds: float


def run(options: BenchOptions) -> list[Figure]:
    """Insert then shift N events on each database, ``options.runs`` times."""
    events = 4_000 if options.quick else 40_000
    databases: dict[str, Any] = {"SQLite": None}
    postgres = os.environ.get("CALSYNC_BENCH_POSTGRES_URL") or os.environ.get(
        "CALSYNC_TEST_POSTGRES_URL", ""
    )
    if postgres:
        databases["PostgreSQL"] = postgres
    else:
        print(
            "   PostgreSQL skipped: set CALSYNC_BENCH_POSTGRES_URL to measure it too",
            file=sys.stderr,
        )
    figures: list[Figure] = []
    for name, url in databases.items():
        runs = []
        for number in range(options.runs):
            with _database(name, url, options, number) as database_url:
                runs.append(_measure(database_url, events))
            last = runs[-1]
            print(
                f"   {name} run {number + 1}: insert {last.insert_seconds:.2f} s "
                f"(lock {last.insert_lock_seconds:.2f} s), shift {last.shift_seconds:.2f} s "
                f"(lock {last.shift_lock_seconds:.2f} s)",
                file=sys.stderr,
            )
        scenario = f"{name}, one feed of {events} events"
        figures += [
            Figure(f"{scenario}: insert every event", "sync seconds", "s",
                   [r.insert_seconds for r in runs]),
            Figure(f"{scenario}: shift every event a day", "sync seconds", "s",
                   [r.shift_seconds for r in runs], None, "insert",
                   [r.insert_seconds for r in runs]),
            Figure(f"{scenario}: shift / insert", "ratio", "×",
                   [r.shift_seconds / r.insert_seconds for r in runs],
                   Target(SHIFT_TARGET, at_least=False)),
            Figure(f"{scenario}: longest write transaction", "seconds", "s",
                   [max(r.insert_lock_seconds, r.shift_lock_seconds) for r in runs]),
        ]  # fmt: skip
    return figures


@contextmanager
def _database(name: str, url: str | None, options: BenchOptions, number: int) -> Iterator[str]:
    """A fresh database: a SQLite file in the work folder, or a private PostgreSQL schema."""
    if url is None:
        yield f"sqlite:///{options.workdir / f'bigfeed-{number}.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool
    )
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    print(f"   {name}: schema {schema} dropped", file=sys.stderr)


def _blocks(events: int, first: datetime) -> tuple[Block, ...]:
    return tuple(
        Block(
            key=f"bench-{index}@airbnb.com",
            starts_at=first + index * _SPACING,
            ends_at=first + index * _SPACING + _SPACING / 2,
            all_day=False,
            summary="Reserved",
        )
        for index in range(events)
    )


def _measure(database_url: str, events: int) -> _Run:
    """Sync one calendar twice: every event new, then every event a day later."""
    settings = Settings(
        database=DatabaseSettings(url=database_url),
        fetch=FetchSettings(allow_private_networks=True),
        sync=SyncSettings(max_events=events + 1),
    )
    store = Store.connect(settings.database)
    store.upgrade()
    transactions = _Transactions()
    transactions.watch(store.engine)
    tomorrow = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    phases = [_blocks(events, tomorrow), _blocks(events, tomorrow + timedelta(days=1))]
    seconds: list[float] = []
    locks: list[float] = []
    with FeedServer([FeedSpec("airbnb", 2, seed=events)]) as server:
        with store.write() as session:
            product = stored_products.add_product(
                session, name="big", timezone="UTC", capacity=1, now=datetime.now(UTC)
            )
            calendar_id = calendars.add(
                session,
                WriteContext(now=datetime.now(UTC), cause=Cause.cli("bench@localhost")),
                product_id=product.id,
                name="big",
                ical_url=server.url(0),
            ).id
        for blocks, expected in zip(phases, [(events, 0), (0, events)], strict=True):
            server.change(0)
            transactions.reset()
            started = time.perf_counter()
            result = asyncio.run(_sync(store, settings, calendar_id, blocks))
            seconds.append(time.perf_counter() - started)
            locks.append(transactions.longest)
            if (result.inserted, result.updated) != expected:
                msg = f"expected (inserted, updated) {expected}, got {result}"
                raise RuntimeError(msg)
    store.close()
    return _Run(seconds[0], seconds[1], locks[0], locks[1])


async def _sync(
    store: Store, settings: Settings, calendar_id: uuid.UUID, blocks: tuple[Block, ...]
) -> SyncResult:
    """Sync the calendar; its feed parses to ``blocks``."""

    async def parse(_body: bytes, _options: ParseOptions) -> ParsedFeed:
        return ParsedFeed(blocks, (), (), "-//Airbnb Inc//Hosting Calendar//EN", len(blocks))

    async with FeedFetcher(settings.fetch) as fetcher:
        return await sync_calendar(
            calendar_id, store=store, fetcher=fetcher, settings=settings, parse=parse
        )
