"""The change journal and the event outbox: every change written with its cause, in its transaction.

Every writer of bookings (a sync's plan, a direct write through the API, the
CLI or the UI, a calendar's or product's removal, a release of held deletions)
records its changes through a :class:`Journal` in the transaction that makes
them: ``booking_changes`` rows (set-based, one statement) and, in the same
place, the ``booking.*`` events, each carrying the booking as the API shows it
(:func:`calsync.services.views.serialize`), whether it is an echo, and the
cause. Other events (conflicts, failing calendars, …) are written by
:func:`emit`, also in the caller's transaction: the outbox. An event is
written with one message per active webhook endpoint that wants it, and one
for the people of ``alerts.notify`` when it is operational; nothing is lost on
a crash, since the delivery loop (:mod:`calsync.notify`) sends what the outbox
holds. An event nobody wants (no endpoint, not operational) is not written.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from calsync.core.journal import GONE
from calsync.services.views import serialize, shown_columns
from calsync.store import journal as store
from calsync.store.bookings import load_bookings
from calsync.store.models import Booking
from calsync.store.webhooks import active_subscriptions

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from calsync.core.journal import Change
    from calsync.services.context import Cause

BOOKING_EVENTS: Mapping[str, str] = {
    "created": "booking.created",
    "updated": "booking.updated",
    "rekeyed": "booking.updated",
    "cancelled": "booking.cancelled",
    "deleted": "booking.cancelled",
    "released": "booking.cancelled",
}
"""The event of each kind of change (a held deletion is ``calendar.held``, for the calendar)."""
OPERATIONAL = frozenset(
    {
        "conflict.detected",
        "conflict.resolved",
        "calendar.failing",
        "calendar.recovered",
        "calendar.held",
        "calendar.stale",
        "feed.reader_stale",
        "webhook_endpoint.disabled",
    }
)
"""Events that also go to the people of ``alerts.notify``."""
EVENT_TYPES = ("booking.created", "booking.updated", "booking.cancelled", *sorted(OPERATIONAL))
"""Every event type an endpoint may ask for (``test`` is sent by ``webhooks test`` only)."""
_SUBSCRIPTIONS = "calsync.subscriptions"
_EMITTED = "calsync.emitted"


class EmittedEvents:
    """Events committed by this process, by type (the ``calsync_events_total`` series)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, types: Iterable[str]) -> None:
        """Count committed events."""
        with self._lock:
            self._counts.update(types)

    def counts(self) -> dict[str, int]:
        """The counts so far, by type."""
        with self._lock:
            return dict(self._counts)


emitted_events = EmittedEvents()


@event.listens_for(Session, "after_commit")
def _count_emitted(session: Session) -> None:
    emitted = session.info.pop(_EMITTED, None)
    if emitted:
        emitted_events.add(emitted)


@event.listens_for(Session, "after_rollback")
def _forget_emitted(session: Session) -> None:
    session.info.pop(_EMITTED, None)
    session.info.pop(_SUBSCRIPTIONS, None)


def _subscriptions(session: Session) -> list[tuple[uuid.UUID, frozenset[str]]]:
    """The active endpoints and what they want, read once per transaction."""
    found = session.info.get(_SUBSCRIPTIONS)
    if found is None:
        found = session.info[_SUBSCRIPTIONS] = active_subscriptions(session)
    return list(found)


def wanted(session: Session, event_type: str) -> bool:
    """Whether an event of this type is written (an endpoint wants it, or it is operational)."""
    return event_type in OPERATIONAL or any(
        not types or event_type in types for _, types in _subscriptions(session)
    )


