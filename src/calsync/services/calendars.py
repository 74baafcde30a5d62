"""External calendars: add, change, remove, release held deletions, ask for a sync.

A calendar's ``ical_url`` is a URL calsync can fetch (checked when it is added or
changed); its ``tld`` follows the URL, and so does its name unless one is given.
A new calendar, a new URL or a sync request makes it due at once and sets
``ctx.wake``; the edge wakes the dispatcher after the commit (on PostgreSQL the
commit also notifies every replica).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from calsync.channels import registrable_domain
from calsync.core.blocks import TRANSPARENT_EVENTS, EventStatusSync
from calsync.core.journal import Change, State
from calsync.errors import NotFound
from calsync.services import issues
from calsync.services.fields import (
    FEED_URL,
    NAME,
    TIME_OFFSET,
    UNITS,
    OneOf,
    channel_name,
    check_exists,
)
from calsync.services.journal import Journal
from calsync.store import bodies as store_bodies
from calsync.store import bookings as store_bookings
from calsync.store import calendars as store
from calsync.store import history
from calsync.store.products import find_product, touch_feed_version

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import ExternalCalendar, SyncRun

EVENT_STATUS_SYNC = OneOf(("import", "CONFIRMED", "TENTATIVE"))
TRANSPARENT = OneOf(TRANSPARENT_EVENTS)


class CalendarChanges(TypedDict, total=False):
    """The fields of a calendar a write may set; ``request_sync`` asks for a sync now."""

    name: str
    ical_url: str
    active: bool
    time_offset: int
    event_status_sync: str
    transparent_events: str
    units: int
    request_sync: bool


_RULES: dict[str, Any] = {
    "name": NAME,
    "ical_url": FEED_URL,
    "time_offset": TIME_OFFSET,
    "event_status_sync": EVENT_STATUS_SYNC,
    "transparent_events": TRANSPARENT,
    "units": UNITS,
}


def check(changes: CalendarChanges) -> CalendarChanges:
    """The values, checked (a 400 naming the first field that is wrong)."""
    for name, value in changes.items():
        rule = _RULES.get(name)
        if rule is not None:
            rule.check(name, value)
    return changes


def add(
    session: Session,
    ctx: WriteContext,
    *,
    product_id: uuid.UUID,
    ical_url: str,
    name: str | None = None,
    active: bool = True,
    time_offset: int = 0,
    event_status_sync: EventStatusSync = "import",
    transparent_events: str | None = None,
    units: int = 1,
    request_sync: bool = False,
    row_id: uuid.UUID | None = None,
) -> ExternalCalendar:
    """A calendar of the product, due at once, named after its channel unless a name is given.

    It gets a new id unless ``row_id`` is given.
    """
    values = check(
        CalendarChanges(
            ical_url=ical_url,
            time_offset=time_offset,
            event_status_sync=event_status_sync,
            transparent_events=transparent_events or ctx.default_transparent_events,
            units=units,
        )
    )
    if name is not None:
        NAME.check("name", name)
    check_exists("product_id", product_id, "product", lambda i: find_product(session, i))
    calendar = store.add_calendar(
        session,
        calendar_id=row_id,
        product_id=product_id,
        name=name or channel_name(ical_url),
        ical_url=ical_url,
        tld=registrable_domain(ical_url),
        now=ctx.now,
        time_offset=values["time_offset"],
        active=active,
        event_status_sync=values["event_status_sync"],
        transparent_events=values["transparent_events"],
        units=values["units"],
        sync_requested=request_sync,
    )
    ctx.wake = True
    return calendar


def update(
    session: Session,
    ctx: WriteContext,
    calendars: Sequence[ExternalCalendar],
    changes: CalendarChanges,
) -> None:
    """Change settings; a new URL forgets the old feed's validators and syncs at once.

    ``updated_at`` is left alone: it means "when the feed last brought changes".
    A change of ``units`` moves the product's feed version.
    """
    check(changes)
    for calendar in calendars:
        for name in ("name", "active", "time_offset", "event_status_sync", "transparent_events"):
            if name in changes:
                setattr(calendar, name, changes[name])
        if "units" in changes and changes["units"] != calendar.units:
            calendar.units = changes["units"]
            touch_feed_version(session, [calendar.product_id], ctx.now)
        if "ical_url" in changes and changes["ical_url"] != calendar.ical_url:
            calendar.ical_url = changes["ical_url"]
            calendar.tld = registrable_domain(calendar.ical_url)
            calendar.etag = calendar.last_modified = None
            calendar.content_digest = calendar.prodid = None
            calendar.next_sync_at = ctx.now
            ctx.wake = True
        if changes.get("request_sync"):
            store.request_sync(calendar, now=ctx.now)
            ctx.wake = True
    session.flush()


def remove(
    session: Session, ctx: WriteContext, calendars: Sequence[ExternalCalendar]
) -> dict[uuid.UUID, int]:
    """Delete calendars and the bookings imported from them; how many went with each.

    Each booking deleted is journaled. The counts are also put in ``ctx.deleted_bookings``.
    """
    journal = Journal(session, ctx.cause, ctx.now)
    journal_removals(journal, store_bookings.booking_states(
        session, calendar_ids=[calendar.id for calendar in calendars]
    ))  # fmt: skip
    for calendar in calendars:
        ctx.deleted_bookings[calendar.id] = store.delete_calendar(session, calendar, now=ctx.now)
    journal.write()
    issues.after_bookings_changed(session, {c.product_id for c in calendars}, now=ctx.now)
    return ctx.deleted_bookings


def journal_removals(journal: Journal, states: Sequence[store_bookings.BookingState]) -> None:
    """Note bookings about to go with their calendar or product as ``deleted``."""
    journal.removing(state.id for state in states)
    for state in states:
        journal.record(
            [Change(state.id, "deleted", state.source_key, before=_state(state))],
            product_id=state.product_id,
            calendar_id=state.external_calendar_id,
        )


def release(
    session: Session, ctx: WriteContext, calendar_id: uuid.UUID
) -> tuple[int, ExternalCalendar]:
    """Apply a calendar's held deletions now: how many bookings went, and the calendar."""
    calendar = store.get_calendar(session, calendar_id)
    released = release_held(session, Journal(session, ctx.cause, ctx.now), calendar, now=ctx.now)
    return released, calendar


