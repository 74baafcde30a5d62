"""Direct bookings: add, change, cancel, delete; the rule that stops double bookings at the door.

A new or changed direct booking of ``units`` fits when every night it occupies
(in the product's timezone) is available for that many units, after capacity
group dependencies (:mod:`calsync.core.availability`): the same availability the
outbound feeds publish, over the bookings of the product's whole connected
group, read under the group's lock (:func:`~calsync.store.products.lock_groups`),
so two concurrent bookings can never both take the last unit. A booking that
does not fit is refused with 409 naming the nights and the bookings in the way,
unless ``ctx.force``. Imported bookings change only through their feed (409).

What a booking platform hands over is kept too: ``reference`` (its own booking
number, unique per product when set: a retried POST is refused with 409 naming
the booking that has it), ``customer`` and ``notes`` (free text, never exported;
notes may break lines) and ``group_id``, the main booking several rows belong
to: the bookings made together (``grouped``, an array POST) share a new one
unless they name one. Imported bookings have none of these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from calsync.core.availability import Night, Occupant, nights_of
from calsync.core.journal import Change, State, edit_kind
from calsync.errors import BadRequest, Conflict, ImportedBooking, NotFound, UniqueViolation
from calsync.services import issues
from calsync.services.context import iso
from calsync.services.fields import (
    CUSTOMER,
    NOTES,
    REFERENCE,
    SUMMARY,
    UNITS,
    OneOf,
    at_index,
    check_exists,
)
from calsync.services.journal import Journal
from calsync.store import bookings as store
from calsync.store.calendars import calendar_names
from calsync.store.models import BLOCKING_STATUSES, Booking
from calsync.store.products import find_product, lock_groups, touch_feed_version

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext

STATUS = OneOf(("confirmed", "tentative", "cancelled"))
_MEANINGS = {
    "confirmed": "Booked: takes its units on every night it covers.",
    "tentative": "Provisionally booked (a channel's STATUS:TENTATIVE, an option held): "
    "blocks like a confirmed booking.",
    "cancelled": "Called off: kept for the record, frees its nights.",
}
_NIGHTS_LISTED = 5  # in a 409's message; details.nights has them all


def statuses() -> list[dict[str, Any]]:
    """The booking statuses, each with whether it blocks availability and what it means."""
    return [
        {"status": status, "blocks_availability": status in BLOCKING_STATUSES,
         "description": _MEANINGS[status]}
        for status in STATUS.options
    ]  # fmt: skip


class BookingChanges(TypedDict, total=False):
    """The fields of a direct booking a write may set."""

    starts_at: datetime
    ends_at: datetime
    all_day: bool
    summary: str
    units: int
    status: str
    group_id: uuid.UUID | None
    reference: str | None
    customer: str
    notes: str


@dataclass(frozen=True, slots=True)
class NewBooking:
    """A direct booking to make (``id`` None: a new one)."""

    product_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    summary: str = ""
    units: int = 1
    status: str = "confirmed"
    group_id: uuid.UUID | None = None
    reference: str | None = None
    customer: str = ""
    notes: str = ""
    id: uuid.UUID | None = None


_RULES: dict[str, Any] = {
    "summary": SUMMARY,
    "units": UNITS,
    "status": STATUS,
    "reference": REFERENCE,
    "customer": CUSTOMER,
    "notes": NOTES,
}


def day_start(day: date) -> datetime:
    """How an all-day booking's date is stored: midnight UTC of it (never moved by a timezone)."""
    return datetime.combine(day, time(), tzinfo=UTC)


def check(changes: BookingChanges) -> BookingChanges:
    """The values, checked (a 400 naming the first field that is wrong)."""
    for name, value in changes.items():
        rule = _RULES.get(name)
        if rule is not None and value is not None:
            rule.check(name, value)
    return changes


def add(
    session: Session,
    ctx: WriteContext,
    bookings: Sequence[NewBooking],
    *,
    indexes: Sequence[int] | None = None,
    grouped: bool = False,
) -> list[Booking]:
    """Make direct bookings, each refused (409) when it would exceed a capacity.

    All the groups of the products booked are locked at once, in one fixed order,
    before the first is checked, so two such writes that touch the same groups in
    a different order cannot deadlock. With ``indexes`` (each booking's position
    in an array body) an error names the item it is about (a 400 ``details.index``,
    a 409 ``details.item``).
    With ``grouped`` the bookings are one main booking: those that name no
    ``group_id`` share a new one. A 409 caused by an earlier item of the same
    array says so: its entry in ``details.conflicts`` has that ``item``.
    """
    lock_groups(session, {booking.product_id for booking in bookings})
    group_id = uuid.uuid4() if grouped else None
    made: list[Booking] = []
    for position, new in enumerate(bookings):
        with at_index(None if indexes is None else indexes[position]):
            try:
                made.append(_add(session, ctx, new, group_id=new.group_id or group_id))
            except Conflict as exc:
                if indexes is not None:
                    _name_items(exc, {str(b.id): indexes[i] for i, b in enumerate(made)})
                raise
    journal = Journal(session, ctx.cause, ctx.now)
    for booking in made:
        journal.record(
            [Change(booking.id, "created", after=_state(booking))],
            product_id=booking.product_id,
            calendar_id=None,
        )
    journal.write()
    _after_change(session, ctx, made)
    return made


