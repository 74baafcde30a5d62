"""External calendars: rows, the claims and leases of their syncs, and counts for the gauges.

Calendars are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` into a lease
(``lease_owner``, ``lease_expires_at``), so each due calendar is synced by exactly
one replica (DESIGN §9). Every function takes the caller's session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, or_, select, update

from calsync.channels import feed_host
from calsync.errors import NotFound
from calsync.store.models import Booking, ExternalCalendar, Product
from calsync.store.products import touch_feed_version

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


def add_calendar(
    session: Session,
    *,
    product_id: uuid.UUID,
    name: str,
    ical_url: str,
    tld: str,
    now: datetime,
    time_offset: int = 0,
    active: bool = True,
    event_status_sync: str = "import",
    transparent_events: str = "block",
    units: int = 1,
    sync_requested: bool = False,
    calendar_id: uuid.UUID | None = None,
) -> ExternalCalendar:
    """Insert an external calendar of a product, due for its first sync at once.

    It gets a new id unless ``calendar_id`` is given.
    """
    calendar = ExternalCalendar(
        id=calendar_id or uuid.uuid4(),
        product_id=product_id,
        name=name,
        ical_url=ical_url,
        tld=tld,
        time_offset=time_offset,
        active=active,
        event_status_sync=event_status_sync,
        transparent_events=transparent_events,
        units=units,
        next_sync_at=now,
        sync_requested_at=now if sync_requested else None,
        created_at=now,
        updated_at=now,
    )
    session.add(calendar)
    session.flush()
    return calendar


def get_calendar(session: Session, calendar_id: uuid.UUID) -> ExternalCalendar:
    """The external calendar with this id, or :class:`NotFound`."""
    calendar = session.get(ExternalCalendar, calendar_id)
    if calendar is None:
        raise NotFound(kind="external calendar", ident=str(calendar_id))
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


def load_calendars(
    session: Session, calendar_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ExternalCalendar]:
    """These calendars by id, in one query; ids that do not exist are left out."""
    query = select(ExternalCalendar).where(ExternalCalendar.id.in_(list(calendar_ids)))
    return {calendar.id: calendar for calendar in session.scalars(query)}


def calendar_names(session: Session, calendar_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The name of each of these calendars that exists."""
    query = select(ExternalCalendar.id, ExternalCalendar.name).where(
        ExternalCalendar.id.in_(list(calendar_ids))
    )
    return dict(session.execute(query).all())


