"""Bookings: the one blocking-bookings query, occupancy, applying a sync's plan, echoes.

Which bookings block a night is said once, in :func:`blocking_bookings`: a
booking whose status occupies its nights (confirmed, tentative) and that is not
an echo of calsync's own export. Availability, the 409 check, conflicts, every
outbound feed and the echo detection read bookings through it. Every function
takes the caller's session, so a sync stays one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, true, update

from calsync.core.availability import Graph, Occupancy, Occupant, ProductNode
from calsync.core.blocks import date_at_midnight
from calsync.core.diff import Plan, StoredBooking, moves_nights
from calsync.store.calendars import get_calendar
from calsync.store.models import BLOCKING_STATUSES, Booking, ExternalCalendar, Product
from calsync.store.products import dependency_links, touch_feed_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from datetime import date

    from sqlalchemy.orm import Session

    from calsync.core.blocks import BookingStatus


def add_booking(
    session: Session,
    *,
    product_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    all_day: bool,
    summary: str,
    units: int,
    status: str,
    now: datetime,
    booking_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    reference: str | None = None,
    customer: str = "",
    notes: str = "",
) -> Booking:
    """Insert a direct booking (no external calendar), checked by the caller.

    ``booking_id`` None makes a new id.
    """
    booking = Booking(
        id=booking_id or uuid.uuid4(),
        product_id=product_id,
        external_calendar_id=None,
        starts_at=starts_at,
        ends_at=ends_at,
        all_day=all_day,
        summary=summary,
        units=units,
        status=status,
        group_id=group_id,
        reference=reference,
        customer=customer,
        notes=notes,
        created_at=now,
        updated_at=now,
    )
    session.add(booking)
    session.flush()
    return booking


def booking_with_reference(
    session: Session, product_id: uuid.UUID, reference: str
) -> Booking | None:
    """The booking of the product with this reference (at most one: the column is unique)."""
    query = select(Booking).where(Booking.product_id == product_id, Booking.reference == reference)
    return session.scalars(query).first()


def get_booking(session: Session, booking_id: uuid.UUID) -> Booking | None:
    """The booking with this id, or None."""
    return session.get(Booking, booking_id)


def list_bookings(session: Session, *, product_id: uuid.UUID | None = None) -> Sequence[Booking]:
    """Bookings ordered by start, optionally of one product."""
    query = select(Booking).order_by(Booking.starts_at, Booking.id)
    if product_id is not None:
        query = query.where(Booking.product_id == product_id)
    return session.scalars(query).all()


def bookings_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> Sequence[Booking]:
    """These bookings, by start."""
    wanted = list(ids)
    if not wanted:
        return []
    query = select(Booking).where(Booking.id.in_(wanted)).order_by(Booking.starts_at, Booking.id)
    return session.scalars(query).all()


def load_bookings(session: Session, ids: Iterable[uuid.UUID]) -> list[Booking]:
    """These bookings (those that exist), read in chunks of ids, in no particular order."""
    wanted = list(dict.fromkeys(ids))
    return [
        booking
        for chunk in _chunks(wanted)
        for booking in session.scalars(select(Booking).where(Booking.id.in_(chunk)))
    ]


@dataclass(frozen=True, slots=True)
class BookingState:
    """A booking's place, key, interval and status: what the journal says of one that goes."""

    id: uuid.UUID
    product_id: uuid.UUID
    external_calendar_id: uuid.UUID | None
    source_key: str | None
    starts_at: datetime
    ends_at: datetime
    status: str


def booking_states(
    session: Session,
    *,
    calendar_ids: Iterable[uuid.UUID] = (),
    product_ids: Iterable[uuid.UUID] = (),
    held_only: bool = False,
) -> list[BookingState]:
    """The bookings imported from these calendars, or of these products (held ones only)."""
    calendars, products = list(calendar_ids), list(product_ids)
    query = select(
        Booking.id, Booking.product_id, Booking.external_calendar_id, Booking.source_key,
        Booking.starts_at, Booking.ends_at, Booking.status,
    ).where(
        or_(Booking.external_calendar_id.in_(calendars), Booking.product_id.in_(products)),
        Booking.delete_held_at.is_not(None) if held_only else true(),
    )  # fmt: skip
    return [BookingState(*row) for row in session.execute(query)]


def delete_bookings(session: Session, bookings: Sequence[Booking]) -> None:
    """Delete these bookings."""
    for booking in bookings:
        session.delete(booking)
    session.flush()


# --- the blocking bookings -------------------------------------------------------------


def _blocks() -> ColumnElement[bool]:
    """A booking that occupies its nights: confirmed or tentative, and no echo."""
    return and_(Booking.status.in_(BLOCKING_STATUSES), Booking.echo_of.is_(None))