def emit(
    session: Session, events: Sequence[tuple[str, Mapping[str, Any]]], *, now: datetime
) -> list[uuid.UUID]:
    """Write events (type, data) to the outbox with their messages; the ids of those written."""
    subscriptions = _subscriptions(session)
    event_rows: list[dict[str, object]] = []
    messages: list[dict[str, object]] = []
    for event_type, data in events:
        targets: list[uuid.UUID | None] = [
            endpoint_id for endpoint_id, types in subscriptions if not types or event_type in types
        ]
        if event_type in OPERATIONAL:
            targets.append(None)
        if not targets:
            continue
        event_id = uuid.uuid4()
        event_rows.append(
            {"id": event_id, "type": event_type, "data": json.dumps(data), "occurred_at": now,
             "created_at": now, "updated_at": now}
        )  # fmt: skip
        messages.extend(
            {"id": uuid.uuid4(), "event_id": event_id, "endpoint_id": target, "state": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
            for target in targets
        )  # fmt: skip
    store.add_events(session, event_rows)
    store.add_messages(session, messages)
    session.info.setdefault(_EMITTED, []).extend(str(row["type"]) for row in event_rows)
    return [row["id"] for row in event_rows]  # type: ignore[misc]


def emit_to(
    session: Session,
    endpoint_id: uuid.UUID,
    event_type: str,
    data: Mapping[str, Any],
    *,
    now: datetime,
) -> uuid.UUID:
    """Write one event for one endpoint only (``webhooks test``); its id."""
    event_id = uuid.uuid4()
    store.add_events(
        session,
        [{"id": event_id, "type": event_type, "data": json.dumps(data), "occurred_at": now,
          "created_at": now, "updated_at": now}],
    )  # fmt: skip
    store.add_messages(
        session,
        [{"id": uuid.uuid4(), "event_id": event_id, "endpoint_id": endpoint_id,
          "state": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now,
          "updated_at": now}],
    )  # fmt: skip
    return event_id


class Journal:
    """The booking changes of one transaction: journal rows and ``booking.*`` events, written once.

    Call :meth:`removing` before deleting bookings (their last state is what
    their events carry), :meth:`record` with the changes, and :meth:`write`
    before the transaction commits.
    """

    def __init__(self, session: Session, cause: Cause, now: datetime) -> None:
        self._session = session
        self._cause = cause
        self._now = now
        self._rows: list[dict[str, object]] = []
        self._changes: list[Change] = []
        self._gone: dict[uuid.UUID, dict[str, Any]] = {}
        self._events = any(wanted(session, name) for name in set(BOOKING_EVENTS.values()))

    def removing(self, booking_ids: Iterable[uuid.UUID]) -> None:
        """Note the bookings about to be deleted, as the API shows them (if events want them)."""
        if self._events:
            self._gone |= {
                row.id: _resource(row) for row in load_bookings(self._session, booking_ids)
            }

    def record(
        self,
        changes: Iterable[Change],
        *,
        product_id: uuid.UUID,
        calendar_id: uuid.UUID | None,
    ) -> None:
        """Note changes of bookings of one product (and calendar, for imports)."""
        for change in changes:
            before, after = change.before, change.after
            self._changes.append(change)
            self._rows.append(
                {
                    "id": uuid.uuid4(), "booking_id": change.booking_id, "product_id": product_id,
                    "external_calendar_id": calendar_id, "kind": change.kind,
                    "source_key": change.source_key,
                    "starts_at_before": before.starts_at if before else None,
                    "ends_at_before": before.ends_at if before else None,
                    "status_before": before.status if before else None,
                    "starts_at_after": after.starts_at if after else None,
                    "ends_at_after": after.ends_at if after else None,
                    "status_after": after.status if after else None,
                    "sync_run_id": self._cause.sync_run_id, "actor": self._cause.actor,
                    "changed_at": self._now, "created_at": self._now, "updated_at": self._now,
                }
            )  # fmt: skip

    def write(self) -> int:
        """Write the noted changes and their events (set-based); how many changes."""
        store.add_changes(self._session, self._rows)
        if self._events:
            self._write_events()
        written = len(self._rows)
        self._rows, self._changes, self._gone = [], [], {}
        return written

    def _write_events(self) -> None:
        present = [c.booking_id for c in self._changes if c.kind not in GONE]
        shown = {row.id: _resource(row) for row in load_bookings(self._session, present)}
        cause = self._cause.as_json()
        events: list[tuple[str, dict[str, Any]]] = []
        for change in self._changes:
            event_type = BOOKING_EVENTS.get(change.kind)
            resource = (self._gone if change.kind in GONE else shown).get(change.booking_id)
            if event_type is None or resource is None or not wanted(self._session, event_type):
                continue
            echo = resource.get("echo_of") is not None
            events.append(
                (event_type, {**resource, "change": change.kind, "echo": echo, "cause": cause})
            )
        emit(self._session, events, now=self._now)


def _resource(row: Booking) -> dict[str, Any]:
    return serialize(row, shown_columns(Booking))