def existing_ids(session: Session, calendar_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of these calendar ids that exist (still)."""
    if not calendar_ids:
        return set()
    query = select(ExternalCalendar.id).where(ExternalCalendar.id.in_(list(calendar_ids)))
    return set(session.scalars(query))


def product_of(session: Session, calendar_id: uuid.UUID) -> uuid.UUID | None:
    """The product a calendar belongs to, or None if there is no such calendar."""
    return session.scalar(
        select(ExternalCalendar.product_id).where(ExternalCalendar.id == calendar_id)
    )


_JOB_COLUMNS = (
    ExternalCalendar.id, ExternalCalendar.product_id, ExternalCalendar.ical_url,
    ExternalCalendar.tld, ExternalCalendar.etag, ExternalCalendar.last_modified,
    ExternalCalendar.content_digest, ExternalCalendar.prodid, ExternalCalendar.time_offset,
    ExternalCalendar.event_status_sync, ExternalCalendar.transparent_events,
)  # fmt: skip


def calendars_with_timezones(
    session: Session, calendar_ids: Sequence[uuid.UUID]
) -> list[tuple[Any, str]]:
    """What a sync reads of these calendars, with their product's timezone, in one query.

    Rows of the columns a sync job needs, named as the model's, in the order given.
    Raises :class:`NotFound` for an id that does not exist.
    """
    rows = session.execute(
        select(*_JOB_COLUMNS, Product.timezone)
        .join(Product, Product.id == ExternalCalendar.product_id)
        .where(ExternalCalendar.id.in_(calendar_ids))
    ).all()
    found = {row.id: (row, row.timezone) for row in rows}
    missing = [ident for ident in calendar_ids if ident not in found]
    if missing:
        raise NotFound(kind="external calendar", ident=str(missing[0]))
    return [found[ident] for ident in calendar_ids]


def settled(session: Session, owners: Mapping[uuid.UUID, str | None]) -> set[uuid.UUID]:
    """Those of these calendars leased to the owner given, neither failing nor holding deletions.

    A sync that finds their feed as it was writes only their status
    (:func:`record_unchanged`). Locked until the transaction ends (PostgreSQL).
    """
    if not owners:
        return set()
    rows = session.execute(
        select(ExternalCalendar.id, ExternalCalendar.lease_owner)
        .where(
            ExternalCalendar.id.in_(list(owners)),
            ExternalCalendar.failure_count == 0,
            ExternalCalendar.error.is_(None),
            ExternalCalendar.held_since.is_(None),
        )
        .with_for_update()
    ).all()
    return {ident for ident, owner in rows if owner == owners[ident]}


def record_unchanged(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Write syncs of :func:`settled` calendars whose feed was as it was, in one executemany.

    Each row: ``b_id``, ``b_digest``, ``b_etag``, ``b_last_modified``, ``b_synced`` (the
    new ``last_synced``), ``b_next`` (``next_sync_at``) and ``b_started`` (a manual
    request made before it is served). The lease is released.
    """
    if not rows:
        return
    statement = (
        update(ExternalCalendar)
        .where(ExternalCalendar.id == bindparam("b_id"))
        .values(
            content_digest=bindparam("b_digest"), etag=bindparam("b_etag"),
            last_modified=bindparam("b_last_modified"), last_synced=bindparam("b_synced"),
            next_sync_at=bindparam("b_next"), failure_count=0, error=None,
            sync_requested_at=case(
                (ExternalCalendar.sync_requested_at <= bindparam("b_started"), None),
                else_=ExternalCalendar.sync_requested_at,
            ),
            lease_owner=None, lease_expires_at=None,
        )
    )  # fmt: skip
    session.connection().execute(statement, list(rows))


def count_imported(session: Session, calendar_id: uuid.UUID) -> int:
    """How many bookings were imported from the calendar: what removing it deletes."""
    query = select(func.count()).where(Booking.external_calendar_id == calendar_id)
    return int(session.scalar(query) or 0)


def delete_calendar(session: Session, calendar: ExternalCalendar, *, now: datetime) -> int:
    """Delete an external calendar and the bookings imported from it; return how many bookings."""
    result = session.execute(delete(Booking).where(Booking.external_calendar_id == calendar.id))
    touch_feed_version(session, [calendar.product_id], now)
    session.delete(calendar)
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def request_sync(calendar: ExternalCalendar, *, now: datetime) -> ExternalCalendar:
    """Make a calendar due at once (``sync_requested_at``); a dispatcher picks it up.

    On PostgreSQL the commit notifies every replica (:mod:`calsync.store.models`).
    """
    calendar.sync_requested_at = now
    return calendar


# --- claims and leases -----------------------------------------------------------------


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


def release_leases(session: Session, owner: str) -> int:
    """Give up every lease ``owner`` holds (a replica shutting down); return how many."""
    result = session.execute(
        update(ExternalCalendar)
        .where(ExternalCalendar.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- counts ----------------------------------------------------------------------------


def count_active(session: Session) -> int:
    """How many external calendars are active."""
    query = (
        select(func.count()).select_from(ExternalCalendar).where(ExternalCalendar.active.is_(True))
    )
    return int(session.scalar(query) or 0)


def count_due(session: Session, *, now: datetime) -> int:
    """How many calendars are due now and not leased."""
    return int(session.scalar(select(func.count()).where(_due(now))) or 0)


def stale_calendars(session: Session, *, before: datetime) -> Sequence[ExternalCalendar]:
    """Active calendars without a successful sync since ``before`` (since added, if never)."""
    query = select(ExternalCalendar).where(
        ExternalCalendar.active.is_(True),
        func.coalesce(ExternalCalendar.last_synced, ExternalCalendar.created_at) < before,
    )
    return session.scalars(query).all()


def oldest_success(session: Session) -> datetime | None:
    """The oldest ``last_synced`` among active calendars: how stale the stalest one is."""
    return session.scalar(
        select(func.min(ExternalCalendar.last_synced)).where(ExternalCalendar.active.is_(True))
    )