def blocking_bookings(
    session: Session,
    product_ids: Iterable[uuid.UUID],
    *,
    after: datetime | None = None,
    before: datetime | None = None,
    exclude_booking: uuid.UUID | None = None,
    exclude_calendar: uuid.UUID | None = None,
) -> list[Occupant]:
    """The bookings of these products that block time, in a window: the one blocking predicate.

    Those that end after ``after`` and start before ``before`` (either open);
    ``exclude_booking`` leaves out a booking being changed; ``exclude_calendar``
    the imports of one calendar (a feed's ``?exclude=``, or the calendar whose
    echoes are looked for).
    """
    query = select(
        Booking.id,
        Booking.product_id,
        Booking.starts_at,
        Booking.ends_at,
        Booking.all_day,
        Booking.units,
        Booking.external_calendar_id,
    ).where(
        Booking.product_id.in_(list(product_ids)),
        _blocks(),
        Booking.ends_at > after if after is not None else true(),
        Booking.starts_at < before if before is not None else true(),
        Booking.id != exclude_booking if exclude_booking is not None else true(),
        or_(
            Booking.external_calendar_id.is_(None),
            Booking.external_calendar_id != exclude_calendar,
        )
        if exclude_calendar is not None
        else true(),
    )
    return [Occupant(*row) for row in session.execute(query)]


def load_occupancy(
    session: Session,
    product_ids: Iterable[uuid.UUID],
    *,
    first: date,
    last: date,
    graph: Graph | None = None,
    exclude_booking: uuid.UUID | None = None,
    exclude_calendar: uuid.UUID | None = None,
) -> Occupancy:
    """The occupancy, on the nights [first, last), of the whole connected groups of these products.

    Every product reachable from them through capacity group dependencies, up and
    down, is loaded, and their :func:`blocking_bookings` that reach into the
    nights (widened by a day each way, so timed bookings land on their local
    nights). ``graph`` is the links when the caller has read them already (under
    :func:`~calsync.store.products.lock_groups`).
    """
    graph = graph if graph is not None else Graph.of(dependency_links(session))
    group = graph.groups(product_ids)
    products = session.execute(
        select(Product.id, Product.capacity, Product.timezone).where(Product.id.in_(group))
    ).all()
    occupants = blocking_bookings(
        session,
        group,
        after=date_at_midnight(first) - timedelta(days=1),
        before=date_at_midnight(last) + timedelta(days=1),
        exclude_booking=exclude_booking,
        exclude_calendar=exclude_calendar,
    )
    calendar_units = dict(
        session.execute(
            select(ExternalCalendar.id, ExternalCalendar.units).where(
                ExternalCalendar.product_id.in_(group)
            )
        ).all()
    )
    return Occupancy.of(
        [ProductNode(*row) for row in products],
        occupants,
        graph,
        first=first,
        last=last,
        calendar_units=calendar_units,
    )


# --- imports: a sync's plan, held deletions, echoes ------------------------------------


def imported_bookings(session: Session, calendar_id: uuid.UUID) -> dict[uuid.UUID, StoredBooking]:
    """The bookings imported from one calendar as the diff sees them, by id (no ORM objects)."""
    query = select(
        Booking.id,
        Booking.source_key,
        Booking.starts_at,
        Booking.ends_at,
        Booking.all_day,
        Booking.summary,
        Booking.status,
        Booking.delete_held_at,
    ).where(Booking.external_calendar_id == calendar_id)
    return {
        booking_id: StoredBooking(
            id=booking_id,
            key=key or "",
            starts_at=starts_at,
            ends_at=ends_at,
            all_day=all_day,
            summary=summary,
            status=cast("BookingStatus", status),
            delete_held=held_at is not None,
        )
        for booking_id, key, starts_at, ends_at, all_day, summary, status, held_at in (
            session.execute(query)
        )
    }


_CHUNK = 5_000
"""Ids per ``IN (…)`` list: well under SQLite's and PostgreSQL's limits on bound parameters."""


