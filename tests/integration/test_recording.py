"""Batched recording: many finished syncs in one transaction, each with its own outcome."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from calsync.fetch import FeedFetcher
from calsync.store import calendars as stored_calendars
from calsync.store import products as stored_products
from calsync.store.models import Booking, SyncRun
from calsync.sync import Syncer, SyncResult
from calsync.sync.record import FinishedSync, SyncRecorder, record_syncs
from conftest import NOW, add_calendar, calendar, remove_calendar

OWNER = "replica-a"


def stay(uid: str, start: str, end: str) -> str:
    return f"UID:{uid}\nDTSTART;VALUE=DATE:{start}\nDTEND;VALUE=DATE:{end}\nSUMMARY:Reserved"


@pytest.fixture
def calendars(store, feed_server):
    """Three calendars of one product, each with a one-stay feed, leased to OWNER."""
    ids = []
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Beach house", timezone="Europe/Amsterdam", capacity=3, now=NOW
        )
        for number in range(3):
            path = f"/feed{number}.ics"
            feed_server.serve(path, calendar(stay(f"u{number}", "20261201", "20261205")))
            cal = add_calendar(
                session, product_id=product.id, name=f"feed {number}",
                ical_url=feed_server.url(path), time_offset=0, active=True, now=NOW,
            )  # fmt: skip
            assert stored_calendars.claim_calendar(
                session, cal.id, owner=OWNER, now=NOW, lease_until=NOW + timedelta(minutes=2)
            )
            ids.append(cal.id)
    return ids


def fetched(store, settings, clock, ids) -> list[FinishedSync]:
    """Fetch and parse each calendar, keeping what would be recorded instead of writing it."""
    finished: list[FinishedSync] = []

    async def go() -> None:
        async with FeedFetcher(settings.fetch) as fetcher:
            syncer = Syncer(store, settings, fetcher, owner=OWNER, parse=_parse_here, clock=clock)
            finished.extend([await syncer.fetch(await syncer.job(i)) for i in ids])

    asyncio.run(go())
    return finished


async def _parse_here(body, options):
    from calsync.core.ical_in import parse_feed

    return parse_feed(body, options)


def count(store, model, calendar_id) -> int:
    column = model.external_calendar_id
    with store.read() as session:
        return int(session.scalar(select(func.count()).where(column == calendar_id)))


def test_a_batch_writes_every_sync_with_its_own_result(store, settings, clock, calendars):
    results = record_syncs(store, fetched(store, settings, clock, calendars))

    assert [(r.calendar_id, r.outcome, r.inserted) for r in results] == [
        (ident, "changed", 1) for ident in calendars
    ]
    for ident in calendars:
        assert (count(store, Booking, ident), count(store, SyncRun, ident)) == (1, 1)
        with store.read() as session:
            assert stored_calendars.get_calendar(session, ident).lease_owner is None


def test_a_lost_lease_costs_only_that_sync(store, settings, clock, calendars):
    finished = fetched(store, settings, clock, calendars)
    with store.write() as session:
        stored_calendars.get_calendar(session, calendars[1]).lease_owner = "replica-b"

    results = record_syncs(store, finished)

    assert [r.outcome for r in results] == ["changed", "failed", "changed"]
    assert results[1].unwritten
    assert "nothing written" in (results[1].error or "")
    assert (count(store, Booking, calendars[1]), count(store, SyncRun, calendars[1])) == (0, 0)
    assert count(store, SyncRun, calendars[2]) == 1


def test_a_batch_the_database_refuses_is_written_one_sync_at_a_time(
    store, settings, clock, calendars
):
    """A calendar deleted while it was fetched fails the batch; the others are still written."""
    finished = fetched(store, settings, clock, calendars)
    with store.write() as session:
        remove_calendar(session, calendars[0])

    results = record_syncs(store, finished)

    assert [r.outcome for r in results] == ["failed", "changed", "changed"]
    assert results[0].unwritten
    assert count(store, SyncRun, calendars[1]) == count(store, SyncRun, calendars[2]) == 1


def test_issue_truth_6_an_apply_that_raises_costs_only_that_sync(
    store, settings, clock, calendars, monkeypatch
):
    """A bug raising in one calendar's plan (not a CalsyncError): the others keep their results.

    The broken one is recorded as its own failure: error, failed run, backoff.
    """
    from calsync.core.diff import plan_sync

    finished = fetched(store, settings, clock, calendars)

    def plan_that_breaks_on_u1(existing, blocks, **options):
        if any(block.key == "u1" for block in blocks):
            raise IndexError("list index out of range")
        return plan_sync(existing, blocks, **options)

    monkeypatch.setattr("calsync.sync.record.plan_sync", plan_that_breaks_on_u1)
    results = record_syncs(store, finished)

    assert [r.outcome for r in results] == ["changed", "failed", "changed"]
    assert "internal error: IndexError" in (results[1].error or "")
    assert [count(store, Booking, ident) for ident in calendars] == [1, 0, 1]
    assert [count(store, SyncRun, ident) for ident in calendars] == [1, 1, 1]
    with store.read() as session:
        broken = stored_calendars.get_calendar(session, calendars[1])
        assert (broken.failure_count, broken.lease_owner) == (1, None)
        assert "IndexError" in (broken.error or "")


def test_the_recorder_answers_each_sync_and_drops_a_cancelled_one(
    store, settings, clock, calendars
):
    first, second, third = fetched(store, settings, clock, calendars)

    async def go() -> list[SyncResult]:
        recorder = SyncRecorder(store)
        written = asyncio.create_task(recorder.record(first))
        await asyncio.sleep(0)  # first waits, the writer is created
        await asyncio.sleep(0)  # the writer takes [first] and starts writing it
        cancelled = asyncio.create_task(recorder.record(second))
        together = asyncio.create_task(recorder.record(third))
        await asyncio.sleep(0)  # second and third wait for the next batch
        cancelled.cancel()
        results = [await written, await together]
        await recorder.close()
        assert cancelled.cancelled()
        return results

    results = asyncio.run(go())

    assert [r.calendar_id for r in results] == [calendars[0], calendars[2]]
    assert [count(store, SyncRun, ident) for ident in calendars] == [1, 0, 1]


def test_renewing_leases_skips_those_another_owner_took(store, calendars):
    with store.write() as session:
        stored_calendars.get_calendar(session, calendars[1]).lease_owner = "replica-b"
    later = NOW + timedelta(minutes=10)

    with store.write() as session:
        held = stored_calendars.renew_leases(session, calendars, owner=OWNER, lease_until=later)

    assert held == {calendars[0], calendars[2]}
    with store.read() as session:
        expiries = [
            stored_calendars.get_calendar(session, ident).lease_expires_at for ident in calendars
        ]
    assert expiries[0] == expiries[2] == later
    assert expiries[1] != later


def test_the_dispatcher_reads_its_gauges_at_most_once_a_second(store, settings, clock):
    """A dispatcher woken many times a second counts due calendars once a second, not each time."""
    from calsync.metrics import Metrics
    from calsync.parsing import ParsePool
    from calsync.scheduler import Dispatcher

    def add_due_calendar(session, name: str) -> None:
        product = stored_products.add_product(
            session, name=name, timezone="UTC", capacity=1, now=NOW
        )
        add_calendar(
            session, product_id=product.id, name=name, ical_url=f"http://127.0.0.1:9/{name}",
            time_offset=0, active=True, now=NOW,
        )  # fmt: skip

    with store.write() as session:
        add_due_calendar(session, "one")
    metrics = Metrics()
    parse_pool = ParsePool(1)  # no worker starts: nothing is parsed
    dispatcher = Dispatcher(
        store=store, settings=settings, fetcher=FeedFetcher(settings.fetch),
        parse_pool=parse_pool, owner=OWNER, metrics=metrics, clock=clock,
    )  # fmt: skip

    def due_after_a_tick() -> float:
        asyncio.run(dispatcher.tick())
        return float(metrics.calendars_due._value.get())

    assert due_after_a_tick() == 1
    with store.write() as session:
        add_due_calendar(session, "two")
    clock.now += timedelta(milliseconds=500)
    assert due_after_a_tick() == 1, "read again within the second"
    clock.now += timedelta(milliseconds=500)
    assert due_after_a_tick() == 2
    parse_pool.close()


def test_unchanged_feeds_write_their_status_whether_the_calendar_was_fine_or_failing(
    store, settings, clock, calendars
):
    """A batch of unchanged feeds: each calendar's status, request and lease end as a sync's do.

    Calendar 0 was fine, 1 was failing (recorded through the ORM: its error is cleared),
    2 had a manual request made before the sync.
    """
    record_syncs(store, fetched(store, settings, clock, calendars))
    with store.write() as session:
        for ident in calendars:
            assert stored_calendars.claim_calendar(
                session, ident, owner=OWNER, now=NOW, lease_until=NOW + timedelta(minutes=2)
            )
        failing = stored_calendars.get_calendar(session, calendars[1])
        failing.failure_count, failing.error = 2, "HTTP 500"
        requested = stored_calendars.get_calendar(session, calendars[2])
        requested.sync_requested_at = NOW - timedelta(minutes=1)

    results = record_syncs(store, fetched(store, settings, clock, calendars))

    assert [result.outcome for result in results] == ["unchanged"] * 3
    with store.read() as session:
        rows = [stored_calendars.get_calendar(session, ident) for ident in calendars]
        assert [(c.failure_count, c.error, c.lease_owner, c.sync_requested_at) for c in rows] == [
            (0, None, None, None)
        ] * 3
        assert all(c.last_synced == NOW and (c.next_sync_at or NOW) > NOW for c in rows)
        assert all(c.content_digest is not None for c in rows)
    assert [count(store, SyncRun, ident) for ident in calendars] == [2, 2, 2]
