"""Operational events, each emitted once per change of state (DESIGN §12).

* ``conflict.detected`` / ``conflict.resolved``: the open conflicts (per product
  and run of nights) are kept in the store (:mod:`calsync.store.issues`) and
  compared with those found after each change of a group
  (:func:`after_bookings_changed`) and in the daemon's periodic check
  (:func:`check_conflicts`).
* ``calendar.failing``, ``calendar.recovered``, ``calendar.held``: written by the
  sync that crosses the line (:func:`calendar_event`).
* ``calendar.stale`` (no successful sync for ``alerts.stale_after_hours``) and
  ``feed.reader_stale`` (a channel stopped reading a feed): from the daemon's
  periodic checks (:func:`check_stale_calendars`, :func:`check_stale_readers`).

Every event is written in the caller's transaction, through
:func:`calsync.services.journal.emit`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from calsync import reports
from calsync.core.availability import Graph
from calsync.services.context import iso
from calsync.services.journal import emit
from calsync.services.views import serialize, shown_columns
from calsync.store import issues as store
from calsync.store.calendars import stale_calendars
from calsync.store.models import ExternalCalendar
from calsync.store.products import dependency_links, product_names

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime, timedelta

    from sqlalchemy.orm import Session

    from calsync.store.history import FeedReader

CONFLICT = "conflict"
STALE_CALENDAR = "calendar_stale"
STALE_READER = "reader_stale"


def conflict_key(conflict: Mapping[str, Any]) -> str:
    """A conflict's identity: its product and run of nights."""
    return f"{conflict['product_id']}:{conflict['from']}:{conflict['until']}"


def after_bookings_changed(
    session: Session, product_ids: Iterable[uuid.UUID], *, now: datetime
) -> None:
    """Compare the conflicts of these products' groups with the open ones; emit what changed."""
    ids = set(product_ids)
    if not ids:
        return
    group = Graph.of(dependency_links(session)).groups(ids)
    found = reports.conflicts_of(session, sorted(group, key=str), now=now)
    _reconcile(session, found, now=now, products=group | ids)


def check_conflicts(session: Session, found: Sequence[Mapping[str, Any]], *, now: datetime) -> None:
    """Compare every conflict found now with the open ones (the daemon's periodic check)."""
    _reconcile(session, found, now=now, products=None)


def _reconcile(
    session: Session,
    found: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    products: Iterable[uuid.UUID] | None,
) -> None:
    current = {conflict_key(conflict): conflict for conflict in found}
    opened = store.open_issues(session, CONFLICT, product_ids=products)
    names = product_names(session, {_uuid(c["product_id"]) for c in current.values()})
    new = [
        (key, _uuid(c["product_id"]), {**c, "product_name": names.get(_uuid(c["product_id"]))})
        for key, c in current.items()
        if key not in opened
    ]
    detected = set(store.open_new(session, CONFLICT, new, now=now))
    resolved = store.close(session, CONFLICT, [key for key in opened if key not in current])
    emit(
        session,
        [("conflict.detected", data) for key, _, data in new if key in detected]
        + [("conflict.resolved", data) for data in resolved],
        now=now,
    )


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def calendar_data(session: Session, calendar: ExternalCalendar, **extra: object) -> dict[str, Any]:
    """A calendar as the API shows it (no computed fields), its product's name, and ``extra``."""
    names = product_names(session, [calendar.product_id])
    shown = serialize(calendar, shown_columns(ExternalCalendar))
    return {**shown, "product_name": names.get(calendar.product_id), **extra}


def calendar_event(
    session: Session, event_type: str, calendar: ExternalCalendar, *, now: datetime,
    **extra: object,
) -> None:  # fmt: skip
    """Emit one ``calendar.*`` event about ``calendar``."""
    emit(session, [(event_type, calendar_data(session, calendar, **extra))], now=now)


def check_stale_calendars(session: Session, *, now: datetime, after: timedelta) -> int:
    """``calendar.stale`` for each active calendar that turned stale; how many are stale now.

    A calendar is stale when it has not synced successfully for ``after`` (since
    it was added, if it never has); it stops being stale when it syncs again.
    """
    stale = {str(c.id): c for c in stale_calendars(session, before=now - after)}
    opened = store.open_issues(session, STALE_CALENDAR)
    new = [
        (key, calendar.product_id,
         calendar_data(session, calendar, since=iso(calendar.last_synced or calendar.created_at)))
        for key, calendar in stale.items()
        if key not in opened
    ]  # fmt: skip
    turned = set(store.open_new(session, STALE_CALENDAR, new, now=now))
    store.close(session, STALE_CALENDAR, [key for key in opened if key not in stale])
    emit(session, [("calendar.stale", data) for key, _, data in new if key in turned], now=now)
    return len(stale)


def check_stale_readers(
    session: Session, stale_readers: Sequence[FeedReader], *, now: datetime
) -> None:
    """``feed.reader_stale`` for each of the stale readers found now that was not stale before."""
    stale = {f"{r.product_id}:{r.channel}:{r.external_calendar_id or ''}": r for r in stale_readers}
    opened = store.open_issues(session, STALE_READER)
    names = product_names(session, {r.product_id for r in stale.values()})
    new = [
        (
            key,
            reader.product_id,
            {
                "product_id": str(reader.product_id),
                "product_name": names.get(reader.product_id),
                "channel": reader.channel,
                "external_calendar_id": str(reader.external_calendar_id)
                if reader.external_calendar_id
                else None,
                "last_read_at": iso(reader.last_read_at),
                "since": iso(reader.last_read_at),
            },
        )
        for key, reader in stale.items()
        if key not in opened
    ]
    turned = set(store.open_new(session, STALE_READER, new, now=now))
    store.close(session, STALE_READER, [key for key in opened if key not in stale])
    emit(session, [("feed.reader_stale", data) for key, _, data in new if key in turned], now=now)