def _chunks(ids: Sequence[uuid.UUID]) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def apply_plan(
    session: Session,
    calendar: ExternalCalendar,
    existing: Mapping[uuid.UUID, StoredBooking],
    plan: Plan,
    *,
    now: datetime,
) -> list[uuid.UUID]:
    """Carry out ``plan`` on the calendar's bookings ``existing`` (the caller commits).

    Returns the ids of the bookings inserted or updated. Every kind of change is
    one set-based statement (deletes and holds in chunks of ids, updates and
    inserts as one ``executemany``), so a sync costs in proportion to its changes.
    The product's feed version moves once, and only when the nights or statuses
    the feeds show changed: a new key (UID churn) or summary alone does not.
    """
    _delete_bookings(session, [action.booking_id for action in plan.deletes])
    moved: list[dict[str, object]] = []
    kept: list[dict[str, object]] = []
    shows_change = bool(plan.inserts or plan.deletes)
    for action in plan.updates:
        stored, block = existing[action.booking_id], action.block
        shows_change = shows_change or moves_nights(stored, block)
        row: dict[str, object] = {
            "id": action.booking_id, "source_key": block.key, "summary": block.summary,
            "status": block.status, "updated_at": now,
        }  # fmt: skip
        if stored.interval == block.interval:
            kept.append(row)
        else:  # moved: no longer the echo it may have been; looked at again
            moved.append(
                row | {"starts_at": block.starts_at, "ends_at": block.ends_at,
                       "all_day": block.all_day, "echo_of": None}
            )  # fmt: skip
    for rows in (moved, kept):
        if rows:
            session.execute(update(Booking), rows)
    touched = [action.booking_id for action in plan.updates]
    if plan.inserts:
        new_ids = [uuid.uuid4() for _ in plan.inserts]
        rows = [
            {
                "id": booking_id, "product_id": calendar.product_id,
                "external_calendar_id": calendar.id, "source_key": block.key,
                "starts_at": block.starts_at, "ends_at": block.ends_at, "all_day": block.all_day,
                "summary": block.summary, "status": block.status,
                "created_at": now, "updated_at": now,
            }
            for booking_id, block in zip(new_ids, (a.block for a in plan.inserts), strict=True)
        ]  # fmt: skip
        session.execute(insert(Booking), rows)
        touched.extend(new_ids)
    _set_delete_held(session, list(plan.unheld), None)
    _set_delete_held(session, [hold.booking_id for hold in plan.holds], now)
    if shows_change:
        touch_feed_version(session, [calendar.product_id], now)
    return touched


def _delete_bookings(session: Session, booking_ids: Sequence[uuid.UUID]) -> None:
    for chunk in _chunks(booking_ids):
        session.execute(
            delete(Booking)
            .where(Booking.id.in_(chunk))
            .execution_options(synchronize_session=False)
        )


def _set_delete_held(
    session: Session, booking_ids: Sequence[uuid.UUID], held_at: datetime | None
) -> None:
    for chunk in _chunks(booking_ids):
        session.execute(
            update(Booking)
            .where(Booking.id.in_(chunk))
            .values(delete_held_at=held_at)
            .execution_options(synchronize_session=False)
        )


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
        touch_feed_version(session, [calendar.product_id], now)
    return released


def mark_echoes(
    session: Session,
    calendar: ExternalCalendar,
    booking_ids: Iterable[uuid.UUID],
    *,
    is_anonymous: Callable[[str], bool],
    now: datetime,
) -> int:
    """Mark the given imports of ``calendar`` that echo calsync's own export; return how many.

    An import is an echo when it carries no reservation data (``is_anonymous`` of
    its summary) and its interval equals a blocking booking, from another source,
    of the calendar's product or a product linked to it: what calsync exported to
    that channel, coming back. An echo counts for nothing and is not exported;
    the mark stays when the original is cancelled, so the echo cannot turn into
    a ghost booking that keeps the nights blocked. Marking moves the product's
    feed version. The queries read the calendar's unmarked imports and the
    originals in their time range, whatever the number of ids given.
    """
    wanted = set(booking_ids)
    if not wanted:
        return 0
    rows = session.execute(
        select(
            Booking.id, Booking.summary, Booking.starts_at, Booking.ends_at, Booking.all_day
        ).where(Booking.external_calendar_id == calendar.id, Booking.echo_of.is_(None))
    )
    candidates = [
        (booking_id, (starts_at, ends_at, all_day))
        for booking_id, summary, starts_at, ends_at, all_day in rows
        if booking_id in wanted and is_anonymous(summary)
    ]
    if not candidates:
        return 0
    related = Graph.of(dependency_links(session)).related(calendar.product_id)
    starts = [interval[0] for _, interval in candidates]
    originals = blocking_bookings(
        session,
        related,
        after=min(starts),
        before=max(starts) + timedelta(microseconds=1),
        exclude_calendar=calendar.id,
    )
    by_interval = {(o.starts_at, o.ends_at, o.all_day): o.id for o in originals}
    marks = [
        {"id": booking_id, "echo_of": by_interval[interval]}
        for booking_id, interval in candidates
        if interval in by_interval
    ]
    if marks:
        session.execute(update(Booking), marks)
        touch_feed_version(session, [calendar.product_id], now)
    return len(marks)
