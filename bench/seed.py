"""Fill a bench store: products, and external calendars pointing at the bench feed server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, insert, select, update

from bench.feeds import SHAPES, FeedSpec
from calsync.services.keys import create_api_key
from calsync.store import products as stored_products
from calsync.store.models import ExternalCalendar, Product, SyncRun

if TYPE_CHECKING:
    from collections.abc import Callable

    from calsync.store.db import Store

CALENDARS_PER_PRODUCT = 3
"""An Airbnb, a Booking.com and a Google calendar per product, as a typical host has."""


def feed_specs(calendars: int, events: int, *, distinct: int | None = None) -> list[FeedSpec]:
    """Feeds for :func:`add_calendars`: per product an Airbnb, a Booking.com and a Google feed.

    A product's three feeds have stays on different days (5 days apart), as a
    host's channels do; ``distinct`` repeats the first that many feeds' contents.
    """
    return [
        FeedSpec(
            SHAPES[n % CALENDARS_PER_PRODUCT],
            events,
            seed=n % (distinct or calendars),
            offset_days=5 * (n % CALENDARS_PER_PRODUCT),
        )
        for n in range(calendars)
    ]


def add_calendars(store: Store, urls: list[str]) -> list[uuid.UUID]:
    """One calendar per URL, three per product, none due yet (see :func:`make_due`)."""
    now = datetime.now(UTC)
    later = now + timedelta(days=365)
    product_ids = [uuid.uuid4() for _ in range(-(-len(urls) // CALENDARS_PER_PRODUCT))]
    calendar_ids = [uuid.uuid4() for _ in urls]
    products = [
        {
            "id": product_id, "name": f"Cottage {n}", "timezone": "Europe/Amsterdam",
            "capacity": 1, "feed_token": stored_products.new_feed_token(), "created_at": now,
            "updated_at": now,
        }
        for n, product_id in enumerate(product_ids)
    ]  # fmt: skip
    calendars = [
        {
            "id": calendar_ids[n], "product_id": product_ids[n // CALENDARS_PER_PRODUCT],
            "name": f"feed {n}", "ical_url": url, "active": True, "time_offset": 0,
            "tld": "127.0.0.1", "event_status_sync": "import", "next_sync_at": later,
            "failure_count": 0, "event_count": 0, "units": 1, "created_at": now,
            "updated_at": now,
        }
        for n, url in enumerate(urls)
    ]  # fmt: skip
    with store.write() as session:
        session.execute(insert(Product), products)
        session.execute(insert(ExternalCalendar), calendars)
    return calendar_ids


def make_due(store: Store) -> datetime:
    """Make every calendar due now; return a moment no sync this causes can start before.

    That is the moment before the update: a claim made between its commit and a
    later reading of the clock would start before it and never be counted.
    """
    now = datetime.now(UTC)
    with store.write() as session:
        session.execute(update(ExternalCalendar).values(next_sync_at=now))
    return now


def runs_since(store: Store, since: datetime) -> Callable[[], tuple[int, datetime | None]]:
    """A probe: how many sync runs started at or after ``since``, and the last one's end."""

    def probe() -> tuple[int, datetime | None]:
        with store.read() as session:
            count, last = session.execute(
                select(func.count(), func.max(SyncRun.finished_at)).where(
                    SyncRun.started_at >= since
                )
            ).one()
        return int(count), last

    return probe


def outcomes_since(store: Store, since: datetime) -> dict[str, int]:
    """Sync runs since ``since`` by outcome (to check that a scenario did what it says)."""
    with store.read() as session:
        rows = session.execute(
            select(SyncRun.outcome, func.count())
            .where(SyncRun.started_at >= since)
            .group_by(SyncRun.outcome)
        ).all()
    return {outcome: int(count) for outcome, count in rows}


def api_key(store: Store) -> str:
    """A new API key for the bench's REST requests."""
    with store.write() as session:
        _, secret = create_api_key(session, name="bench", now=datetime.now(UTC))
    return secret
