"""Queries of the store, each taking the caller's session, so a sync stays one transaction."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, case, delete, func, insert, or_, select, true, update

from calsync.core.availability import Graph, Occupancy, Occupant, ProductNode
from calsync.core.diff import Plan, StoredBooking
from calsync.domains import registrable_domain
from calsync.errors import Conflict, NotFound
from calsync.store.models import (
    BLOCKING_STATUSES,
    Booking,
    CapacityGroupDependency,
    ExternalCalendar,
    Product,
    ProductCalendarLog,
    SyncRun,
    utc_now,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
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


def product_ids(session: Session) -> list[uuid.UUID]:
    """The id of every product."""
    return list(session.scalars(select(Product.id)))


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


def calendars_with_timezones(
    session: Session, calendar_ids: Sequence[uuid.UUID]
) -> list[tuple[ExternalCalendar, str]]:
    """These calendars with their product's timezone, in one query, in the order given.

    Raises :class:`NotFound` for an id that does not exist.
    """
    rows = session.execute(
        select(ExternalCalendar, Product.timezone)
        .join(Product, Product.id == ExternalCalendar.product_id)
        .where(ExternalCalendar.id.in_(calendar_ids))
    ).all()
    found = {calendar.id: (calendar, timezone) for calendar, timezone in rows}
    missing = [ident for ident in calendar_ids if ident not in found]
    if missing:
        raise NotFound(kind="external calendar", ident=str(missing[0]))
    return [found[ident] for ident in calendar_ids]


def load_calendars(
    session: Session, calendar_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ExternalCalendar]:
    """These calendars by id, in one query; ids that do not exist are left out."""
    query = select(ExternalCalendar).where(ExternalCalendar.id.in_(calendar_ids))
    return {calendar.id: calendar for calendar in session.scalars(query)}


def remove_calendar(session: Session, calendar_id: uuid.UUID) -> None:
    """Delete an external calendar and the bookings imported from it."""
    calendar = get_calendar(session, calendar_id)
    session.execute(delete(Booking).where(Booking.external_calendar_id == calendar_id))
    get_product(session, calendar.product_id).bookings_changed_at = utc_now()
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
) -> list[uuid.UUID]:
    """Carry out ``plan`` on the calendar's loaded ``bookings`` (the caller commits).

    Returns the ids of the bookings inserted or updated. New bookings are
    inserted with one Core statement, not as ORM objects: a first sync inserts
    thousands, and the unit of work cost more per booking than the parse.
    """
    for action in plan.deletes:
        session.delete(bookings[action.booking_id])
    session.flush()
    touched: list[uuid.UUID] = []
    for update_action in plan.updates:
        booking = bookings[update_action.booking_id]
        if (
            booking.echo_of is not None
            and (booking.starts_at, booking.ends_at, booking.all_day)
            != update_action.block.interval
        ):
            booking.echo_of = None  # moved: no longer the echo it was; looked at again
        _copy_block(booking, update_action.block, now)
        touched.append(booking.id)
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
        # The ORM hook that moves the product's feed version does not see a Core insert.
        get_product(session, calendar.product_id).bookings_changed_at = utc_now()
        touched.extend(new_ids)
    for booking_id in plan.unheld:
        bookings[booking_id].delete_held_at = None
    for hold in plan.holds:
        held = bookings[hold.booking_id]
        held.delete_held_at = held.delete_held_at or now
    session.flush()
    return touched


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
        get_product(session, calendar.product_id).bookings_changed_at = now
    return released


@dataclass(frozen=True, slots=True)
class Claim:
    """A calendar claimed for a sync: its id, feed host and channel domain."""

    calendar_id: uuid.UUID
    host: str
    tld: str


def _lease_free(now: datetime, gone_owners: Collection[str] = ()) -> ColumnElement[bool]:
    """No lease, an expired one, or one held by an owner known to be gone."""
    free = or_(ExternalCalendar.lease_expires_at.is_(None), ExternalCalendar.lease_expires_at < now)
    if gone_owners:
        free = or_(free, ExternalCalendar.lease_owner.in_(sorted(gone_owners)))
    return free


def _due(now: datetime, gone_owners: Collection[str] = ()) -> ColumnElement[bool]:
    return and_(
        ExternalCalendar.active.is_(True),
        _lease_free(now, gone_owners),
        or_(
            ExternalCalendar.next_sync_at.is_(None),
            ExternalCalendar.next_sync_at <= now,
            ExternalCalendar.sync_requested_at.is_not(None),
        ),
    )


def claim_due(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    host_load: Mapping[str, int],
    max_per_host: int,
    paused_hosts: Collection[str] = (),
    gone_owners: Collection[str] = (),
) -> list[Claim]:
    """Lease up to ``limit`` due calendars to ``owner``, manual requests first.

    Calendars whose feed host already has ``max_per_host`` syncs in flight
    (``host_load``), or asked to be left alone for now (``paused_hosts``), are
    left for a later tick. A lease held by one of ``gone_owners`` (processes
    known to be dead) is taken over as if it had expired. On PostgreSQL the
    candidates are locked with ``FOR UPDATE SKIP LOCKED``, so replicas never
    claim the same one.
    """
    requested_first = case((ExternalCalendar.sync_requested_at.is_not(None), 0), else_=1)
    candidates = session.execute(
        select(ExternalCalendar.id, ExternalCalendar.ical_url, ExternalCalendar.tld)
        .where(_due(now, gone_owners))
        .order_by(requested_first, ExternalCalendar.next_sync_at, ExternalCalendar.id)
        .limit(limit * 4)
        .with_for_update(skip_locked=True)
    ).all()
    load = dict(host_load)
    claims: list[Claim] = []
    for calendar_id, url, tld in candidates:
        host = feed_host(url)
        if len(claims) == limit or load.get(host, 0) >= max_per_host or host in paused_hosts:
            continue
        load[host] = load.get(host, 0) + 1
        claims.append(Claim(calendar_id, host, tld))
    if claims:
        session.execute(
            update(ExternalCalendar)
            .where(ExternalCalendar.id.in_([claim.calendar_id for claim in claims]))
            .values(lease_owner=owner, lease_expires_at=lease_until)
        )
    return claims


def claim_calendar(
    session: Session,
    calendar_id: uuid.UUID,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    owner_gone: Callable[[str], bool] | None = None,
) -> bool:
    """Lease one calendar to ``owner`` unless another owner's lease is still valid.

    A valid lease whose holder ``owner_gone`` says is a dead process is taken over.
    """
    holder = get_calendar(session, calendar_id).lease_owner
    gone = [holder] if holder and holder != owner and owner_gone and owner_gone(holder) else []
    result = session.execute(
        update(ExternalCalendar)
        .where(ExternalCalendar.id == calendar_id, _lease_free(now, gone))
        .values(lease_owner=owner, lease_expires_at=lease_until)
    )
    return bool(getattr(result, "rowcount", 0))


def lease_owners(session: Session, *, now: datetime) -> set[str]:
    """The owners of the leases that are still valid at ``now``."""
    query = (
        select(ExternalCalendar.lease_owner)
        .where(ExternalCalendar.lease_expires_at >= now, ExternalCalendar.lease_owner.is_not(None))
        .distinct()
    )
    return {owner for owner in session.scalars(query) if owner is not None}


def request_sync(session: Session, calendar_id: uuid.UUID, *, now: datetime) -> ExternalCalendar:
    """Make a calendar due at once (``sync_requested_at``); the dispatcher picks it up."""
    calendar = get_calendar(session, calendar_id)
    calendar.sync_requested_at = now
    return calendar


def release_leases(session: Session, owner: str) -> int:
    """Give up every lease ``owner`` holds (a replica shutting down); return how many."""
    result = session.execute(
        update(ExternalCalendar)
        .where(ExternalCalendar.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def add_sync_runs(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``sync_runs`` rows (column names as keys) in one statement."""
    if rows:
        session.execute(insert(SyncRun), list(rows))


