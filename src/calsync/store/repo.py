"""Queries of the store, each taking the caller's session, so a sync stays one transaction."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)

from calsync.channels import feed_host, registrable_domain
from calsync.clock import utc_now
from calsync.core.availability import Graph, Occupancy, Occupant, ProductNode
from calsync.core.blocks import date_at_midnight
from calsync.core.diff import Plan, StoredBooking, moves_nights
from calsync.errors import Conflict, NotFound
from calsync.store.models import (
    BLOCKING_STATUSES,
    Booking,
    CapacityGroupDependency,
    ExternalCalendar,
    Product,
    ProductCalendarLog,
    SyncRun,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
    from datetime import date, datetime

    from sqlalchemy.orm import Session

    from calsync.core.blocks import BookingStatus


_FEED_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What :func:`new_feed_token` makes: 32 bytes in unpadded URL-safe base64."""


def new_feed_token() -> str:
    """32 random bytes, URL-safe: the secret in a product's outbound feed URL."""
    return secrets.token_urlsafe(32)


def is_feed_token(text: str) -> bool:
    """Whether ``text`` can be a feed token at all (no database needed to refuse it)."""
    return _FEED_TOKEN.fullmatch(text) is not None


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
    transparent_events: str = "block",
) -> ExternalCalendar:
    """Create an external calendar of a product, due for its first sync at once."""
    get_product(session, product_id)
    calendar = ExternalCalendar(
        product_id=product_id,
        name=name,
        ical_url=ical_url,
        time_offset=time_offset,
        active=active,
        transparent_events=transparent_events,
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


def count_imported(session: Session, calendar_id: uuid.UUID) -> int:
    """How many bookings were imported from the calendar: what removing it deletes."""
    query = select(func.count()).where(Booking.external_calendar_id == calendar_id)
    return int(session.scalar(query) or 0)


def remove_calendar(session: Session, calendar_id: uuid.UUID) -> int:
    """Delete an external calendar and the bookings imported from it; return how many bookings."""
    calendar = get_calendar(session, calendar_id)
    result = session.execute(delete(Booking).where(Booking.external_calendar_id == calendar_id))
    touch_feed_version(session, [calendar.product_id], utc_now())
    session.delete(calendar)
    return int(getattr(result, "rowcount", 0) or 0)


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


def touch_feed_version(session: Session, product_ids: Iterable[uuid.UUID], now: datetime) -> None:
    """Move the outbound feed version (``bookings_changed_at``) of these products.

    Every writer that changes what a product's feed shows (a booking's nights or
    status, an echo mark, a capacity link, a calendar's units) calls this, once
    per transaction and product. The version moves strictly forward, to ``now``
    or a microsecond past the last one (a new product's is its ``created_at``),
    so two changes never share a version whatever the clock says.
    """
    ids = set(product_ids)
    if not ids:
        return
    for product in session.scalars(select(Product).where(Product.id.in_(ids))):
        last = product.bookings_changed_at or product.created_at  # the feeds' version
        product.bookings_changed_at = max(now, last + timedelta(microseconds=1))


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
    first: date,
    last: date,
    graph: Graph | None = None,
    exclude_booking: uuid.UUID | None = None,
    exclude_calendar: uuid.UUID | None = None,
) -> Occupancy:
    """The occupancy, on the nights [first, last), of the whole connected groups of these products.

    Every product reachable from them through capacity group dependencies, up and
    down, is loaded, and their bookings with one query: only blocking bookings
    (confirmed, tentative), no echoes, and only those that reach into the nights
    (widened by a day each way, so timed bookings land on their local nights).
    ``graph`` is the links when the caller has read them already (under
    :func:`lock_groups`). ``exclude_booking`` leaves out a booking being changed;
    ``exclude_calendar`` the imports of one calendar (a feed's ``?exclude=``).
    """
    graph = graph if graph is not None else Graph.of(dependency_links(session))
    group = graph.groups(product_ids)
    products = session.execute(
        select(Product.id, Product.capacity, Product.timezone).where(Product.id.in_(group))
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
            Booking.product_id.in_(group),
            Booking.status.in_(BLOCKING_STATUSES),
            Booking.echo_of.is_(None),
            Booking.ends_at > date_at_midnight(first) - timedelta(days=1),
            Booking.starts_at < date_at_midnight(last) + timedelta(days=1),
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
                ExternalCalendar.product_id.in_(group)
            )
        ).all()
    )
    return Occupancy.of(
        [ProductNode(*row) for row in products],
        [Occupant(*row) for row in occupants],
        graph,
        first=first,
        last=last,
        calendar_units=calendar_units,
    )


