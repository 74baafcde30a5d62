"""The dispatcher against the feed server and a real store: host pauses and leases of dead processes.

Each scenario runs in one event loop with the injected clock; waits poll the
store with a bound.
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

import conftest
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.parsing import ParsePool
from calsync.scheduler import Dispatcher
from calsync.store import calendars as stored_calendars
from calsync.store import products as stored_products
from calsync.store.models import SyncRun
from conftest import NOW, calendar, dead_pid, request_sync

OWNER = "replica-a"
STAY = "UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205\nSUMMARY:Reserved"


@pytest.fixture
def add_calendar(store, feed_server):
    """Add a calendar of a new product fetching ``path`` on the feed server; return its id."""

    def add(path: str, **status: object):
        with store.write() as session:
            product = stored_products.add_product(
                session, name=path, timezone="UTC", capacity=1, now=NOW
            )
            cal = conftest.add_calendar(
                session, product_id=product.id, name=path, ical_url=feed_server.url(path),
                time_offset=0, active=True, now=NOW,
            )  # fmt: skip
            for name, value in status.items():
                setattr(cal, name, value)
            return cal.id

    return add


def sync_runs(store, calendar_id) -> int:
    with store.read() as session:
        query = select(func.count()).where(SyncRun.external_calendar_id == calendar_id)
        return int(session.scalar(query) or 0)


def lease_owner(store, calendar_id) -> str | None:
    with store.read() as session:
        return stored_calendars.get_calendar(session, calendar_id).lease_owner


async def until(condition, seconds: float = 10.0) -> None:
    """Poll ``condition`` until it holds, at most ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the store has no event to wait on
            await asyncio.sleep(0.02)


def run_dispatcher(store, settings, clock, scenario) -> None:
    """Run ``scenario(dispatcher)`` in one event loop, then shut the dispatcher down.

    The scheduler is never started: the scenario calls ``tick`` itself.
    """

    async def go() -> None:
        parse_pool = ParsePool(1)
        try:
            async with FeedFetcher(settings.fetch) as fetcher:
                dispatcher = Dispatcher(
                    store=store, settings=settings, fetcher=fetcher, parse_pool=parse_pool,
                    owner=OWNER, metrics=Metrics(), clock=clock,
                )  # fmt: skip
                dispatcher.start(AsyncIOScheduler(timezone="UTC"))  # claims; ticks are ours
                try:
                    await scenario(dispatcher)
                finally:
                    await dispatcher.shutdown(grace_seconds=5)
        finally:
            parse_pool.close()

    asyncio.run(go())


def test_issue_reliability_4_retry_after_pauses_every_calendar_of_the_host(
    store, settings, feed_server, clock, add_calendar
):
    """A 429 with Retry-After: 60 on one feed: no feed of that host is fetched for 60 s, manual or not."""
    feed_server.serve("/limited.ics", b"", status=429, headers={"Retry-After": "60"})
    feed_server.serve("/other.ics", calendar(STAY))
    limited = add_calendar("/limited.ics")
    other = add_calendar("/other.ics", next_sync_at=NOW + timedelta(seconds=10))

    async def scenario(dispatcher: Dispatcher) -> None:
        await dispatcher.tick()
        await until(lambda: sync_runs(store, limited) == 1)
        clock.now = NOW + timedelta(seconds=30)
        with store.write() as session:
            request_sync(session, other, now=clock.now)
        await dispatcher.tick()
        assert lease_owner(store, other) is None
        assert feed_server.hits("/other.ics") == 0
        clock.now = NOW + timedelta(seconds=61)
        feed_server.serve("/limited.ics", calendar(STAY))
        await dispatcher.tick()
        await until(lambda: sync_runs(store, other) == 1)

    run_dispatcher(store, settings, clock, scenario)
    assert feed_server.hits("/other.ics") == 1


def test_issue_reliability_5_a_lease_of_a_dead_process_is_claimed_at_once(
    store, settings, feed_server, clock, add_calendar
):
    """A lease of this host's pid that has exited, valid for a day: the next tick syncs it."""
    feed_server.serve("/feed.ics", calendar(STAY))
    calendar_id = add_calendar(
        "/feed.ics",
        lease_owner=f"{socket.gethostname()}:{dead_pid()}:abc123",
        lease_expires_at=NOW + timedelta(days=1),
    )

    async def scenario(dispatcher: Dispatcher) -> None:
        await dispatcher.tick()
        await until(lambda: sync_runs(store, calendar_id) == 1)

    run_dispatcher(store, settings, clock, scenario)
    assert feed_server.hits("/feed.ics") == 1
    assert lease_owner(store, calendar_id) is None


def test_a_lease_of_a_live_process_is_left_until_it_expires(
    store, settings, feed_server, clock, add_calendar
):
    """A valid lease of a live process of this host is not taken over."""
    feed_server.serve("/feed.ics", calendar(STAY))
    holder = f"{socket.gethostname()}:{os.getppid()}:abc123"
    calendar_id = add_calendar(
        "/feed.ics", lease_owner=holder, lease_expires_at=NOW + timedelta(days=1)
    )

    async def scenario(dispatcher: Dispatcher) -> None:
        await dispatcher.tick()

    run_dispatcher(store, settings, clock, scenario)
    assert lease_owner(store, calendar_id) == holder
    assert feed_server.hits("/feed.ics") == 0