def prune_sync_runs(session: Session, *, before: datetime) -> int:
    """Delete sync runs that started before ``before``; return how many."""
    result = session.execute(delete(SyncRun).where(SyncRun.started_at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def count_active_calendars(session: Session) -> int:
    """How many external calendars are active."""
    query = (
        select(func.count()).select_from(ExternalCalendar).where(ExternalCalendar.active.is_(True))
    )
    return int(session.scalar(query) or 0)


def count_due(session: Session, *, now: datetime) -> int:
    """How many calendars are due now and not leased."""
    return int(session.scalar(select(func.count()).where(_due(now))) or 0)


def oldest_success(session: Session) -> datetime | None:
    """The oldest ``last_synced`` among active calendars: how stale the stalest one is."""
    return session.scalar(
        select(func.min(ExternalCalendar.last_synced)).where(ExternalCalendar.active.is_(True))
    )


def feed_host(url: str) -> str:
    """The host a feed URL is fetched from, for per-host politeness limits."""
    return (urlsplit(url.replace("webcal://", "https://", 1)).hostname or "").lower()


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


def rotate_feed_token(session: Session, product_id: uuid.UUID) -> Product:
    """Give a product a new feed token: its old feed URLs answer 404 from now on."""
    product = get_product(session, product_id)
    product.feed_token = new_feed_token()
    return product


def feed_tokens(session: Session, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The feed token of each of these products."""
    rows = session.execute(
        select(Product.id, Product.feed_token).where(Product.id.in_(list(product_ids)))
    )
    return dict(rows.all())


def dependency_links(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every (accumulator, element) pair."""
    rows = session.execute(
        select(CapacityGroupDependency.accumulator_id, CapacityGroupDependency.element_id)
    )
    return [(accumulator, element) for accumulator, element in rows]


def load_occupancy(
    session: Session,
    product_ids: Iterable[uuid.UUID],
    *,
    since: datetime,
    until: datetime,
    exclude_booking: uuid.UUID | None = None,
    exclude_calendar: uuid.UUID | None = None,
) -> Occupancy:
    """The occupancy of these products and of every product linked to them, in [since, until).

    Only blocking bookings count (confirmed, tentative), and no echoes. The time
    range is widened by a day each way so timed bookings land on their nights.
    ``exclude_booking`` leaves out a booking being changed; ``exclude_calendar`` the
    imports of one calendar (a feed's ``?exclude=``).
    """
    graph = Graph.of(dependency_links(session))
    related: set[uuid.UUID] = set()
    for product_id in product_ids:
        related |= graph.related(product_id)
    products = session.execute(
        select(Product.id, Product.capacity, Product.timezone).where(Product.id.in_(related))
    ).all()
    occupants = session.execute(
        select(
            Booking.id,
            Booking.product_id,
            Booking.starts_at,
            Booking.ends_at,
            Booking.all_day,
            Booking.units,
            Booking.external_calendar_id,
        ).where(
            Booking.product_id.in_(related),
            Booking.status.in_(BLOCKING_STATUSES),
            Booking.echo_of.is_(None),
            Booking.ends_at > since - timedelta(days=1),
            Booking.starts_at < until + timedelta(days=1),
            Booking.id != exclude_booking if exclude_booking else true(),
            or_(
                Booking.external_calendar_id.is_(None),
                Booking.external_calendar_id != exclude_calendar,
            )
            if exclude_calendar
            else true(),
        )
    )
    calendar_units = dict(
        session.execute(
            select(ExternalCalendar.id, ExternalCalendar.units).where(
                ExternalCalendar.product_id.in_(related)
            )
        ).all()
    )
    return Occupancy.of(
        [ProductNode(*row) for row in products],
        [Occupant(*row) for row in occupants],
        graph,
        calendar_units=calendar_units,
    )


def check_dependency(
    session: Session,
    accumulator_id: uuid.UUID,
    element_id: uuid.UUID,
    *,
    ignore_id: uuid.UUID | None = None,
) -> None:
    """Refuse (409) a self-link, a duplicate or a cycle, naming the products.

    ``ignore_id`` is a link being changed, left out of the comparison.
    """
    names = dict(
        session.execute(
            select(Product.id, Product.name).where(Product.id.in_([accumulator_id, element_id]))
        ).all()
    )
    details = {"accumulator_id": str(accumulator_id), "element_id": str(element_id)}
    accumulator = f"{names.get(accumulator_id, accumulator_id)!s}"
    element = f"{names.get(element_id, element_id)!s}"
    if accumulator_id == element_id:
        msg = f"product {accumulator!r} cannot be an element of itself"
        raise Conflict(msg, details=details)
    links = session.execute(
        select(
            CapacityGroupDependency.id,
            CapacityGroupDependency.accumulator_id,
            CapacityGroupDependency.element_id,
        )
    ).all()
    others = [(a, e) for link_id, a, e in links if link_id != ignore_id]
    if (accumulator_id, element_id) in others:
        msg = f"product {element!r} is already an element of {accumulator!r}"
        raise Conflict(msg, details=details)
    if accumulator_id in Graph.of(others).descendants(element_id):
        msg = (
            f"linking {element!r} as an element of {accumulator!r} would make a cycle: "
            f"{accumulator!r} is already an element of {element!r}, directly or not"
        )
        raise Conflict(msg, details=details)


def link_products(
    session: Session, accumulator_id: uuid.UUID, element_id: uuid.UUID, *, now: datetime
) -> CapacityGroupDependency:
    """Make ``element`` a part of ``accumulator`` (a room of the house)."""
    get_product(session, accumulator_id)
    get_product(session, element_id)
    check_dependency(session, accumulator_id, element_id)
    link = CapacityGroupDependency(
        accumulator_id=accumulator_id, element_id=element_id, created_at=now, updated_at=now
    )
    session.add(link)
    session.flush()
    return link


def unlink_products(session: Session, accumulator_id: uuid.UUID, element_id: uuid.UUID) -> None:
    """Remove the dependency between the two products, or :class:`NotFound`."""
    link = session.scalar(
        select(CapacityGroupDependency).where(
            CapacityGroupDependency.accumulator_id == accumulator_id,
            CapacityGroupDependency.element_id == element_id,
        )
    )
    if link is None:
        raise NotFound(kind="capacity group dependency", ident=f"{accumulator_id} → {element_id}")
    session.delete(link)


def mark_echoes(
    session: Session,
    calendar: ExternalCalendar,
    booking_ids: Iterable[uuid.UUID],
    *,
    is_anonymous: Callable[[str], bool],
) -> int:
    """Mark the given imports of ``calendar`` that echo calsync's own export; return how many.

    An import is an echo when it carries no reservation data (``is_anonymous`` of
    its summary) and its interval equals a blocking booking, from another source,
    of the calendar's product or a product linked to it: what calsync exported to
    that channel, coming back. An echo counts for nothing and is not exported;
    the mark stays when the original is cancelled, so the echo cannot turn into
    a ghost booking that keeps the nights blocked.
    """
    candidates = [
        b
        for b in session.scalars(select(Booking).where(Booking.id.in_(list(booking_ids))))
        if b.echo_of is None and is_anonymous(b.summary)
    ]
    if not candidates:
        return 0
    related = Graph.of(dependency_links(session)).related(calendar.product_id)
    originals = session.scalars(
        select(Booking).where(
            Booking.product_id.in_(related),
            Booking.status.in_(BLOCKING_STATUSES),
            Booking.echo_of.is_(None),
            or_(
                Booking.external_calendar_id.is_(None),
                Booking.external_calendar_id != calendar.id,
            ),
            Booking.starts_at.in_({b.starts_at for b in candidates}),
        )
    )
    by_interval = {(o.starts_at, o.ends_at, o.all_day): o.id for o in originals}
    marked = 0
    for booking in candidates:
        original = by_interval.get((booking.starts_at, booking.ends_at, booking.all_day))
        if original is not None:
            booking.echo_of = original
            marked += 1
    return marked


def renew_leases(
    session: Session, calendar_ids: Sequence[uuid.UUID], *, owner: str, lease_until: datetime
) -> set[uuid.UUID]:
    """Extend ``owner``'s leases on these calendars; return those it still held."""
    result = session.execute(
        update(ExternalCalendar)
        .where(ExternalCalendar.id.in_(calendar_ids), ExternalCalendar.lease_owner == owner)
        .values(lease_expires_at=lease_until)
        .returning(ExternalCalendar.id)
    )
    return set(result.scalars())
