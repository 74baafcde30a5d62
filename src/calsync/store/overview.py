"""Read models of the web interface's pages: what each page lists, in a few bounded queries.

The dashboard never loads every calendar: it counts them per state and reads one
page, ordered problems first, in the database. A calendar's *state* is one of
:data:`STATES`, the first that holds:

* ``inactive``: not synced at all (switched off, or deactivated after failing);
* ``failing``: its last fetch failed (``failure_count`` > 0), ``error`` says why;
* ``held``: deletions wait for confirmation (``held_since``), ``error`` says why;
* ``stale``: no successful sync for ``stale_after`` (a new calendar: since it was added);
* ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, case, exists, func, literal, or_, select

from calsync.store.models import (
    Booking,
    CapacityGroupDependency,
    ExternalCalendar,
    Product,
    SyncRun,
)

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable
    from datetime import datetime, timedelta

    from sqlalchemy.orm import Session

STATES = ("failing", "held", "stale", "waiting", "ok", "inactive")
"""Every state, in the dashboard's order: problems first. ``waiting``: added, never synced yet."""


@dataclass(frozen=True, slots=True)
class CalendarState:
    """One line of the dashboard."""

    id: uuid.UUID
    name: str
    product_id: uuid.UUID
    product_name: str
    tld: str
    state: str
    error: str | None
    last_synced: datetime | None
    held_since: datetime | None
    failing_since: datetime | None
    """For a failing calendar: its first failure since the last success."""


@dataclass(frozen=True, slots=True)
class CalendarPage:
    """One page of calendars, how many match the filters, and how many are in each state."""

    rows: list[CalendarState]
    total: int
    counts: dict[str, int]


def _state(*, stale_before: datetime) -> ColumnElement[str]:
    calendar = ExternalCalendar
    return case(
        (calendar.active.is_(False), literal("inactive")),
        (calendar.failure_count > 0, literal("failing")),
        (calendar.held_since.is_not(None), literal("held")),
        (func.coalesce(calendar.last_synced, calendar.created_at) < stale_before, literal("stale")),
        (calendar.last_synced.is_(None), literal("waiting")),
        else_=literal("ok"),
    )


