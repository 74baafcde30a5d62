"""Ghost loops: three fake channels on 127.0.0.1 import calsync's export URLs and re-export them.

Each fake channel fetches its own export URL (``?exclude=`` its calendar) over
real HTTP, parses it, and publishes every block it read as an anonymous block
with a fresh UID each time, as Airbnb does; calsync imports the three
channels' feeds back. A round is: every channel refreshes, then calsync syncs
A, B and C. Rounds are explicit: nothing sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from appserver import serve_in_thread
from calsync.clock import utc_now
from calsync.config import Settings
from calsync.core.blocks import Block
from calsync.core.feed_path import feed_path
from calsync.core.ical_in import parse_feed
from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import BLOCKING_STATUSES, Booking
from calsync.sync import SyncResult, sync_calendar
from calsync.web.app import create_app
from conftest import NOW, add_calendar, calendar, make_settings, parse_options
from feedserver import FeedServer

STAY_START = datetime(2026, 12, 10, tzinfo=UTC)
STAY_END = datetime(2026, 12, 14, tzinfo=UTC)
STAY_NIGHTS = frozenset(STAY_START.date() + timedelta(days=n) for n in range(4))
ANONYMOUS = {"A": "Airbnb (Not available)", "B": "CLOSED - Not available", "C": "Blocked"}
MAX_ROUNDS = 3


def blocks(body: bytes) -> tuple[Block, ...]:
    """The blocks of a feed, read at NOW in UTC."""
    return parse_feed(body, parse_options(timezone="UTC")).blocks


def nights(body: bytes) -> set[date]:
    """Every night of the stay that some event of the feed blocks."""
    blocked: set[date] = set()
    for block in blocks(body):
        day = block.starts_at.date()
        while datetime(day.year, day.month, day.day, tzinfo=UTC) < block.ends_at:
            blocked.add(day)
            day += timedelta(days=1)
    return blocked & STAY_NIGHTS


def _ical_time(moment: datetime, all_day: bool) -> str:
    return f";VALUE=DATE:{moment:%Y%m%d}" if all_day else f":{moment:%Y%m%dT%H%M%SZ}"


class FakeChannel:
    """A channel that imports its calsync export URL and re-exports every block it read."""

    def __init__(self, name: str, summary: str, server: FeedServer, export_url: str) -> None:
        self.name = name
        self.summary = summary
        self.export_url = export_url
        self.path = f"/{name}.ics"
        self._server = server
        self.published = calendar(head=self._prodid)
        server.serve(self.path, self.published)

    @property
    def _prodid(self) -> str:
        return f"PRODID:-//fake channel {self.name}//EN\r\n"

    def refresh(self) -> None:
        """Read calsync's export over HTTP; publish its blocks anonymously, with new UIDs."""
        answer = httpx.get(self.export_url, timeout=5)
        answer.raise_for_status()
        events = [
            f"UID:{uuid.uuid4()}@{self.name.lower()}.channel.test\n"
            f"DTSTAMP:{NOW:%Y%m%dT%H%M%SZ}\n"
            f"DTSTART{_ical_time(block.starts_at, block.all_day)}\n"
            f"DTEND{_ical_time(block.ends_at, block.all_day)}\n"
            f"SUMMARY:{self.summary}"
            for block in blocks(answer.content)
        ]
        self.published = calendar(*events, head=self._prodid)
        self._server.serve(self.path, self.published)


