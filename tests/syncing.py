"""Syncing a calendar in tests: a stay of a feed, one sync against the local feed server, the bookings."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from calsync.fetch import FeedFetcher
from calsync.store.models import Booking
from calsync.sync import SyncResult, sync_calendar


def stay(
    uid: str, start: str, end: str, summary: str = "Reserved", stamp: str = "20261115T120000Z"
) -> str:
    return f"UID:{uid}\nDTSTAMP:{stamp}\nDTSTART;VALUE=DATE:{start}\nDTEND;VALUE=DATE:{end}\nSUMMARY:{summary}"


def run(store, settings, calendar_id, clock, **fetch) -> SyncResult:
    fetch_settings = settings.fetch.model_copy(update=fetch) if fetch else settings.fetch

    async def go() -> SyncResult:
        async with FeedFetcher(fetch_settings) as fetcher:
            return await sync_calendar(
                calendar_id, store=store, fetcher=fetcher, settings=settings, clock=clock
            )

    return asyncio.run(go())


def bookings(store, calendar_id) -> dict[str, tuple[uuid.UUID, str, str]]:
    with store.read() as session:
        rows = session.scalars(select(Booking).where(Booking.external_calendar_id == calendar_id))
        return {
            b.source_key: (b.id, b.starts_at.date().isoformat(), b.ends_at.date().isoformat())
            for b in rows
        }
