"""Replicas hear of manual sync requests through PostgreSQL LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
import structlog.testing

import conftest
from calsync.daemon import listen_for_requests
from calsync.store import calendars as stored_calendars
from calsync.store import products as stored_products
from conftest import NOW, request_sync


def add_calendar(store) -> uuid.UUID:
    with store.write() as session:
        product = stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=NOW
        )
        return conftest.add_calendar(
            session, product_id=product.id, name="c", ical_url="https://example.com/a.ics",
            time_offset=0, active=True, now=NOW,
        ).id  # fmt: skip


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_sync_request_on_one_replica_wakes_the_others(store, database_url):
    """A committed sync_requested_at (API, CLI) reaches a listening replica as a wake-up."""
    calendar_id = add_calendar(store)

    async def scenario() -> None:
        woken = asyncio.Event()
        with structlog.testing.capture_logs() as logs:
            listener = asyncio.create_task(listen_for_requests(database_url, woken.set))
            try:
                async with asyncio.timeout(10):  # a request before LISTEN would be missed
                    while not any(e["event"] == "wakeup.listening" for e in logs):  # noqa: ASYNC110 - polls a log list
                        await asyncio.sleep(0.01)
                with store.write() as session:
                    request_sync(session, calendar_id, now=NOW)
                async with asyncio.timeout(10):
                    await woken.wait()
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_sends_no_notifications(store):
    """On SQLite a request is a plain write (the one process wakes itself)."""
    calendar_id = add_calendar(store)
    with store.write() as session:
        request_sync(session, calendar_id, now=NOW)
    with store.read() as session:
        assert stored_calendars.get_calendar(session, calendar_id).sync_requested_at == NOW
