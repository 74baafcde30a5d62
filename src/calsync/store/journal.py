"""The change journal and the event outbox: rows written set-based in the caller's transaction.

``booking_changes`` records every change of a booking with its cause;
``events`` is the transactional outbox, and ``webhook_messages`` the events
still to hand to each endpoint (or to the people of ``alerts.notify``). Every
insert here is one ``executemany``, so a sync of 40 000 events stays linear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import aliased

from calsync.store.models import Booking, BookingChange, Event, WebhookDelivery, WebhookMessage

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


def add_changes(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``booking_changes`` rows (column names as keys) in one statement."""
    if rows:
        session.execute(insert(BookingChange), list(rows))


def add_events(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``events`` rows in one statement."""
    if rows:
        session.execute(insert(Event), list(rows))


def add_messages(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``webhook_messages`` rows in one statement."""
    if rows:
        session.execute(insert(WebhookMessage), list(rows))


def changes(
    session: Session,
    *,
    product_id: uuid.UUID | None = None,
    calendar_id: uuid.UUID | None = None,
    booking_id: uuid.UUID | None = None,
    limit: int = 100,
) -> Sequence[BookingChange]:
    """The newest changes (newest first), of a product, calendar or booking."""
    query = select(BookingChange).order_by(BookingChange.changed_at.desc(), BookingChange.id.desc())
    if product_id is not None:
        query = query.where(BookingChange.product_id == product_id)
    if calendar_id is not None:
        query = query.where(BookingChange.external_calendar_id == calendar_id)
    if booking_id is not None:
        query = query.where(BookingChange.booking_id == booking_id)
    return session.scalars(query.limit(limit)).all()


def changes_of_runs(
    session: Session, sync_run_ids: Sequence[uuid.UUID], *, per_run: int
) -> list[tuple[BookingChange, int, uuid.UUID | None, bool | None]]:
    """The first ``per_run`` changes of each sync run, by the stay's start: one query.

    Each with how many changes its run made, and the booking's ``echo_of`` and
    ``all_day`` (None, None when the booking is gone). The runs' changes are
    read once, through the index on ``sync_run_id``, and ranked within each run.
    """
    if not sync_run_ids:
        return []
    start = func.coalesce(BookingChange.starts_at_after, BookingChange.starts_at_before)
    run, order = BookingChange.sync_run_id, (start, BookingChange.id)
    ranked = (
        select(
            BookingChange,
            func.row_number().over(partition_by=run, order_by=order).label("place"),
            func.count().over(partition_by=run).label("total"),
        )
        .where(BookingChange.sync_run_id.in_(list(sync_run_ids)))
        .subquery()
    )
    change = aliased(BookingChange, ranked)
    query = (
        select(change, ranked.c.total, Booking.echo_of, Booking.all_day)
        .outerjoin(Booking, Booking.id == change.booking_id)
        .where(ranked.c.place <= per_run)
        .order_by(change.sync_run_id, ranked.c.place)
    )
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query)]


def oldest_pending_at(session: Session) -> datetime | None:
    """When the oldest event still waiting for a delivery was written (None: none waits)."""
    return session.scalar(
        select(func.min(WebhookMessage.created_at)).where(WebhookMessage.state == "pending")
    )


def prune(session: Session, *, before: datetime) -> tuple[int, int]:
    """Delete changes, and events with their messages and attempts, older than ``before``.

    An event is kept while a message of it is still pending. Returns how many
    changes and events went.
    """
    gone_changes = session.execute(delete(BookingChange).where(BookingChange.changed_at < before))
    pending = select(WebhookMessage.event_id).where(WebhookMessage.state == "pending")
    gone_events = session.execute(
        delete(Event).where(Event.created_at < before, Event.id.not_in(pending))
    )
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.attempted_at < before))
    return _count(gone_changes), _count(gone_events)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