def release_held(
    session: Session, journal: Journal, calendar: ExternalCalendar, *, now: datetime
) -> int:
    """Apply a calendar's held deletions, journaled as ``released``; how many bookings went."""
    held = store_bookings.booking_states(session, calendar_ids=[calendar.id], held_only=True)
    journal.removing(state.id for state in held)
    released = store_bookings.release_held(session, calendar.id, now=now)
    journal.record(
        [Change(s.id, "released", s.source_key, before=_state(s)) for s in held],
        product_id=calendar.product_id,
        calendar_id=calendar.id,
    )
    journal.write()
    if released:
        issues.after_bookings_changed(session, [calendar.product_id], now=now)
    return released


def _state(state: store_bookings.BookingState) -> State:
    return State(state.starts_at, state.ends_at, state.status)


def request_sync(session: Session, ctx: WriteContext, calendar_id: uuid.UUID) -> ExternalCalendar:
    """Make a calendar due at once (``sync_requested_at``); the edge wakes the dispatcher."""
    calendar = store.request_sync(store.get_calendar(session, calendar_id), now=ctx.now)
    ctx.wake = True
    return calendar


@dataclass(frozen=True, slots=True)
class KeptBody:
    """A feed as a sync fetched it: when, by which run, its answer, and the bytes."""

    sync_run_id: uuid.UUID | None
    fetched_at: datetime
    outcome: str
    http_status: int | None
    headers: dict[str, str]
    digest: str
    body: bytes


def kept_body(
    session: Session, calendar_id: uuid.UUID, *, run_id: uuid.UUID | None = None
) -> KeptBody:
    """The calendar's newest kept body, or the one fetched by that sync run; else NotFound."""
    store.get_calendar(session, calendar_id)
    found = store_bodies.find_body(session, calendar_id, run_id=run_id)
    if found is None:
        what = f"fetched body of sync run {run_id}" if run_id else "fetched body kept"
        raise NotFound(kind=what, ident=str(calendar_id))
    return KeptBody(
        found.sync_run_id, found.fetched_at, found.outcome, found.http_status,
        json.loads(found.headers), found.digest, zlib.decompress(found.body),
    )  # fmt: skip


def get(session: Session, calendar_id: uuid.UUID) -> ExternalCalendar:
    """The calendar with this id, or :class:`~calsync.errors.NotFound`."""
    return store.get_calendar(session, calendar_id)


def listed(
    session: Session, *, product_id: uuid.UUID | None = None, active_only: bool = False
) -> Sequence[ExternalCalendar]:
    """Calendars, oldest first, optionally of one product or only active ones."""
    return store.list_calendars(session, product_id=product_id, active_only=active_only)


def imported_count(session: Session, calendar_id: uuid.UUID) -> int:
    """How many bookings were imported from the calendar: what removing it deletes."""
    return store.count_imported(session, calendar_id)


def recent_runs(session: Session, calendar_id: uuid.UUID, limit: int = 10) -> Sequence[SyncRun]:
    """The calendar's newest sync runs, newest first."""
    return history.recent_runs(session, calendar_id, limit)


def count_active(session: Session) -> int:
    """How many calendars are active."""
    return store.count_active(session)


def due_and_oldest(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """How many calendars are due and not leased, and the oldest ``last_synced`` of the active."""
    return store.count_due(session, now=now), store.oldest_success(session)
