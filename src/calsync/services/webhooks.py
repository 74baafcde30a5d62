"""Webhook endpoints: add, change, remove, list; their deliveries; a test event.

An endpoint has a ``url`` (``http`` or ``https``, checked as feed URLs are, and
SSRF-guarded when events are sent, under the same ``fetch.*`` allow settings),
the ``events`` it wants (a list of :data:`~calsync.services.journal.EVENT_TYPES`;
empty: all), a ``secret`` (``whsec_`` and base64, as Standard Webhooks signs
with; generated when absent, shown when the endpoint is created and masked
afterwards, like an API key), ``active`` and a ``description``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from calsync.services.fields import WEBHOOK_URL, Text, refuse
from calsync.services.journal import EVENT_TYPES, emit_to
from calsync.services.views import REVEALED
from calsync.store import webhooks as store

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
_SECRET_BYTES = 24
_MIN_SECRET_BYTES = 16
_MAX_SECRET_BYTES = 64
DESCRIPTION = Text(max_length=500, plain=True)


class EndpointChanges(TypedDict, total=False):
    """The fields of an endpoint a write may set."""

    url: str
    events: list[str]
    active: bool
    description: str


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def check_secret(field: str, value: str) -> str:
    """``value``, or a 400: a secret is ``whsec_`` and base64 of 16 to 64 bytes."""
    try:
        raw = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if (
        not value.startswith(SECRET_PREFIX)
        or not _MIN_SECRET_BYTES <= len(raw) <= _MAX_SECRET_BYTES
    ):
        raise refuse(
            field,
            f"expected {SECRET_PREFIX} and the base64 of {_MIN_SECRET_BYTES} to "
            f"{_MAX_SECRET_BYTES} bytes (leave it out to have one generated)",
        )
    return value


@dataclass(frozen=True, slots=True)
class EventTypes:
    """A list of event types (:data:`~calsync.services.journal.EVENT_TYPES`); empty: all."""

    def check(self, field: str, value: object) -> list[str]:
        """The event types without repeats, or a 400 naming the unknown one."""
        if not isinstance(value, list | tuple) or not all(isinstance(n, str) for n in value):
            raise refuse(field, "expected a list of event types (empty: all)")
        for name in value:
            if name not in EVENT_TYPES:
                known = ", ".join(EVENT_TYPES)
                raise refuse(field, f"unknown event type {name!r}; one of {known}")
        return list(dict.fromkeys(value))

    def schema(self) -> dict[str, Any]:
        """The JSON-schema of the field."""
        return {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}}


EVENTS = EventTypes()


def check(changes: EndpointChanges) -> EndpointChanges:
    """The values, checked (a 400 naming the first field that is wrong)."""
    if "url" in changes:
        WEBHOOK_URL.check("url", changes["url"])
    if "events" in changes:
        changes["events"] = EVENTS.check("events", changes["events"])
    if "description" in changes:
        DESCRIPTION.check("description", changes["description"])
    return changes


def add(
    session: Session,
    ctx: WriteContext,
    *,
    url: str,
    events: Sequence[str] = (),
    secret: str | None = None,
    description: str = "",
    active: bool = True,
    row_id: uuid.UUID | None = None,
) -> WebhookEndpoint:
    """A new endpoint (new id unless ``row_id``); its secret (made when not given) is shown once."""
    values = check({"url": url, "events": events, "description": description})  # type: ignore[typeddict-item]
    secret = check_secret("secret", secret) if secret is not None else new_secret()
    endpoint = store.add_endpoint(
        session, url=values["url"], events=values["events"], secret=secret,
        description=values["description"], active=active, now=ctx.now, endpoint_id=row_id,
    )  # fmt: skip
    setattr(endpoint, REVEALED, secret)
    return endpoint


def update(
    session: Session,
    ctx: WriteContext,
    endpoints: Sequence[WebhookEndpoint],
    changes: EndpointChanges,
) -> None:
    """Change endpoints; one made active again starts with a clean slate (not failing)."""
    check(changes)
    for endpoint in endpoints:
        if "url" in changes:
            endpoint.url = changes["url"]
        if "events" in changes:
            endpoint.events = json_list(changes["events"])
        if "description" in changes:
            endpoint.description = changes["description"]
        if "active" in changes:
            if changes["active"] and not endpoint.active:
                endpoint.failing_since = None
                endpoint.disabled_reason = None
            endpoint.active = changes["active"]
        endpoint.updated_at = ctx.now
    session.flush()


def json_list(values: Sequence[str]) -> str:
    """A list of event types as the column keeps it."""
    return json.dumps(list(values))


def remove(session: Session, ctx: WriteContext, endpoints: Sequence[WebhookEndpoint]) -> None:
    """Delete endpoints, with their pending messages and their deliveries."""
    del ctx  # the same signature as every write
    store.delete_endpoints(session, endpoints)


def get(session: Session, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """The endpoint with this id, or :class:`~calsync.errors.NotFound`."""
    return store.get_endpoint(session, endpoint_id)


def listed(session: Session) -> Sequence[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return store.list_endpoints(session)


def recent_deliveries(
    session: Session, endpoint_id: uuid.UUID, *, limit: int = 50
) -> Sequence[WebhookDelivery]:
    """The endpoint's newest delivery attempts, newest first."""
    store.get_endpoint(session, endpoint_id)
    return store.deliveries(session, endpoint_id, limit=limit)


def delivery_of_event(
    session: Session, endpoint_id: uuid.UUID, event_id: uuid.UUID
) -> WebhookDelivery | None:
    """The newest attempt to deliver this event to this endpoint (by any replica), if any."""
    return store.delivery_of_event(session, endpoint_id, event_id)


def queue_test(session: Session, ctx: WriteContext, endpoint_id: uuid.UUID) -> uuid.UUID:
    """Write a ``test`` event for this endpoint only; its id (sent by the delivery loop)."""
    endpoint = store.get_endpoint(session, endpoint_id)
    data: dict[str, Any] = {
        "webhook_endpoint_id": str(endpoint.id),
        "message": "a test event from calsync",
        "cause": ctx.cause.as_json(),
    }
    return emit_to(session, endpoint.id, "test", data, now=ctx.now)