class World:
    """One calsync product served for real, three calendars, three fake channels."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime],
        server: FeedServer,
        base: str,
        summaries: Mapping[str, str],
    ) -> None:
        self.store, self.settings, self.clock, self.base = store, settings, clock, base
        with store.write() as session:
            product = stored_products.add_product(
                session, name="House", timezone="UTC", capacity=1, now=NOW
            )
            self.product_id, self.token = product.id, product.feed_token
            self.calendars = {
                name: add_calendar(
                    session, product_id=product.id, name=name, ical_url=server.url(f"/{name}.ics"),
                    time_offset=0, active=True, now=NOW,
                ).id
                for name in summaries
            }  # fmt: skip
        self.channels = [
            FakeChannel(name, summary, server, base + feed_path(self.token, self.calendars[name]))
            for name, summary in summaries.items()
        ]

    def book_direct(self) -> uuid.UUID:
        """A confirmed direct booking (no calendar) of the stay."""
        with self.store.write() as session:
            booking = Booking(
                product_id=self.product_id, external_calendar_id=None, source_key=None,
                starts_at=STAY_START, ends_at=STAY_END, all_day=True, summary="Direct guest",
                status="confirmed",
            )  # fmt: skip
            session.add(booking)
            session.flush()
            stored_products.touch_feed_version(session, [self.product_id], utc_now())
            return booking.id

    def cancel(self, booking_id: uuid.UUID) -> None:
        with self.store.write() as session:
            booking = session.get(Booking, booking_id)
            assert booking is not None
            booking.status = "cancelled"
            stored_products.touch_feed_version(session, [self.product_id], utc_now())

    def sync_round(self) -> list[SyncResult]:
        """Every channel refreshes, then calsync syncs A, B, C; no sync may fail."""
        for channel in self.channels:
            channel.refresh()
        return asyncio.run(self._sync_all())

    async def _sync_all(self) -> list[SyncResult]:
        results = []
        async with FeedFetcher(self.settings.fetch) as fetcher:
            for calendar_id in self.calendars.values():
                result = await sync_calendar(
                    calendar_id,
                    store=self.store,
                    fetcher=fetcher,
                    settings=self.settings,
                    clock=self.clock,
                )
                assert result.outcome != "failed", result.error
                results.append(result)
        return results

    def export(self, exclude: uuid.UUID | None = None) -> bytes:
        """The product's feed as a channel reads it from calsync, over HTTP."""
        answer = httpx.get(self.base + feed_path(self.token, exclude), timeout=5)
        answer.raise_for_status()
        return answer.content

    def exports(self) -> dict[str, bytes]:
        """The full feed ("*") and every channel's export URL."""
        return {"*": self.export()} | {
            name: self.export(calendar_id) for name, calendar_id in self.calendars.items()
        }

    def imports(self, name: str) -> list[Booking]:
        """The bookings imported from one channel's calendar."""
        with self.store.read() as session:
            query = select(Booking).where(Booking.external_calendar_id == self.calendars[name])
            return list(session.scalars(query))

    def real_blockers(self) -> list[Booking]:
        """Bookings that block a night of the stay and are no echo: a ghost, if any is left."""
        with self.store.read() as session:
            query = select(Booking).where(
                Booking.product_id == self.product_id,
                Booking.status.in_(BLOCKING_STATUSES),
                Booking.echo_of.is_(None),
                Booking.starts_at < STAY_END,
                Booking.ends_at > STAY_START,
            )
            return list(session.scalars(query))

    def blocked_anywhere(self) -> dict[str, set[date]]:
        """The stay's nights still blocked, per channel feed and per calsync export."""
        feeds = {f"channel {c.name}": c.published for c in self.channels} | {
            f"export {name}": body for name, body in self.exports().items()
        }
        return {where: found for where, body in feeds.items() if (found := nights(body))}


@pytest.fixture
def open_world(
    store: Store, database_url: str, feed_server: FeedServer, clock: Callable[[], datetime]
) -> Iterator[Callable[[Mapping[str, str]], World]]:
    """The calsync app on a real socket at the fixed clock; call with the channels' summaries."""
    settings = make_settings(database_url)
    app = create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock), read_log=FeedReadLog(store),
        settings=settings, clock=clock,
    )  # fmt: skip
    base, stop = serve_in_thread(app)
    try:
        yield lambda summaries: World(store, settings, clock, feed_server, base, summaries)
    finally:
        stop()


def test_a_cancelled_direct_booking_leaves_no_ghost_in_a_three_channel_loop(open_world):
    """A direct booking reaches A, B, C once as echoes; once cancelled, 3 rounds clear every feed."""
    world = open_world(ANONYMOUS)
    direct = world.book_direct()

    world.sync_round()
    assert {c.name: nights(c.published) for c in world.channels} == dict.fromkeys(
        ANONYMOUS, STAY_NIGHTS
    )
    full = world.export()
    assert [(b.starts_at, b.ends_at, b.all_day) for b in blocks(full)] == [
        (STAY_START, STAY_END, True)
    ]
    assert f"UID:{direct}@calsync".encode() in full
    for name, summary in ANONYMOUS.items():
        assert [(b.echo_of, b.summary) for b in world.imports(name)] == [(direct, summary)], name
    assert [b.id for b in world.real_blockers()] == [direct]

    world.cancel(direct)
    assert not any(nights(body) for body in world.exports().values())  # calsync frees at once
    still_blocked = []
    for _ in range(MAX_ROUNDS):
        world.sync_round()
        still_blocked.append(world.blocked_anywhere())
    cleared = [not left for left in still_blocked]
    assert cleared[-1], still_blocked
    assert cleared == sorted(cleared), still_blocked  # once clear, no ghost comes back round
    assert world.real_blockers() == []
    for name in ANONYMOUS:  # held or confirmed deletes alike: whatever is left is an echo
        assert all(b.echo_of == direct for b in world.imports(name)), name


def test_a_named_reservation_from_a_channel_is_real_and_outlives_the_cancellation(open_world):
    """Control: B re-exporting it as "Reserved - Jansen" is a real booking, so A and C keep it."""
    world = open_world({**ANONYMOUS, "B": "Reserved - Jansen"})
    direct = world.book_direct()
    world.sync_round()
    world.cancel(direct)

    (reserved,) = world.imports("B")
    assert (reserved.summary, reserved.echo_of, reserved.status) == (
        "Reserved - Jansen",
        None,
        "confirmed",
    )
    assert [b.id for b in world.real_blockers()] == [reserved.id]
    assert all(b.echo_of is not None for name in ("A", "C") for b in world.imports(name))
    exported = {name: nights(body) for name, body in world.exports().items()}
    assert exported == {"*": STAY_NIGHTS, "A": STAY_NIGHTS, "B": set(), "C": STAY_NIGHTS}
    world.sync_round()
    assert {c.name: nights(c.published) for c in world.channels} == {
        "A": STAY_NIGHTS, "B": set(), "C": STAY_NIGHTS,
    }  # fmt: skip
