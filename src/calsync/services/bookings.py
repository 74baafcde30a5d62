"""Direct bookings: add, change, cancel, delete; the rule that stops double bookings at the door.

A new or changed direct booking of ``units`` fits when every night it occupies
(in the product's timezone) is available for that many units, after capacity
group dependencies (:mod:`calsync.core.availability`): the same availability the
outbound feeds publish, over the bookings of the product's whole connected
group, read under the group's lock (:func:`~calsync.store.products.lock_groups`),
so two concurrent bookings can never both take the last unit. A booking that
does not fit is refused with 409 naming the nights and the bookings in the way,
unless ``ctx.force``. Imported bookings change only through their feed (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from calsync.core.availability import Night, Occupant, nights_of
from calsync.errors import BadRequest, Conflict, ImportedBooking, NotFound
from calsync.services.context import iso
from calsync.services.fields import SUMMARY, UNITS, OneOf, at_index, check_exists
from calsync.store import bookings as store
from calsync.store.calendars import calendar_names
from calsync.store.models import BLOCKING_STATUSES, Booking
from calsync.store.products import find_product, lock_groups, touch_feed_version

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext

STATUS = OneOf(("confirmed", "tentative", "cancelled"))
_NIGHTS_LISTED = 5  # in a 409's message; details.nights has them all


class BookingChanges(TypedDict, total=False):
    """The fields of a direct booking a write may set."""

    starts_at: datetime
    ends_at: datetime
    all_day: bool
    summary: str
    units: int
    status: str


@dataclass(frozen=True, slots=True)
class NewBooking:
    """A direct booking to make."""

    product_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    summary: str = ""
    units: int = 1
    status: str = "confirmed"


_RULES: dict[str, Any] = {"summary": SUMMARY, "units": UNITS, "status": STATUS}


def day_start(day: date) -> datetime:
    """How an all-day booking's date is stored: midnight UTC of it (never moved by a timezone)."""
    return datetime.combine(day, time(), tzinfo=UTC)


def check(changes: BookingChanges) -> BookingChanges:
    """The values, checked (a 400 naming the first field that is wrong)."""
    for name, value in changes.items():
        rule = _RULES.get(name)
        if rule is not None:
            rule.check(name, value)
    return changes


def add(
    session: Session,
    ctx: WriteContext,
    bookings: Sequence[NewBooking],
    *,
    indexed: bool = False,
) -> list[Booking]:
    """Make direct bookings, each refused (409) when it would exceed a capacity.

    All the groups of the products booked are locked at once, in one fixed order,
    before the first is checked, so two such writes that touch the same groups in
    a different order cannot deadlock. With ``indexed`` (an array body) a 400
    names the index of the booking it is about.
    """
    lock_groups(session, {booking.product_id for booking in bookings})
    made: list[Booking] = []
    for index, new in enumerate(bookings):
        with at_index(index if indexed else None):
            made.append(_add(session, ctx, new))
    return made


def _add(session: Session, ctx: WriteContext, new: NewBooking) -> Booking:
    check_exists("product_id", new.product_id, "product", lambda i: find_product(session, i))
    check({"summary": new.summary, "units": new.units, "status": new.status})
    _check_times(new.starts_at, new.ends_at, all_day=new.all_day)
    if ctx.booking_bounds is not None:
        ctx.booking_bounds.check(new.starts_at, new.ends_at)
    if new.status in BLOCKING_STATUSES and not ctx.force:
        _check_capacity(session, new.product_id, new.starts_at, new.ends_at,
                        all_day=new.all_day, units=new.units)  # fmt: skip
    booking = store.add_booking(
        session,
        product_id=new.product_id,
        starts_at=new.starts_at,
        ends_at=new.ends_at,
        all_day=new.all_day,
        summary=new.summary,
        units=new.units,
        status=new.status,
        now=ctx.now,
    )
    touch_feed_version(session, [booking.product_id], ctx.now)
    return booking


def update(
    session: Session, ctx: WriteContext, bookings: Sequence[Booking], changes: BookingChanges
) -> None:
    """Move, resize, rename, confirm or cancel direct bookings, within capacity."""
    check(changes)
    _refuse_imported(session, bookings, "changed")
    lock_groups(session, {booking.product_id for booking in bookings})
    for booking in bookings:
        before = (booking.starts_at, booking.ends_at, booking.units, booking.status)
        for name, value in changes.items():
            setattr(booking, name, value)
        booking.updated_at = ctx.now
        _check_times(booking.starts_at, booking.ends_at, all_day=booking.all_day)
        moved = (booking.starts_at, booking.ends_at) != before[:2]
        if moved and ctx.booking_bounds is not None:
            ctx.booking_bounds.check(booking.starts_at, booking.ends_at)
        grown = booking.units > before[2]
        revived = before[3] not in BLOCKING_STATUSES
        if booking.status in BLOCKING_STATUSES and (moved or grown or revived) and not ctx.force:
            _check_capacity(session, booking.product_id, booking.starts_at, booking.ends_at,
                            all_day=booking.all_day, units=booking.units,
                            exclude_id=booking.id)  # fmt: skip
        session.flush()
    touch_feed_version(session, {booking.product_id for booking in bookings}, ctx.now)


def cancel(session: Session, ctx: WriteContext, booking_id: uuid.UUID) -> Booking:
    """Cancel a direct booking: it stays, and frees its nights."""
    booking = get(session, booking_id)
    update(session, ctx, [booking], {"status": "cancelled"})
    return booking


