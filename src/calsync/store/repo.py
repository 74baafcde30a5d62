"""Queries of the store, each taking the caller's session, so a sync stays one transaction."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, cast

from sqlalchemy import delete, select

from calsync.core.diff import Plan, StoredBooking
from calsync.domains import registrable_domain
from calsync.errors import NotFound
from calsync.store.models import Booking, ExternalCalendar, Product, SyncRun

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.core.blocks import Block, BookingStatus


def new_feed_token() -> str:
    """32 random bytes, URL-safe: the secret in a product's outbound feed URL."""
    return secrets.token_urlsafe(32)


def add_product(
    session: Session, *, name: str, timezone: str, capacity: int, now: datetime
) -> Product:
    """Create a product."""
    product = Product(
        name=name,
        timezone=timezone,
        capacity=capacity,
        feed_token=new_feed_token(),
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.flush()
    return product


def list_products(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return session.scalars(select(Product).order_by(Product.created_at, Product.id)).all()


def get_product(session: Session, product_id: uuid.UUID) -> Product:
    """The product with this id, or :class:`NotFound`."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(kind="product", ident=str(product_id))
    return product


def add_calendar(
    session: Session,
    *,
    product_id: uuid.UUID,
    name: str,
    ical_url: str,
    time_offset: int,
    active: bool,
    now: datetime,
) -> ExternalCalendar:
    """Create an external calendar of a product, due for its first sync at once."""
    get_product(session, product_id)
    calendar = ExternalCalendar(
        product_id=product_id,
        name=name,
        ical_url=ical_url,
        time_offset=time_offset,
        active=active,
        tld=registrable_domain(ical_url),
        next_sync_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(calendar)
    session.flush()
    return calendar


def list_calendars(
    session: Session, *, product_id: uuid.UUID | None = None, active_only: bool = False
) -> Sequence[ExternalCalendar]:
    """External calendars, oldest first, optionally of one product or only active ones."""
    query = select(ExternalCalendar).order_by(ExternalCalendar.created_at, ExternalCalendar.id)
    if product_id is not None:
        query = query.where(ExternalCalendar.product_id == product_id)
    if active_only:
        query = query.where(ExternalCalendar.active.is_(True))
    return session.scalars(query).all()


def get_calendar(session: Session, calendar_id: uuid.UUID) -> ExternalCalendar:
    """The external calendar with this id, or :class:`NotFound`."""
    calendar = session.get(ExternalCalendar, calendar_id)
    if calendar is None:
        raise NotFound(kind="external calendar", ident=str(calendar_id))
    return calendar


def remove_calendar(session: Session, calendar_id: uuid.UUID) -> None:
    """Delete an external calendar and the bookings imported from it."""
    calendar = get_calendar(session, calendar_id)
    session.execute(delete(Booking).where(Booking.external_calendar_id == calendar_id))
    session.delete(calendar)


def recent_runs(session: Session, calendar_id: uuid.UUID, limit: int = 10) -> Sequence[SyncRun]:
    """The calendar's newest sync runs, newest first."""
    query = (
        select(SyncRun)
        .where(SyncRun.external_calendar_id == calendar_id)
        .order_by(SyncRun.started_at.desc())
        .limit(limit)
    )
    return session.scalars(query).all()


def list_bookings(session: Session, *, product_id: uuid.UUID | None = None) -> Sequence[Booking]:
    """Bookings ordered by start, optionally of one product."""
    query = select(Booking).order_by(Booking.starts_at, Booking.id)
    if product_id is not None:
        query = query.where(Booking.product_id == product_id)
    return session.scalars(query).all()


def imported_bookings(session: Session, calendar_id: uuid.UUID) -> dict[uuid.UUID, Booking]:
    """The bookings imported from one calendar, by id, loaded for a sync to change."""
    query = select(Booking).where(Booking.external_calendar_id == calendar_id)
    return {booking.id: booking for booking in session.scalars(query)}


def stored_booking(booking: Booking) -> StoredBooking:
    """The diff's view of an imported booking."""
    return StoredBooking(
        id=booking.id,
        key=booking.source_key or "",
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        all_day=booking.all_day,
        summary=booking.summary,
        status=cast("BookingStatus", booking.status),
        delete_held=booking.delete_held_at is not None,
    )


def apply_plan(
    session: Session,
    calendar: ExternalCalendar,
    bookings: dict[uuid.UUID, Booking],
    plan: Plan,
    *,
    now: datetime,
) -> None:
    """Carry out ``plan`` on the calendar's loaded ``bookings`` (the caller commits)."""
    for action in plan.deletes:
        session.delete(bookings[action.booking_id])
    session.flush()
    for update_action in plan.updates:
        _copy_block(bookings[update_action.booking_id], update_action.block, now)
    for insert in plan.inserts:
        booking = Booking(
            product_id=calendar.product_id,
            external_calendar_id=calendar.id,
            created_at=now,
        )
        _copy_block(booking, insert.block, now)
        session.add(booking)
    for booking_id in plan.unheld:
        bookings[booking_id].delete_held_at = None
    for hold in plan.holds:
        held = bookings[hold.booking_id]
        held.delete_held_at = held.delete_held_at or now
    session.flush()


def _copy_block(booking: Booking, block: Block, now: datetime) -> None:
    booking.source_key = block.key
    booking.starts_at = block.starts_at
    booking.ends_at = block.ends_at
    booking.all_day = block.all_day
    booking.summary = block.summary
    booking.status = block.status
    booking.updated_at = now


def release_held(session: Session, calendar_id: uuid.UUID, *, now: datetime) -> int:
    """Apply a calendar's held deletions now; return how many bookings were deleted."""
    calendar = get_calendar(session, calendar_id)
    result = session.execute(
        delete(Booking).where(
            Booking.external_calendar_id == calendar_id, Booking.delete_held_at.is_not(None)
        )
    )
    released = int(getattr(result, "rowcount", 0) or 0)
    calendar.held_since = None
    calendar.error = None
    if released:
        calendar.updated_at = now
    return released
