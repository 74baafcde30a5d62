"""The store on SQLite and PostgreSQL: aware UTC times, locking, migrations."""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from calsync.errors import StoreError
from calsync.store import calendars as stored_calendars
from calsync.store import history
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar, Product, SyncRun
from conftest import NOW, add_calendar, make_settings, request_sync


def test_timestamps_come_back_aware_utc(store):
    """A time written in +05:30 is read back as the same instant, aware, in UTC."""
    written = datetime(2026, 12, 1, 20, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    with store.write() as session:
        product_id = stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=written
        ).id
    with store.read() as session:
        read = stored_products.get_product(session, product_id).created_at
    assert read == written
    assert read.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store):
    """Writing a naive datetime is a StoreError, never a silent guess."""
    with pytest.raises(StoreError, match="naive datetime"), store.write() as session:
        stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=datetime(2026, 12, 1)
        )


def test_upgrade_twice_is_harmless(store):
    """Migrating an up-to-date database changes nothing."""
    store.upgrade()
    with store.read() as session:
        assert session.scalars(select(Product)).all() == []


def test_migrations_make_the_schema_the_models_describe(store):
    """Every table, column and index of the models exists after the migrations, and no other."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from calsync.store.models import Base

    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_api_list_order_is_served_by_an_index(tmp_path):
    """A page in the API's default order (created_at, id) reads an index, not a sort of the table.

    Read with SQLite's EXPLAIN QUERY PLAN; the same indexes exist on PostgreSQL
    (the test above).
    """
    from sqlalchemy import text

    store = Store.connect(make_settings(f"sqlite:///{tmp_path / 'plan.db'}").database)
    store.upgrade()
    with store.engine.connect() as connection:
        for table in ("products", "external_calendars", "bookings", "sync_runs"):
            plan = connection.execute(
                text(f"EXPLAIN QUERY PLAN SELECT * FROM {table} ORDER BY created_at, id LIMIT 20")
            ).all()
            assert [row[-1] for row in plan] == [
                f"SCAN {table} USING INDEX ix_{table}_created_at_id"
            ]
    store.close()


def test_sqlite_read_then_write_transactions_wait_instead_of_failing(tmp_path):
    """Regression guard: with BEGIN IMMEDIATE two read-then-write transactions both commit.

    With a deferred BEGIN both would read, and the second writer would fail at once
    with 'database is locked' despite the busy timeout. (PostgreSQL needs no such
    thing: there one calendar's syncs are serialised by its lease.)
    """
    store = Store.connect(make_settings(f"sqlite:///{tmp_path / 'lock.db'}").database)
    store.upgrade()
    with store.write() as session:
        product_id = stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=NOW
        ).id
    # With IMMEDIATE the second writer cannot read before the first commits, so the
    # barrier is left after its timeout; without it, both read before either writes.
    both_read = threading.Barrier(2, timeout=1)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with store.write() as session:
                product = stored_products.get_product(session, product_id)
                capacity = product.capacity
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_read.wait()
                product.capacity = capacity + 1
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with store.read() as session:
        assert stored_products.get_product(session, product_id).capacity == 3
    store.close()


def test_database_errors_do_not_show_feed_urls(store):
    """A failed insert's StoreError names the problem without the statement's parameters."""
    feed_url = "https://www.airbnb.com/calendar/ical/1.ics?s=very-secret-token"
    with pytest.raises(StoreError) as raised, store.write() as session:
        session.add(
            ExternalCalendar(product_id=uuid.uuid4(), name="x", ical_url=feed_url, tld="airbnb.com")
        )
    assert "very-secret-token" not in str(raised.value)


def test_old_sync_runs_are_pruned(store):
    """prune_sync_runs deletes runs started before the cut-off, and only those."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=NOW
        )
        cal = add_calendar(
            session,
            product_id=product.id,
            name="c",
            ical_url="https://example.com/a.ics",
            time_offset=0,
            active=True,
            now=NOW,
        )
        for days in (40, 31, 5):
            started = NOW - timedelta(days=days)
            session.add(
                SyncRun(
                    external_calendar_id=cal.id,
                    started_at=started,
                    finished_at=started,
                    outcome="unchanged",
                )
            )
    with store.write() as session:
        assert history.prune_sync_runs(session, before=NOW - timedelta(days=30)) == 2
    with store.read() as session:
        assert [r.started_at for r in history.recent_runs(session, cal.id)] == [
            NOW - timedelta(days=5)
        ]


def test_claims_respect_the_per_host_limit_and_put_requests_first(store):
    """claim_due leases at most max_per_host per feed host, manual requests first, each once."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="p", timezone="UTC", capacity=1, now=NOW
        )
        ids = [
            add_calendar(
                session,
                product_id=product.id,
                name=str(n),
                ical_url=f"https://{host}/{n}.ics",
                time_offset=0,
                active=True,
                now=NOW,
            ).id
            for n, host in enumerate(["a.example", "a.example", "a.example", "b.example"])
        ]
        request_sync(session, ids[2], now=NOW)
    lease = NOW + timedelta(minutes=2)
    with store.write() as session:
        first = stored_calendars.claim_due(
            session, owner="r1", now=NOW, lease_until=lease, limit=10, host_load={}, max_per_host=2
        )
    assert first[0].calendar_id == ids[2]
    assert sorted(c.host for c in first) == ["a.example", "a.example", "b.example"]
    with store.write() as session:
        again = stored_calendars.claim_due(
            session, owner="r2", now=NOW, lease_until=lease, limit=10, host_load={}, max_per_host=2
        )
    assert [c.calendar_id for c in again] == [
        next(i for i in ids if i not in {c.calendar_id for c in first})
    ]