def _name_items(exc: Conflict, items: dict[str, int]) -> None:
    """Mark the bookings in the way that are earlier items of the same array with their index."""
    for conflict in exc.details.get("conflicts", ()):
        if conflict.get("booking_id") in items:
            conflict["item"] = items[conflict["booking_id"]]
    if exc.details.get("existing_id") in items:
        exc.details["existing_item"] = items[exc.details["existing_id"]]


def _state(booking: Booking) -> State:
    return State(booking.starts_at, booking.ends_at, booking.status)


def _after_change(session: Session, ctx: WriteContext, bookings: Sequence[Booking]) -> None:
    """Conflicts that a forced booking opened, or a change ended, are events."""
    issues.after_bookings_changed(session, {b.product_id for b in bookings}, now=ctx.now)


def _add(
    session: Session, ctx: WriteContext, new: NewBooking, *, group_id: uuid.UUID | None
) -> Booking:
    check_exists("product_id", new.product_id, "product", lambda i: find_product(session, i))
    check({"summary": new.summary, "units": new.units, "status": new.status,
           "reference": new.reference, "customer": new.customer, "notes": new.notes})  # fmt: skip
    _check_times(new.starts_at, new.ends_at, all_day=new.all_day)
    _check_reference(session, new.product_id, new.reference)
    if ctx.booking_bounds is not None:
        ctx.booking_bounds.check(new.starts_at, new.ends_at)
    if new.status in BLOCKING_STATUSES and not ctx.force:
        _check_capacity(session, new.product_id, new.starts_at, new.ends_at,
                        all_day=new.all_day, units=new.units)  # fmt: skip
    booking = store.add_booking(
        session,
        booking_id=new.id,
        product_id=new.product_id,
        starts_at=new.starts_at,
        ends_at=new.ends_at,
        all_day=new.all_day,
        summary=new.summary,
        units=new.units,
        status=new.status,
        group_id=group_id,
        reference=new.reference,
        customer=new.customer,
        notes=new.notes,
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
    journal = Journal(session, ctx.cause, ctx.now)
    for booking in bookings:
        state, summary = _state(booking), booking.summary
        before = (booking.starts_at, booking.ends_at, booking.units, booking.status)
        if "reference" in changes:
            _check_reference(session, booking.product_id, changes["reference"],
                             exclude_id=booking.id)  # fmt: skip
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
        after = _state(booking)
        if (after, booking.summary, booking.units) != (state, summary, before[2]):
            change = Change(booking.id, edit_kind(state, after), before=state, after=after)
            journal.record([change], product_id=booking.product_id, calendar_id=None)
    journal.write()
    touch_feed_version(session, {booking.product_id for booking in bookings}, ctx.now)
    _after_change(session, ctx, bookings)


def cancel(session: Session, ctx: WriteContext, booking_id: uuid.UUID) -> Booking:
    """Cancel a direct booking: it stays, and frees its nights."""
    booking = get(session, booking_id)
    update(session, ctx, [booking], {"status": "cancelled"})
    return booking


def delete(session: Session, ctx: WriteContext, bookings: Sequence[Booking]) -> None:
    """Delete direct bookings (imported ones: 409)."""
    _refuse_imported(session, bookings, "deleted")
    product_ids = {booking.product_id for booking in bookings}
    journal = Journal(session, ctx.cause, ctx.now)
    journal.removing(booking.id for booking in bookings)
    for booking in bookings:
        journal.record(
            [Change(booking.id, "deleted", before=_state(booking))],
            product_id=booking.product_id,
            calendar_id=None,
        )
    store.delete_bookings(session, bookings)
    journal.write()
    touch_feed_version(session, product_ids, ctx.now)
    issues.after_bookings_changed(session, product_ids, now=ctx.now)


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


def _check_reference(
    session: Session,
    product_id: uuid.UUID,
    reference: str | None,
    *,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """Refuse (409) a reference another booking of the product has: a retried POST."""
    if reference is None:
        return
    existing = store.booking_with_reference(session, product_id, reference)
    if existing is None or existing.id == exclude_id:
        return
    raise UniqueViolation(
        f"reference: booking {existing.id} of this product already has the reference "
        f"{reference!r} (a retried request?); PATCH that booking instead",
        details={"field": "reference", "value": reference, "existing_id": str(existing.id),
                 "product_id": str(product_id)},
    )  # fmt: skip


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
