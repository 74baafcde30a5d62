"""Webhook endpoints, the messages to deliver to them, claimed into leases, and their attempts.

Pending messages are claimed as calendars are (DESIGN §9): ``SELECT … FOR
UPDATE SKIP LOCKED`` on PostgreSQL into a lease (``lease_owner``,
``lease_expires_at``), so each is sent by one replica at a time; a replica that
dies loses its leases when they expire (or at once, when it was a process of
this host that is gone). Every function takes the caller's session.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, or_, select, true, update

from calsync.errors import NotFound
from calsync.store.models import Event, WebhookDelivery, WebhookEndpoint, WebhookMessage

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


def add_endpoint(
    session: Session,
    *,
    url: str,
    events: Sequence[str],
    secret: str,
    description: str,
    active: bool,
    now: datetime,
    endpoint_id: uuid.UUID | None = None,
) -> WebhookEndpoint:
    """Insert an endpoint (a new id unless ``endpoint_id``)."""
    endpoint = WebhookEndpoint(
        id=endpoint_id or uuid.uuid4(),
        url=url, events=json.dumps(list(events)), secret=secret, description=description,
        active=active, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(endpoint)
    session.flush()
    return endpoint


def get_endpoint(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """The endpoint with this id, or :class:`NotFound`."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(kind="webhook endpoint", ident=str(endpoint_id))
    return endpoint


def list_endpoints(session: Session) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return session.scalars(query).all()


def delete_endpoints(session: Session, endpoints: Sequence[WebhookEndpoint]) -> None:
    """Delete endpoints (their messages and attempts go with them)."""
    for endpoint in endpoints:
        session.delete(endpoint)
    session.flush()


def active_subscriptions(session: Session) -> list[tuple[uuid.UUID, frozenset[str]]]:
    """Each active endpoint's id and the event types it wants (empty: all)."""
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active.is_(True))
    )
    return [(endpoint_id, frozenset(json.loads(events))) for endpoint_id, events in rows]


# --- messages: claims, leases, outcomes -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message claimed for delivery, with what sending it needs."""

    message_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    data: str
    occurred_at: datetime
    event_created_at: datetime
    attempts: int
    endpoint_id: uuid.UUID | None
    url: str | None
    secret: str | None


def claim_messages(
    session: Session,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    gone_owners: Collection[str] = (),
    event_id: uuid.UUID | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due messages to ``owner``, oldest first, and read what sending needs.

    A message is due when it is pending, its next attempt is due, and it has no
    valid lease (one held by ``gone_owners``, processes known to be dead, counts
    as none). Messages to an endpoint made inactive meanwhile are not claimed.
    ``event_id``: only the messages of that event (``webhooks test``).
    """
    free = or_(WebhookMessage.lease_expires_at.is_(None), WebhookMessage.lease_expires_at < now)
    if gone_owners:
        free = or_(free, WebhookMessage.lease_owner.in_(sorted(gone_owners)))
    ids = list(
        session.scalars(
            select(WebhookMessage.id)
            .where(WebhookMessage.state == "pending", WebhookMessage.next_attempt_at <= now, free)
            .where(WebhookMessage.event_id == event_id if event_id is not None else true())
            .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=lease_until)
    )
    rows = session.execute(
        select(
            WebhookMessage.id,
            Event.id,
            Event.type,
            Event.data,
            Event.occurred_at,
            Event.created_at,
            WebhookMessage.attempts,
            WebhookMessage.endpoint_id,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.active,
        )
        .join(Event, Event.id == WebhookMessage.event_id)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(WebhookMessage.id.in_(ids))
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
    ).all()
    return [Claimed(*row[:10]) for row in rows if row[7] is None or row[10]]


def next_due_at(session: Session) -> datetime | None:
    """When the next pending message is due (None: none is pending); a read, no lock."""
    return session.scalar(
        select(WebhookMessage.next_attempt_at)
        .where(WebhookMessage.state == "pending")
        .order_by(WebhookMessage.next_attempt_at)
        .limit(1)
    )


def message_owners(session: Session, *, now: datetime) -> set[str]:
    """The owners of the messages' leases that are still valid at ``now``."""
    query = (
        select(WebhookMessage.lease_owner)
        .where(WebhookMessage.lease_expires_at >= now, WebhookMessage.lease_owner.is_not(None))
        .distinct()
    )
    return {owner for owner in session.scalars(query) if owner is not None}


def finish_message(
    session: Session,
    message_id: uuid.UUID,
    *,
    owner: str,
    state: str,
    attempts: int,
    next_attempt_at: datetime,
    now: datetime,
) -> bool:
    """Write a message's outcome and release its lease, if ``owner`` still holds it."""
    result = session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id, WebhookMessage.lease_owner == owner)
        .values(
            state=state,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def release_messages(session: Session, owner: str) -> int:
    """Give up every message lease ``owner`` holds (shutting down); how many."""
    result = session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def add_attempts(session: Session, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert ``webhook_deliveries`` rows (one per attempt) in one statement."""
    if rows:
        session.execute(insert(WebhookDelivery), list(rows))


def endpoint_answered(
    session: Session, endpoint_id: uuid.UUID, *, ok: bool, now: datetime
) -> WebhookEndpoint | None:
    """Note an endpoint's answer: a success ends its failing, a failure starts it; the endpoint."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        return None
    if ok:
        endpoint.failing_since = None
    elif endpoint.failing_since is None:
        endpoint.failing_since = now
    return endpoint


def deliveries(
    session: Session, endpoint_id: uuid.UUID | None, *, limit: int = 50
) -> Sequence[WebhookDelivery]:
    """An endpoint's newest attempts (None: those of the alerts), newest first."""
    condition = (
        WebhookDelivery.endpoint_id.is_(None)
        if endpoint_id is None
        else WebhookDelivery.endpoint_id == endpoint_id
    )
    query = (
        select(WebhookDelivery)
        .where(condition)
        .order_by(WebhookDelivery.attempted_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return session.scalars(query).all()


def delivery_of_event(
    session: Session, endpoint_id: uuid.UUID, event_id: uuid.UUID
) -> WebhookDelivery | None:
    """The newest attempt to deliver this event to this endpoint, if any was made."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.event_id == event_id)
        .order_by(WebhookDelivery.attempted_at.desc())
        .limit(1)
    )
    return session.scalars(query).first()
