"""Webhooks from ``calsync run`` as a subprocess: at-least-once across a kill -9, and across replicas.

The outbox is written in the sync's transaction; the daemon delivers it. A
daemon killed while a delivery is in flight leaves the message leased to a dead
process: the next daemon on this host takes it over at once and sends it again
with the same ``webhook-id``. No test sleeps: every wait polls with a bound.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from calsync.clock import utc_now
from calsync.services import webhooks
from calsync.services.context import WriteContext
from calsync.store import products as stored_products
from calsync.store.models import Event, WebhookMessage
from conftest import TEST_CAUSE, add_calendar, calendar, postgres_schema_url
from daemon_process import DaemonProcess, open_store, wait_until
from feedserver import FeedServer
from receivers import WebhookReceiver

FAST = {
    "CALSYNC_SYNC__TICK_SECONDS": "0.2",
    "CALSYNC_SYNC__MAX_PER_HOST": "50",
    "CALSYNC_ALERTS__DELIVERY_TICK_SECONDS": "0.2",
    "CALSYNC_ALERTS__RETRY_FIRST_SECONDS": "0.2",
}


def stays(n: int) -> bytes:
    first = datetime.now(UTC).date() + timedelta(days=10 + n % 7)
    return calendar(*(
        f"UID:{k}@cal{n}\nDTSTART;VALUE=DATE:{start:%Y%m%d}\n"
        f"DTEND;VALUE=DATE:{start + timedelta(days=3):%Y%m%d}\nSUMMARY:Reserved"
        for k, start in enumerate([first, first + timedelta(days=7)])
    ))  # fmt: skip


class World:
    """A migrated database with one product and one webhook endpoint, and daemons on it."""

    def __init__(self, url: str, feeds: FeedServer, receiver: WebhookReceiver) -> None:
        self.url = url
        self.feeds = feeds
        self.store = open_store(url)
        self.store.upgrade()
        with self.store.write() as session:
            self.product_id = stored_products.add_product(
                session, name="House", timezone="UTC", capacity=1, now=utc_now()
            ).id
            endpoint = webhooks.add(
                session, WriteContext(now=utc_now(), cause=TEST_CAUSE), url=receiver.url,
                events=["booking.created"],
            )  # fmt: skip
            receiver.secret = endpoint.secret
        self.daemons: list[DaemonProcess] = []

    def start(self) -> DaemonProcess:
        daemon = DaemonProcess(self.url, FAST)
        self.daemons.append(daemon)
        return daemon

    def add_calendars(self, count: int) -> None:
        with self.store.write() as session:
            for n in range(count):
                self.feeds.serve(f"/c{n}.ics", stays(n))
                add_calendar(
                    session, product_id=self.product_id, name=f"c{n}",
                    ical_url=self.feeds.url(f"/c{n}.ics"), now=utc_now(),
                )  # fmt: skip

    def event_ids(self) -> set[str]:
        """The booking.created events written (overlapping stays are conflicts too: other events)."""
        with self.store.read() as session:
            query = select(Event.id).where(Event.type == "booking.created")
            return {str(event_id) for event_id in session.scalars(query)}

    def undelivered(self) -> int:
        with self.store.read() as session:
            query = select(WebhookMessage).where(WebhookMessage.state == "pending")
            return len(session.scalars(query).all())

    def close(self) -> None:
        for daemon in self.daemons:
            daemon.stop()
        self.store.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def world(database_url: str, feed_server: FeedServer, receiver: WebhookReceiver) -> Iterator[World]:
    made = World(database_url, feed_server, receiver)
    yield made
    made.close()


def test_kill_9_between_commit_and_delivery_redelivers_with_the_same_id(
    world: World, receiver: WebhookReceiver
) -> None:
    """The daemon dies (SIGKILL) while its delivery is in flight: the next daemon sends it again, same webhook-id."""
    hold = threading.Event()
    receiver.hold = hold
    first = world.start()
    world.add_calendars(1)
    assert wait_until(lambda: len(receiver.received) >= 1, timeout=30), "no delivery started"
    first.stop()  # SIGKILL: the message stays leased to a process that is gone
    receiver.hold = None
    hold.set()
    world.start()
    assert wait_until(lambda: len(receiver.received) >= 3, timeout=30), receiver.received
    assert wait_until(lambda: world.undelivered() == 0, timeout=30)
    ids = Counter(r.webhook_id for r in receiver.received)
    assert set(ids) == world.event_ids()
    assert len(ids) == 2  # two stays: two booking.created
    assert any(count >= 2 for count in ids.values())  # the one in flight was sent again
    assert all(r.verified for r in receiver.received)


@pytest.fixture
def postgres_world(feed_server: FeedServer) -> Iterator[tuple[World, WebhookReceiver]]:
    with WebhookReceiver(answers=[500] * 6) as receiver:
        for url in postgres_schema_url():
            made = World(url, feed_server, receiver)
            try:
                yield made, receiver
            finally:
                made.close()


@pytest.mark.postgres
def test_three_replicas_deliver_every_event(postgres_world: tuple[World, WebhookReceiver]) -> None:
    """Three replicas on PostgreSQL: every event reaches the receiver, a repeat keeps its webhook-id."""
    world, receiver = postgres_world
    for _ in range(3):
        world.start()
    world.add_calendars(20)
    assert wait_until(lambda: len(world.event_ids()) == 40, timeout=60), len(world.event_ids())
    assert wait_until(lambda: world.undelivered() == 0, timeout=60), world.undelivered()
    got = {r.webhook_id for r in receiver.received if r.answered == 200}
    assert got == world.event_ids()
    bodies: dict[str, set[bytes]] = {}
    for r in receiver.received:
        bodies.setdefault(r.webhook_id, set()).add(r.body)
    assert all(len(sent) == 1 for sent in bodies.values())  # a repeat is the same message
    assert len(receiver.received) >= 46  # the six refused were sent again
    assert all(r.verified for r in receiver.received)
    senders = {
        d.replica
        for d in world.daemons
        if any(line.get("event") == "webhook.failed" for line in d.logs)
    }
    assert senders, "no replica logged the refused deliveries"