def calendar_states(
    session: Session,
    *,
    now: datetime,
    stale_after: timedelta,
    product: str = "",
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> CalendarPage:
    """Calendars whose product name contains ``product`` (any case), in ``state`` if given.

    Ordered by state (problems first), product name, calendar name; ``offset`` and
    ``limit`` choose the page. ``counts`` are per state, over the product filter.
    """
    state_of = _state(stale_before=now - stale_after)
    rank = case({name: position for position, name in enumerate(STATES)}, value=state_of)
    filters = (
        [func.lower(Product.name).contains(product.lower(), autoescape=True)] if product else []
    )
    joined = select(ExternalCalendar.id).join(Product, Product.id == ExternalCalendar.product_id)
    counted = session.execute(
        joined.with_only_columns(state_of, func.count()).where(*filters).group_by(state_of)
    ).all()
    counts = dict.fromkeys(STATES, 0) | {name: int(count) for name, count in counted}
    query = (
        joined.with_only_columns(
            ExternalCalendar.id,
            ExternalCalendar.name,
            ExternalCalendar.product_id,
            Product.name,
            ExternalCalendar.tld,
            state_of,
            ExternalCalendar.error,
            ExternalCalendar.last_synced,
            ExternalCalendar.held_since,
            ExternalCalendar.created_at,
        )
        .where(*filters)
        .order_by(rank, Product.name, ExternalCalendar.name, ExternalCalendar.id)
        .offset(offset)
        .limit(limit)
    )
    if state is not None:
        query = query.where(state_of == state)
    found = session.execute(query).all()
    since = _failing_since(session, [row[0] for row in found if row[5] == "failing"])
    rows = [
        CalendarState(
            id=calendar_id,
            name=name,
            product_id=product_id,
            product_name=product_name,
            tld=tld,
            state=state_name,
            error=error,
            last_synced=last_synced,
            held_since=held_since,
            failing_since=since.get(calendar_id, last_synced or created_at)
            if state_name == "failing"
            else None,
        )
        for (
            calendar_id, name, product_id, product_name, tld, state_name, error, last_synced,
            held_since, created_at,
        ) in found
    ]  # fmt: skip
    total = counts.get(state, 0) if state is not None else sum(counts.values())
    return CalendarPage(rows, total, counts)


def _failing_since(session: Session, calendar_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """The first failed sync run after each calendar's last success (if still recorded)."""
    if not calendar_ids:
        return {}
    rows = session.execute(
        select(SyncRun.external_calendar_id, func.min(SyncRun.started_at))
        .join(ExternalCalendar, ExternalCalendar.id == SyncRun.external_calendar_id)
        .where(
            SyncRun.external_calendar_id.in_(calendar_ids),
            SyncRun.outcome == "failed",
            or_(
                ExternalCalendar.last_synced.is_(None),
                SyncRun.started_at > ExternalCalendar.last_synced,
            ),
        )
        .group_by(SyncRun.external_calendar_id)
    )
    return dict(rows.all())


def calendar_state(
    session: Session, calendar_id: uuid.UUID, *, now: datetime, stale_after: timedelta
) -> str | None:
    """One calendar's state (None if there is no such calendar)."""
    query = select(_state(stale_before=now - stale_after)).where(ExternalCalendar.id == calendar_id)
    return session.scalar(query)


def product_names(session: Session, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these products."""
    query = select(Product.id, Product.name).where(Product.id.in_(list(product_ids)))
    return dict(session.execute(query).all())


@dataclass(frozen=True, slots=True)
class TimelineBooking:
    """A booking as the product timeline draws it."""

    id: uuid.UUID
    external_calendar_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    status: str
    echo_of: uuid.UUID | None
    delete_held_at: datetime | None


def timeline_bookings(
    session: Session, product_id: uuid.UUID, *, since: datetime, until: datetime
) -> list[TimelineBooking]:
    """The product's bookings that are not cancelled and reach into [since, until)."""
    rows = session.execute(
        select(
            Booking.id,
            Booking.external_calendar_id,
            Booking.starts_at,
            Booking.ends_at,
            Booking.all_day,
            Booking.status,
            Booking.echo_of,
            Booking.delete_held_at,
        )
        .where(
            Booking.product_id == product_id,
            Booking.status != "cancelled",
            Booking.starts_at < until,
            Booking.ends_at > since,
        )
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    return [TimelineBooking(*row) for row in rows]


def product_calendars(session: Session, product_id: uuid.UUID) -> list[ExternalCalendar]:
    """The product's calendars, by name."""
    query = (
        select(ExternalCalendar)
        .where(ExternalCalendar.product_id == product_id)
        .order_by(ExternalCalendar.name, ExternalCalendar.id)
    )
    return list(session.scalars(query))


def is_linked(session: Session, product_id: uuid.UUID) -> bool:
    """Whether the product is an accumulator or an element of another product."""
    link = CapacityGroupDependency
    return bool(
        session.scalar(
            select(
                exists().where(
                    or_(link.accumulator_id == product_id, link.element_id == product_id)
                )
            )
        )
    )


def products_without_calendars(session: Session, *, limit: int) -> list[tuple[uuid.UUID, str]]:
    """Products that have no calendar yet (id, name), by name: at most ``limit``."""
    query = (
        select(Product.id, Product.name)
        .where(~exists().where(ExternalCalendar.product_id == Product.id))
        .order_by(Product.name, Product.id)
        .limit(limit)
    )
    return [(product_id, name) for product_id, name in session.execute(query).all()]


def upcoming_bookings(
    session: Session, product_id: uuid.UUID, *, since: datetime, limit: int
) -> list[Booking]:
    """The product's bookings that are not cancelled and end after ``since``, by start."""
    query = (
        select(Booking)
        .where(
            Booking.product_id == product_id,
            Booking.status != "cancelled",
            Booking.ends_at > since,
        )
        .order_by(Booking.starts_at, Booking.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def held_bookings(session: Session, calendar_id: uuid.UUID) -> list[Booking]:
    """The calendar's bookings whose deletion is held (its feed dropped them), by start."""
    query = (
        select(Booking)
        .where(Booking.external_calendar_id == calendar_id, Booking.delete_held_at.is_not(None))
        .order_by(Booking.starts_at, Booking.id)
    )
    return list(session.scalars(query))


def calendar_sources(
    session: Session, calendar_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, tuple[str, str]]:
    """The name and ``tld`` (channel) of each of these calendars that exists."""
    query = select(ExternalCalendar.id, ExternalCalendar.name, ExternalCalendar.tld).where(
        ExternalCalendar.id.in_([ident for ident in calendar_ids if ident is not None])
    )
    return {ident: (name, tld) for ident, name, tld in session.execute(query).all()}
