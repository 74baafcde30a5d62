"""History: the sync runs of calendars and the reads of outbound feeds, and their pruning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select

from calsync.store.models import ProductCalendarLog, SyncRun

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping, Sequence
    from datetime import datetime, timedelta

    from sqlalchemy.orm import Session


def add_sync_runs(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``sync_runs`` rows (column names as keys) in one statement."""
    if rows:
        session.execute(insert(SyncRun), list(rows))


def recent_runs(session: Session, calendar_id: uuid.UUID, limit: int = 10) -> Sequence[SyncRun]:
    """The calendar's newest sync runs, newest first."""
    query = (
        select(SyncRun)
        .where(SyncRun.external_calendar_id == calendar_id)
        .order_by(SyncRun.started_at.desc())
        .limit(limit)
    )
    return session.scalars(query).all()


def prune_sync_runs(session: Session, *, before: datetime) -> int:
    """Delete sync runs that started before ``before``; return how many."""
    result = session.execute(delete(SyncRun).where(SyncRun.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def add_feed_reads(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``product_calendar_logs`` rows (column names as keys) in one statement."""
    if rows:
        session.execute(insert(ProductCalendarLog), list(rows))


@dataclass(frozen=True, slots=True)
class FeedReader:
    """A channel that reads a product's feed: when it last did, and how often."""

    product_id: uuid.UUID
    channel: str
    external_calendar_id: uuid.UUID | None
    last_read_at: datetime
    reads: int

    def is_stale(self, *, now: datetime, after: timedelta) -> bool:
        """Whether it has not read the feed for longer than ``after``."""
        return now - self.last_read_at > after


def feed_readers(session: Session, *, product_id: uuid.UUID | None = None) -> list[FeedReader]:
    """Who read which product's feed successfully, per channel and export URL, newest first."""
    last_read = func.max(ProductCalendarLog.read_at)
    query = (
        select(
            ProductCalendarLog.product_id,
            ProductCalendarLog.channel,
            ProductCalendarLog.external_calendar_id,
            last_read,
            func.count(),
        )
        .where(ProductCalendarLog.status == "success")
        .group_by(
            ProductCalendarLog.product_id,
            ProductCalendarLog.channel,
            ProductCalendarLog.external_calendar_id,
        )
        .order_by(last_read.desc())
    )
    if product_id is not None:
        query = query.where(ProductCalendarLog.product_id == product_id)
    return [
        FeedReader(pid, channel, calendar_id, read, reads)
        for pid, channel, calendar_id, read, reads in session.execute(query)
    ]


def prune_feed_reads(session: Session, *, before: datetime) -> int:
    """Delete feed-read records older than ``before``; return how many."""
    result = session.execute(delete(ProductCalendarLog).where(ProductCalendarLog.read_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
