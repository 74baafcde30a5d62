"""Direct bookings of one connected group at the same moment: exactly one wins each night.

Writes to a group are serialized (:func:`calsync.store.stored_products.lock_groups`): on
PostgreSQL by locks, on SQLite by its one writer at a time. A link made or removed
at the same time takes part, so no booking is checked against links that are
about to change; a bulk POST locks all its groups at once, so two never deadlock.
Real HTTP (uvicorn on 127.0.0.1) where requests race, the bookings resource in
transactions held open where the order matters.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from appserver import serve_in_thread
from calsync.errors import Conflict
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.services import bookings
from calsync.services.context import WriteContext
from calsync.services.keys import create_api_key
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import Booking
from calsync.web.app import create_app
from conftest import NOW, TEST_CAUSE, link_products, make_settings, postgres_schema_url
from daemon_process import wait_until

NIGHTS = 8
FIRST_NIGHT = datetime(2026, 12, 1, tzinfo=UTC)


def night(n: int) -> tuple[str, str]:
    """Night ``n`` from :data:`FIRST_NIGHT` as an all-day booking's (starts_at, ends_at)."""
    start = FIRST_NIGHT + timedelta(days=n)
    return start.date().isoformat(), (start + timedelta(days=1)).date().isoformat()


def house_and_room(store: Store) -> tuple[uuid.UUID, uuid.UUID]:
    """A house of capacity 1 with its one room linked as an element."""
    with store.write() as session:
        house = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
        room = stored_products.add_product(
            session, name="Room", timezone="UTC", capacity=1, now=NOW
        )
        link_products(session, house.id, room.id, now=NOW)
        return house.id, room.id


@pytest.fixture
def api(store, settings, clock) -> Iterator[dict[str, Any]]:
    """The API on a real 127.0.0.1 socket: the httpx.Client arguments that reach it with a key."""
    with store.write() as session:
        _, key = create_api_key(session, name="tests", now=NOW)
    app = create_app(
        store=store,
        metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store),
        settings=settings,
        clock=clock,
    )
    base_url, stop = serve_in_thread(app)
    try:
        yield {"base_url": base_url, "headers": {"Authorization": f"Bearer {key}"}, "timeout": 60}
    finally:
        stop()


def test_three_requests_for_a_house_and_three_for_its_room_leave_one_booking_a_night(store, api):
    """Six threads book a house or its room on the same night at the same moment, 8 nights: one wins each."""
    house, room = house_and_room(store)
    start = threading.Barrier(6, timeout=60)
    statuses: defaultdict[int, list[int]] = defaultdict(list)
    errors: list[BaseException] = []

    def book(product_id: uuid.UUID) -> None:
        try:
            with httpx.Client(**api) as http:
                for n in range(NIGHTS):
                    starts_at, ends_at = night(n)
                    start.wait()
                    answer = http.post(
                        "/v1/bookings",
                        json={"product_id": str(product_id), "starts_at": starts_at,
                              "ends_at": ends_at, "all_day": True},
                    )  # fmt: skip
                    statuses[n].append(answer.status_code)
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=book, args=(p,)) for p in (house, room) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [] == errors
    assert {n: [201, 409, 409, 409, 409, 409] for n in range(NIGHTS)} == {
        n: sorted(found) for n, found in statuses.items()
    }
    with store.read() as session:
        starts = session.scalars(select(Booking.starts_at)).all()
    assert sorted(FIRST_NIGHT + timedelta(days=n) for n in range(NIGHTS)) == sorted(starts)