def delete(session: Session, ctx: WriteContext, bookings: Sequence[Booking]) -> None:
    """Delete direct bookings (imported ones: 409)."""
    _refuse_imported(session, bookings, "deleted")
    product_ids = {booking.product_id for booking in bookings}
    store.delete_bookings(session, bookings)
    touch_feed_version(session, product_ids, ctx.now)


def get(session: Session, booking_id: uuid.UUID) -> Booking:
    """The booking with this id, or :class:`~calsync.errors.NotFound`."""
    booking = store.get_booking(session, booking_id)
    if booking is None:
        raise NotFound(kind="booking", ident=str(booking_id))
    return booking


def listed(session: Session, *, product_id: uuid.UUID | None = None) -> Sequence[Booking]:
    """Bookings by start, optionally of one product."""
    return store.list_bookings(session, product_id=product_id)


@dataclass(frozen=True, slots=True)
class Collision:
    """Why a booking does not fit: the unavailable nights and the bookings in the way."""

    nights: tuple[Night, ...]
    bookings: tuple[Booking, ...]


def collision(
    session: Session,
    product_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    all_day: bool,
    units: int,
    exclude_id: uuid.UUID | None = None,
) -> Collision | None:
    """None when the booking fits; else the nights it cannot have and who holds them.

    ``exclude_id`` is the booking being changed. The product's whole connected
    group is locked first (:func:`~calsync.store.products.lock_groups`).
    """
    graph = lock_groups(session, [product_id])
    product = find_product(session, product_id)
    if product is None:
        raise NotFound(kind="product", ident=str(product_id))
    wanted = Occupant(product_id, product_id, starts_at, ends_at, all_day, units)
    days = list(nights_of(wanted, product.timezone))
    if not days:
        return None
    occupancy = store.load_occupancy(
        session,
        [product_id],
        first=days[0],
        last=days[-1] + timedelta(days=1),
        graph=graph,
        exclude_booking=exclude_id,
    )
    full = tuple(
        night for day in days if not (night := occupancy.night(product_id, day, units)).available
    )
    if not full:
        return None
    ids = {booking_id for night in full for booking_id in night.booking_ids}
    return Collision(full, tuple(store.bookings_by_ids(session, ids)))


def _check_times(starts_at: datetime, ends_at: datetime, *, all_day: bool) -> None:
    if ends_at <= starts_at:
        raise BadRequest(
            "ends_at must be after starts_at",
            details={"field": "ends_at", "starts_at": iso(starts_at), "ends_at": iso(ends_at)},
        )
    if all_day:
        for name, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
            if moment.astimezone(UTC).timetz() != time(tzinfo=UTC):
                raise BadRequest(
                    f"{name}: an all-day booking starts and ends at midnight UTC "
                    f"(a date like 2026-12-01), got {iso(moment)}",
                    details={"field": name, "value": iso(moment)},
                )


def _check_capacity(
    session: Session,
    product_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    all_day: bool,
    units: int,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """Refuse (409) a booking that does not fit its product's nights, after dependencies."""
    found = collision(session, product_id, starts_at, ends_at, all_day=all_day, units=units,
                      exclude_id=exclude_id)  # fmt: skip
    if found is None:
        return
    product = find_product(session, product_id)
    nights = [night.night.isoformat() for night in found.nights]
    listed_nights = nights[:_NIGHTS_LISTED]
    more = len(nights) - len(listed_nights)
    shown = ", ".join(listed_nights) + (f" and {more} more" if more else "")
    message = (
        f"{len(nights)} night{'s' if len(nights) > 1 else ''} not available "
        f"for {units} unit{'s' if units > 1 else ''}: {shown}; "
        "add force=true (API) or --force (CLI) to book anyway"
    )
    raise Conflict(
        message,
        details={
            "capacity": product.capacity if product is not None else 0,
            "nights": nights,
            "conflicts": [
                {
                    "booking_id": str(other.id),
                    "product_id": str(other.product_id),
                    "starts_at": iso(other.starts_at),
                    "ends_at": iso(other.ends_at),
                    "external_calendar_id": (
                        str(other.external_calendar_id) if other.external_calendar_id else None
                    ),
                }
                for other in found.bookings
            ],
        },
    )


def _refuse_imported(session: Session, bookings: Sequence[Booking], verb: str) -> None:
    imported = [b for b in bookings if b.external_calendar_id is not None]
    if not imported:
        return
    names = calendar_names(
        session, {b.external_calendar_id for b in imported if b.external_calendar_id}
    )
    first = imported[0]
    calendar_id = first.external_calendar_id
    first_name = (names.get(calendar_id) if calendar_id else None) or str(calendar_id)
    raise ImportedBooking(
        f"booking {first.id} was imported from the external calendar {first_name!r} "
        f"({calendar_id}) and can only be {verb} through that calendar's feed"
        + (f" ({len(imported)} imported bookings matched)" if len(imported) > 1 else ""),
        details={
            "bookings": [
                {
                    "booking_id": str(b.id),
                    "external_calendar_id": str(b.external_calendar_id),
                    "external_calendar_name": names.get(b.external_calendar_id)
                    if b.external_calendar_id
                    else None,
                }
                for b in imported
            ]
        },
    )
