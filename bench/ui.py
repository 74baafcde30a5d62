"""The web interface with 10 000 calendars: the dashboard and a product timeline, logged in.

A real ``calsync run`` serves a store seeded with 10 000 calendars (3 334
products; a few percent failing with their sync runs, held, stale or inactive),
a day of feed reads (a reader per calendar, every 2 hours), and one product
whose three calendars hold 60 stays each with a double booking among them. Its
scheduler syncs nothing (every calendar is due a year from now); its periodic
check warms the conflict cache as in production. After a login, ``GET /`` (the
first page of the dashboard, problems first) and ``GET /products/{id}`` (the
90-night timeline, availability, feed URLs, readers) are timed from request to
last byte over loopback: p50 and p95 over the run's requests, after warm-up.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import insert, select, update

from bench import seed
from bench.daemon import Daemon, open_store
from bench.report import Figure, Target
from calsync.services.users import Users
from calsync.store.models import Booking, ExternalCalendar, ProductCalendarLog, SyncRun

if TYPE_CHECKING:
    from bench.options import BenchOptions
    from calsync.store.db import Store

CALENDARS = 10_000
REQUESTS = 40
WARM_UP = 3
PASSWORD = "bench password"  # noqa: S105 - the bench account's password
TARGET_MS = Target(300, at_least=False)
DAEMON_SETTINGS = {"CALSYNC_SYNC__INTERVAL_MINUTES": "1440", "CALSYNC_SYNC__PARSE_WORKERS": "1"}


def run(options: BenchOptions) -> list[Figure]:
    """Seed once, then ``options.runs`` runs of timed requests to both pages."""
    calendars = 1_000 if options.quick else CALENDARS
    requests = 10 if options.quick else REQUESTS
    database = options.workdir / "ui.db"
    store = open_store(database)
    urls = [f"https://www.airbnb.com/calendar/ical/{n}.ics?s=bench" for n in range(calendars)]
    ids = seed.add_calendars(store, urls)
    now = datetime.now(UTC)
    _problems(store, ids, now)
    product_id = _timeline(store, ids[:3], now)
    _feed_reads(store, ids, now)
    Users(store).add("bench", PASSWORD)
    store.engine.dispose()
    dashboard: dict[str, list[float]] = {"p50": [], "p95": []}
    product: dict[str, list[float]] = {"p50": [], "p95": []}
    with Daemon(database, DAEMON_SETTINGS) as daemon, httpx.Client(base_url=daemon.url) as client:
        _log_in(client)
        first = _timed(client, "/")
        for _ in range(options.runs):
            for path, figures in (("/", dashboard), (f"/products/{product_id}", product)):
                for _ in range(WARM_UP):
                    _timed(client, path)
                times = [_timed(client, path) for _ in range(requests)]
                figures["p50"].append(statistics.median(times))
                figures["p95"].append(statistics.quantiles(times, n=20, method="inclusive")[-1])
    label = f"web UI, {calendars:,} calendars".replace(",", " ")
    return [
        Figure(label, "dashboard GET /, p50", "ms", dashboard["p50"], TARGET_MS),
        Figure(label, "dashboard GET /, p95", "ms", dashboard["p95"], TARGET_MS),
        Figure(label, "dashboard, first request (cold caches)", "ms", [first]),
        Figure(label, "product timeline, p50", "ms", product["p50"], TARGET_MS),
        Figure(label, "product timeline, p95", "ms", product["p95"], TARGET_MS),
    ]


def _log_in(client: httpx.Client) -> None:
    form = client.get("/login").text
    token = re.search(r'name="csrftoken" value="([^"]+)"', form)
    assert token is not None
    answer = client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrftoken": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    assert client.cookies.get("calsync_session")


def _timed(client: httpx.Client, path: str) -> float:
    """Milliseconds from request to the answer's last byte."""
    started = time.perf_counter()
    answer = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status_code == 200, (path, answer.status_code)
    return elapsed


def _problems(store: Store, ids: list[uuid.UUID], now: datetime) -> None:
    """2 % failing (with 3 failed runs each), 1 % held, 3 % stale, 1 % inactive; the rest ok."""
    with store.write() as session:
        session.execute(update(ExternalCalendar).values(last_synced=now - timedelta(minutes=7)))
        failing = ids[5::50]
        for calendar_id in failing:
            session.execute(
                update(ExternalCalendar)
                .where(ExternalCalendar.id == calendar_id)
                .values(failure_count=3, error="HTTP 503 (retry after 600 s)",
                        last_synced=now - timedelta(hours=5))
            )  # fmt: skip
        runs = [
            {"id": uuid.uuid4(), "external_calendar_id": calendar_id,
             "started_at": now - timedelta(hours=hours),
             "finished_at": now - timedelta(hours=hours),
             "outcome": "failed", "http_status": 503, "created_at": now, "updated_at": now}
            for calendar_id in failing for hours in (4, 2, 1)
        ]  # fmt: skip
        session.execute(insert(SyncRun), runs)
        for selected, values in (
            (ids[7::100], {"held_since": now, "error": "3 deletions held"}),
            (ids[11::33], {"last_synced": now - timedelta(days=2)}),
            (ids[13::100], {"active": False}),
        ):
            session.execute(
                update(ExternalCalendar).where(ExternalCalendar.id.in_(selected)).values(**values)
            )


def _timeline(store: Store, calendar_ids: list[uuid.UUID], now: datetime) -> uuid.UUID:
    """60 stays on each of the first product's three calendars, two of them overlapping."""
    with store.read() as session:
        first = session.get(ExternalCalendar, calendar_ids[0])
        assert first is not None
        product_id = first.product_id
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    rows = [
        {"id": uuid.uuid4(), "product_id": product_id, "external_calendar_id": calendar_id,
         "source_key": f"stay-{n}", "starts_at": start + timedelta(days=6 * n + offset),
         "ends_at": start + timedelta(days=6 * n + offset + 2), "all_day": True,
         "summary": "Reserved", "units": 1, "status": "confirmed", "created_at": now,
         "updated_at": now}
        for offset, calendar_id in enumerate(calendar_ids) for n in range(60)
    ]  # fmt: skip
    rows[1]["starts_at"] = rows[0]["starts_at"]  # a double booking
    with store.write() as session:
        session.execute(insert(Booking), rows)
    return product_id


def _feed_reads(store: Store, ids: list[uuid.UUID], now: datetime) -> None:
    """A day of reads: each calendar's channel reads its export URL every 2 hours."""
    with store.read() as session:
        owners = dict(
            session.execute(select(ExternalCalendar.id, ExternalCalendar.product_id)).all()
        )
    rows = [
        {"id": uuid.uuid4(), "product_id": owners[calendar_id], "external_calendar_id": calendar_id,
         "read_at": now - timedelta(hours=hours), "user_agent": "Airbnb/1.0", "channel": "airbnb",
         "status": "success", "created_at": now, "updated_at": now}
        for calendar_id in ids for hours in range(0, 24, 2)
    ]  # fmt: skip
    with store.write() as session:
        for start in range(0, len(rows), 20_000):
            session.execute(insert(ProductCalendarLog), rows[start : start + 20_000])