_LINKS_LOCK = 0x6C696E6B  # "link": PostgreSQL advisory lock over the capacity group dependencies


def lock_groups(session: Session, product_ids: Iterable[uuid.UUID]) -> Graph:
    """Serialize this transaction's writes with every other write to these products' groups.

    Call it before checking capacity, in the transaction that then writes the
    booking; it returns the links, read under the lock. On PostgreSQL:

    1. a transaction-level *shared* advisory lock on the links: many bookings hold
       it at once, but no link is made, changed or removed (:func:`lock_links`
       takes it exclusively) until this transaction ends, so the connected group
       read next stays the group until the booking commits;
    2. ``SELECT … FOR UPDATE`` of every product of the groups, in id order (a fixed
       order, so two bookings of overlapping groups cannot deadlock). A second
       booking of the group waits here until the first commits, and then reads its
       bookings (READ COMMITTED reads what is committed at each statement).

    A bulk write locks the groups of all its products with one call, before the
    first check, for the same reason. On SQLite every write transaction is
    serialized already (``BEGIN IMMEDIATE``, see :mod:`calsync.store.db`) and the
    locks are not needed.
    """
    wanted = set(product_ids)
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _LINKS_LOCK})
    graph = Graph.of(dependency_links(session))
    session.execute(
        select(Product.id)
        .where(Product.id.in_(graph.groups(wanted)))
        .order_by(Product.id)
        .with_for_update()
    )
    return graph


def lock_links(session: Session) -> None:
    """Wait until no write holds :func:`lock_groups`, and keep them out until this transaction ends.

    Every change of capacity group dependencies takes it first, so a link made or
    removed at the same time as a booking lands before the booking's check or
    after its commit, never in between. It also keeps two links made at once from
    closing a cycle that each alone would not.
    """
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LINKS_LOCK})


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


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
    lock_links(session)
    get_product(session, accumulator_id)
    get_product(session, element_id)
    check_dependency(session, accumulator_id, element_id)
    link = CapacityGroupDependency(
        accumulator_id=accumulator_id, element_id=element_id, created_at=now, updated_at=now
    )
    session.add(link)
    session.flush()
    touch_feed_version(session, [accumulator_id, element_id], now)
    return link


def unlink_products(
    session: Session, accumulator_id: uuid.UUID, element_id: uuid.UUID, *, now: datetime
) -> None:
    """Remove the dependency between the two products, or :class:`NotFound`."""
    lock_links(session)
    link = session.scalar(
        select(CapacityGroupDependency).where(
            CapacityGroupDependency.accumulator_id == accumulator_id,
            CapacityGroupDependency.element_id == element_id,
        )
    )
    if link is None:
        raise NotFound(kind="capacity group dependency", ident=f"{accumulator_id} → {element_id}")
    session.delete(link)
    touch_feed_version(session, [accumulator_id, element_id], now)


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
    originals = session.execute(
        select(Booking.id, Booking.starts_at, Booking.ends_at, Booking.all_day).where(
            Booking.product_id.in_(related),
            Booking.status.in_(BLOCKING_STATUSES),
            Booking.echo_of.is_(None),
            or_(
                Booking.external_calendar_id.is_(None),
                Booking.external_calendar_id != calendar.id,
            ),
            Booking.starts_at >= min(starts),
            Booking.starts_at <= max(starts),
        )
    )
    by_interval = {
        (starts_at, ends_at, all_day): o_id for o_id, starts_at, ends_at, all_day in originals
    }
    marks = [
        {"id": booking_id, "echo_of": by_interval[interval]}
        for booking_id, interval in candidates
        if interval in by_interval
    ]
    if marks:
        session.execute(update(Booking), marks)
        touch_feed_version(session, [calendar.product_id], now)
    return len(marks)


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