def test_bulk_posts_over_two_groups_in_opposite_orders_never_deadlock(store, api):
    """Six threads POST [A, B] or [B, A] for the same night at once, 8 nights: one wins, no 503."""
    with store.write() as session:
        a, b = (
            stored_products.add_product(session, name=name, timezone="UTC", capacity=1, now=NOW).id
            for name in ("A", "B")
        )
    start = threading.Barrier(6, timeout=60)
    answers: list[tuple[int, str]] = []

    def book(order: tuple[uuid.UUID, uuid.UUID]) -> None:
        with httpx.Client(**api) as http:
            for n in range(NIGHTS):
                starts_at, ends_at = night(n)
                start.wait()
                answer = http.post(
                    "/v1/bookings",
                    json=[{"product_id": str(p), "starts_at": starts_at, "ends_at": ends_at,
                           "all_day": True} for p in order],
                )  # fmt: skip
                answers.append((answer.status_code, answer.text[:200]))

    threads = [threading.Thread(target=book, args=(order,)) for order in ((a, b), (b, a)) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [] == [answer for answer in answers if answer[0] not in {201, 409}]
    assert NIGHTS == sum(1 for status, _ in answers if status == 201)


# --- links made at the same time (PostgreSQL: on SQLite one writer at a time) --------------


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A migrated store on a private schema of the test PostgreSQL."""
    for url in postgres_schema_url():
        store = Store.connect(make_settings(url).database)
        store.upgrade()
        try:
            yield store
        finally:
            store.close()


def _waits_for_a_lock(store: Store, backend_pid: int) -> bool:
    """Whether the PostgreSQL backend with this pid is waiting for a lock now."""
    with store.read() as session:
        query = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        return "Lock" == str(session.scalar(query, {"pid": backend_pid}))


class _InAnotherTransaction:
    """Runs ``work(session)`` in a write transaction of its own, in a thread; notes how it ended."""

    def __init__(self, store: Store, work: Callable[[Session], object]) -> None:
        self.backend_pid = 0
        self.outcome: str | BaseException = "running"
        self._store = store
        self._work = work
        self._began = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        assert self._began.wait(30)

    def _run(self) -> None:
        try:
            with self._store.write() as session:
                self.backend_pid = int(session.scalar(text("SELECT pg_backend_pid()")) or 0)
                self._began.set()
                self._work(session)
            self.outcome = "committed"
        except Conflict:
            self.outcome = "409"
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.outcome = exc
        finally:
            self._began.set()

    def waits(self, store: Store) -> bool:
        """Poll (bounded) until it waits for a lock (True) or has ended (False)."""
        return bool(
            wait_until(
                lambda: (
                    "ended"
                    if not self._thread.is_alive()
                    else _waits_for_a_lock(store, self.backend_pid)
                ),
                timeout=20,
            )
            and self._thread.is_alive()
        )

    def join(self) -> str | BaseException:
        """Wait for it to end; how it ended."""
        self._thread.join(timeout=60)
        return self.outcome


def _book(product_id: uuid.UUID) -> Callable[[Session], None]:
    """A direct booking of night 0 on the product, through the bookings service."""
    starts_at, ends_at = night(0)

    def work(session: Session) -> None:
        new = bookings.NewBooking(
            product_id,
            datetime.fromisoformat(starts_at).replace(tzinfo=UTC),
            datetime.fromisoformat(ends_at).replace(tzinfo=UTC),
            all_day=True,
        )
        bookings.add(session, WriteContext(now=NOW, cause=TEST_CAUSE), [new])

    return work


def _building(store: Store) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A house (capacity 1, booked on night 0) and a wing (capacity 2) of one room, not yet linked."""
    with store.write() as session:
        house, wing, room = (
            stored_products.add_product(
                session, name=name, timezone="UTC", capacity=capacity, now=NOW
            ).id
            for name, capacity in (("House", 1), ("Wing", 2), ("Room", 1))
        )
        link_products(session, wing, room, now=NOW)
    with store.write() as session:
        _book(house)(session)
    return house, wing, room


@pytest.mark.postgres
def test_a_booking_waits_for_a_link_being_made_and_then_counts_it(pg_store):
    """While the house→wing link is made, a booking of the wing's room waits, then is 409.

    The link touches neither the room's row nor its bookings: only the group's lock
    stops the room from being checked against the links as they were.
    """
    house, wing, room = _building(pg_store)
    with pg_store.write() as session:
        link_products(session, house, wing, now=NOW)
        session.flush()
        booking = _InAnotherTransaction(pg_store, _book(room))
        assert booking.waits(pg_store), f"the room booking did not wait: {booking.outcome}"
    assert "409" == booking.join()


@pytest.mark.postgres
def test_a_link_waits_for_a_booking_being_made(pg_store):
    """A room booking checked but not committed: linking its wing to the house waits until it commits.

    So the link lands after the booking, as if one ran after the other: the
    conflict it makes is reported, and no booking checked against the old links
    can commit after the new ones.
    """
    from calsync import reports

    house, wing, room = _building(pg_store)
    with pg_store.write() as session:
        _book(room)(session)
        link = _InAnotherTransaction(
            pg_store, lambda other: link_products(other, house, wing, now=NOW)
        )
        assert link.waits(pg_store), f"the link did not wait: {link.outcome}"
    assert "committed" == link.join()
    with pg_store.read() as session:
        found = reports.conflicts(session, now=NOW)
    assert {(str(p), night(0)[0]) for p in (house, wing, room)} == {
        (c["product_id"], c["from"]) for c in found
    }
