"""From an imported change to the new outbound ETag.

A running ``calsync run`` has synced 30 calendars (10 products). One feed
changes one event and its calendar's sync is triggered through the REST API
(``POST /v1/external_calendars/{id}/sync``); the product's outbound feed is
then polled with ``If-None-Match`` until it answers with a new ETag. Two
figures: trigger → new ETag (fetch, parse, write and feed together), and parsed
→ new ETag (the write and the feed alone: from the sync run's ``finished_at``,
the moment fetching and parsing ended).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from bench import seed
from bench.daemon import Daemon, open_store, wait_until
from bench.feedserver import FeedServer
from bench.report import Figure, Target
from calsync.store.models import ExternalCalendar, Product, SyncRun

if TYPE_CHECKING:
    import uuid

    from bench.options import BenchOptions
    from calsync.store.db import Store

CALENDARS = 30
SAMPLES_PER_RUN = 3
DAEMON_SETTINGS = {"CALSYNC_SYNC__INTERVAL_MINUTES": "1440"}


def run(options: BenchOptions) -> list[Figure]:
    """``options.runs`` × 3 changes, each timed from trigger and from commit to the new ETag."""
    specs = seed.feed_specs(CALENDARS, 50)
    database = options.workdir / "latency.db"
    to_etag: list[float] = []
    commit_to_etag: list[float] = []
    with FeedServer(specs, etags=False) as server:
        store = open_store(database)
        ids = seed.add_calendars(store, [server.url(n) for n in range(CALENDARS)])
        key = seed.api_key(store)
        with Daemon(database, DAEMON_SETTINGS) as daemon:
            since = seed.make_due(store)
            probe = seed.runs_since(store, since)
            wait_until(lambda: probe()[0] >= CALENDARS, timeout=120)
            for sample in range(options.runs * SAMPLES_PER_RUN):
                index = sample * 7 % CALENDARS
                trigger, commit = _one_change(daemon, store, server, key, ids[index], index)
                to_etag.append(trigger)
                commit_to_etag.append(commit)
        store.engine.dispose()
    return [
        Figure("imported change → new outbound ETag", "from the sync trigger", "ms", to_etag,
               Target(1000, at_least=False)),
        Figure("imported change → new outbound ETag", "from the parsed feed", "ms", commit_to_etag),
    ]  # fmt: skip


def _one_change(
    daemon: Daemon, store: Store, server: FeedServer, key: str, calendar: uuid.UUID, index: int
) -> tuple[float, float]:
    """Change feed ``index``, trigger its sync, poll its product's feed: both delays in ms."""
    token = _token(store, calendar)
    status, headers, _ = daemon.get(f"/ical/{token}.ics")
    old = headers["etag"]
    server.change(index)
    began = time.perf_counter()
    started = datetime.now(UTC)
    if daemon.post(f"/v1/external_calendars/{calendar}/sync", key) != 202:
        msg = "the sync trigger was refused"
        raise RuntimeError(msg)
    deadline = began + 30
    while time.perf_counter() < deadline:
        status, headers, _ = daemon.get(f"/ical/{token}.ics", {"If-None-Match": old})
        if status == 200 and headers["etag"] != old:
            break
        time.sleep(0.002)
    else:
        msg = "the outbound ETag did not change within 30 s"
        raise RuntimeError(msg)
    seen = datetime.now(UTC)
    trigger_ms = (time.perf_counter() - began) * 1000
    with store.read() as session:
        finished = session.scalars(
            select(SyncRun.finished_at).where(
                SyncRun.external_calendar_id == calendar, SyncRun.started_at >= started
            )
        ).one()
    return trigger_ms, (seen - finished).total_seconds() * 1000


def _token(store: Store, calendar: uuid.UUID) -> str:
    with store.read() as session:
        return session.scalars(
            select(Product.feed_token)
            .join(ExternalCalendar, ExternalCalendar.product_id == Product.id)
            .where(ExternalCalendar.id == calendar)
        ).one()
