"""The REST resources' field policy: which fields each shows, takes and filters, and their types.

Each resource is a :class:`Resource` over one table. Fields are the table's
column names; the shown ones are :func:`calsync.services.views.shown_columns`
(internal sync state is never shown, never written), and every shown field
filters. A shown field is written only when it is listed in ``create_fields``
(POST) or ``update_fields`` (PATCH), so a column added to a table later is
read-only in the API until someone decides otherwise.

A request body is read here into checked Python types (an unknown, read-only,
missing, null or mistyped field is a 400 naming it); what the values may be,
and what a write does, is the services' (:mod:`calsync.services`): a resource
only translates a body into a service call. The services' field rules are also
the JSON schema the OpenAPI document publishes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast

from calsync.errors import BadRequest
from calsync.services import bookings, calendars, links, products, webhooks
from calsync.services.calendars import EVENT_STATUS_SYNC, TRANSPARENT
from calsync.services.fields import (
    FEED_URL,
    NAME,
    SUMMARY,
    TIME_OFFSET,
    TIMEZONE,
    UNITS,
    WEBHOOK_URL,
    at_index,
)
from calsync.services.views import shown_columns
from calsync.store.models import (
    Base,
    Booking,
    BookingChange,
    CapacityGroupDependency,
    ExternalCalendar,
    Product,
    ProductCalendarLog,
    SyncRun,
    WebhookDelivery,
    WebhookEndpoint,
)
from calsync.web.query import check_text, parse_instant, python_type

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.orm import Session
    from sqlalchemy.sql.elements import KeyedColumnElement

    from calsync.services.context import WriteContext

ALWAYS_READ_ONLY = frozenset({"id", "created_at", "updated_at"})
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


@dataclass(frozen=True, slots=True)
class FieldPath:
    """Where in a request body a problem is, for messages: ``[2] ends_at``."""

    index: int | None
    name: str

    def __str__(self) -> str:
        return self.name if self.index is None else f"[{self.index}] {self.name}"

    def details(self) -> dict[str, Any]:
        """The error's JSON ``details``."""
        base: dict[str, Any] = {"field": self.name}
        if self.index is not None:
            base["index"] = self.index
        return base


@dataclass(frozen=True)
class Resource:
    """One REST resource over one table; writable ones translate bodies into service calls."""

    name: str
    model: type[Base]
    kind: str
    """The singular, for messages: ``product``, ``external calendar``."""
    create_fields: frozenset[str] = frozenset()
    update_fields: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    rules: Mapping[str, Any] = field(default_factory=dict)
    """The services' rule of each field that has one: its JSON schema is published."""
    descriptions: Mapping[str, str] = field(default_factory=dict)
    writable: bool = True

    flags: ClassVar[tuple[str, ...]] = ()
    """Query flags a write takes (``force``)."""

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The fields shown: ``id``, the table's own, then ``created_at`` and ``updated_at``."""
        return shown_columns(self.model)

    def column(self, name: str) -> KeyedColumnElement[Any]:
        """The table column of a field."""
        return self.model.__table__.columns[name]

    def writable_fields(self, *, creating: bool) -> tuple[str, ...]:
        """The fields a POST (``creating``) or a PATCH may set."""
        allowed = (self.create_fields if creating else self.update_fields) - ALWAYS_READ_ONLY
        return tuple(name for name in self.columns if name in allowed)

    def fields(self, body: object, *, creating: bool, index: int | None = None) -> dict[str, Any]:
        """A JSON object of a request body as Python values of the columns' types, by field name."""
        where = "" if index is None else f"[{index}] "
        if not isinstance(body, dict):
            raise BadRequest(
                f"{where}expected a JSON object with the fields of a {self.kind}",
                details={} if index is None else {"index": index},
            )
        allowed = self.writable_fields(creating=creating)
        columns = {c.key for c in self.model.__table__.columns}
        for problem, names in (
            ("unknown", sorted(name for name in body if name not in columns)),
            ("read-only", sorted(name for name in body if name in columns and name not in allowed)),
            ("missing required", sorted(self.required - set(body)) if creating else []),
        ):
            if names:
                raise BadRequest(
                    f"{where}{problem} field{'s' if len(names) > 1 else ''} of a {self.kind}: "
                    + ", ".join(names),
                    details=_indexed({"fields": names}, index),
                )
        return {name: self.value(FieldPath(index, name), value) for name, value in body.items()}

    def value(self, where: FieldPath, value: object) -> object:
        """One field's JSON value as the column's Python type (not null unless it may be)."""
        column = self.column(where.name)
        if value is None:
            if column.nullable:
                return None
            raise BadRequest(f"{where}: must not be null", details=where.details())
        return _convert(python_type(column), where, value)

    # --- writes: translated into service calls -----------------------------------------

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """Create one row per item (``array``: the body was an array; errors name the index)."""
        raise NotImplementedError

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Apply ``values`` to every row."""
        raise NotImplementedError

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete the rows."""
        raise NotImplementedError


def _indexed(details: dict[str, Any], index: int | None) -> dict[str, Any]:
    return details if index is None else {**details, "index": index}


def _convert(kind: type, where: FieldPath, value: object) -> object:
    if kind is str and isinstance(value, str):
        return check_text(value, field=str(where))
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            return value
    if kind is uuid.UUID and isinstance(value, str) and _UUID.match(value):
        return uuid.UUID(value)
    if kind is datetime and isinstance(value, str):
        return parse_instant(value, field=str(where))
    expected = {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        uuid.UUID: "a UUID string",
        datetime: "an RFC 3339 instant string",
    }.get(kind, str(kind))
    raise BadRequest(f"{where}: expected {expected}, got {value!r:.80}", details=where.details())


@dataclass(frozen=True)
class Products(Resource):
    """Things that are rented out (:mod:`calsync.services.products`)."""

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """New products; ``feed_token`` is made by the service."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(i if array else None):
                made.append(products.add(session, ctx, **item))
        return made

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Rename, move to another timezone, change the capacity."""
        products.update(session, ctx, cast("Sequence[Product]", rows), cast("Any", values))

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete products with their calendars and bookings (as PostgREST deletes: no asking)."""
        products.remove(session, ctx, cast("Sequence[Product]", rows), force=True)


@dataclass(frozen=True)
class ExternalCalendars(Resource):
    """Channel feeds (:mod:`calsync.services.calendars`); any ``sync_requested_at`` means now."""

    def value(self, where: FieldPath, value: object) -> object:
        """Any value of ``sync_requested_at`` means "now"; the rest as usual."""
        if where.name == "sync_requested_at":
            return value
        return super().value(where, value)

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """New calendars, due at once, named after their channel unless a name is given."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(i if array else None):
                made.append(calendars.add(session, ctx, **_calendar_values(item)))
        return made

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Change settings; a new URL forgets the old feed's validators and syncs at once."""
        calendars.update(
            session,
            ctx,
            cast("Sequence[ExternalCalendar]", rows),
            cast("Any", _calendar_values(values)),
        )

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete the calendars and their imported bookings, counted in ``ctx``."""
        calendars.remove(session, ctx, cast("Sequence[ExternalCalendar]", rows))


def _calendar_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A body's values as the calendars service names them: ``sync_requested_at`` asks a sync."""
    translated = {name: value for name, value in values.items() if name != "sync_requested_at"}
    if "sync_requested_at" in values:
        translated["request_sync"] = True
    return translated


@dataclass(frozen=True)
class Bookings(Resource):
    """Direct bookings (:mod:`calsync.services.bookings`); imported ones change by their feed."""

    flags: ClassVar[tuple[str, ...]] = ("force",)

    def value(self, where: FieldPath, value: object) -> object:
        """``external_calendar_id`` may only be null: imported bookings come from a sync."""
        if where.name == "external_calendar_id" and value is not None:
            raise BadRequest(
                f"{where}: bookings with an external calendar are made by its sync; "
                "a booking made through the API has external_calendar_id null",
                details=where.details(),
            )
        return super().value(where, value)

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """Direct bookings, refused (409) when one would exceed a capacity; all or none."""
        new = [
            bookings.NewBooking(**{k: v for k, v in item.items() if k != "external_calendar_id"})
            for item in items
        ]
        return list(bookings.add(session, ctx, new, indexed=array))

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Move, resize, rename, confirm or cancel direct bookings, within capacity."""
        bookings.update(session, ctx, cast("Sequence[Booking]", rows), cast("Any", values))

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete direct bookings (imported ones: 409)."""
        bookings.delete(session, ctx, cast("Sequence[Booking]", rows))


@dataclass(frozen=True)
class CapacityGroupDependencies(Resource):
    """Accumulator products made of element products (:mod:`calsync.services.links`)."""

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """New links; self-links, duplicates and cycles are refused (409)."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(i if array else None):
                made.append(links.link(session, ctx, item["accumulator_id"], item["element_id"]))
        return made

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Change links, each checked against the others."""
        links.update(
            session, ctx, cast("Sequence[CapacityGroupDependency]", rows), cast("Any", values)
        )

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Remove links; both ends get a new feed version."""
        links.delete(session, ctx, cast("Sequence[CapacityGroupDependency]", rows))


@dataclass(frozen=True)
class WebhookEndpoints(Resource):
    """Where events go (:mod:`calsync.services.webhooks`); the secret is shown at creation only."""

    def fields(self, body: object, *, creating: bool, index: int | None = None) -> dict[str, Any]:
        """As any resource's; ``events`` (a list) and ``secret`` (POST) the service checks."""
        raw = dict(body) if isinstance(body, dict) else body
        names = ("events", "secret") if creating else ("events",)
        taken = {n: raw.pop(n) for n in names if isinstance(raw, dict) and n in raw}
        return super().fields(raw, creating=creating, index=index) | taken

    def create(
        self, session: Session, items: Sequence[dict[str, Any]], ctx: WriteContext, *, array: bool
    ) -> list[Base]:
        """New endpoints, each with its secret (generated when not given), shown this once."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(i if array else None):
                made.append(webhooks.add(session, ctx, **item))
        return made

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Change the URL, events, description or activity."""
        webhooks.update(session, ctx, cast("Sequence[WebhookEndpoint]", rows), cast("Any", values))

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete endpoints with their pending messages and deliveries."""
        webhooks.remove(session, ctx, cast("Sequence[WebhookEndpoint]", rows))


_ENDPOINT_FIELDS = frozenset({"url", "events", "description", "active"})
_CALENDAR_SETTINGS = frozenset(
    {
        "name",
        "ical_url",
        "active",
        "sync_requested_at",
        "time_offset",
        "event_status_sync",
        "transparent_events",
        "units",
    }
)
_BOOKING_FIELDS = frozenset({"starts_at", "ends_at", "all_day", "summary", "units", "status"})

RESOURCES: tuple[Resource, ...] = (
    Products(
        name="products",
        model=Product,
        kind="product",
        create_fields=frozenset({"name", "timezone", "capacity"}),
        update_fields=frozenset({"name", "timezone", "capacity"}),
        required=frozenset({"name"}),
        rules={"name": NAME, "timezone": TIMEZONE, "capacity": UNITS},
        descriptions={
            "timezone": "IANA timezone name (default: the `products.default_timezone` setting).",
            "capacity": "Units that can be booked at once (default 1).",
            "feed_token": "The secret in the product's outbound feed URL (read-only; "
            "`POST /v1/products/{id}/rotate_feed_token` makes a new one).",
        },
    ),
    ExternalCalendars(
        name="external_calendars",
        model=ExternalCalendar,
        kind="external calendar",
        create_fields=frozenset(_CALENDAR_SETTINGS | {"product_id"}),
        update_fields=_CALENDAR_SETTINGS,
        required=frozenset({"product_id", "ical_url"}),
        rules={
            "name": NAME,
            "ical_url": FEED_URL,
            "time_offset": TIME_OFFSET,
            "event_status_sync": EVENT_STATUS_SYNC,
            "transparent_events": TRANSPARENT,
            "units": UNITS,
        },
        descriptions={
            "name": "Defaults to the feed's registrable domain (`tld`).",
            "ical_url": "The channel's iCal export URL: http, https or webcal.",
            "sync_requested_at": "Write any value to sync now; it is set to the current time.",
            "time_offset": "Hours added to every imported timed event (-48 to 48).",
            "units": "Units of the product each imported block takes (default 1).",
            "transparent_events": "`block` (default: the `sync.transparent_events` setting): "
            'TRANSP:TRANSPARENT ("free") events block like the others, as Airbnb and '
            "Booking.com import them; `skip`: they import as nothing.",
            "tld": "The registrable domain of `ical_url`: the channel (read-only).",
            "error": "The last sync failure's message, null after a success (read-only).",
            "last_synced": "When the calendar last synced successfully (read-only).",
            "updated_at": "When the feed last brought new or changed events (read-only).",
        },
    ),
    Bookings(
        name="bookings",
        model=Booking,
        kind="booking",
        create_fields=frozenset(_BOOKING_FIELDS | {"product_id", "external_calendar_id"}),
        update_fields=_BOOKING_FIELDS,
        required=frozenset({"product_id", "starts_at", "ends_at"}),
        rules={"summary": SUMMARY, "units": UNITS, "status": bookings.STATUS},
        descriptions={
            "external_calendar_id": "Null for a direct booking; set for one imported from a feed "
            "(imported bookings are read-only).",
            "starts_at": "RFC 3339 instant, or a date (midnight UTC) for all-day bookings.",
            "ends_at": "Exclusive end; for all-day bookings the check-out date.",
        },
    ),
    CapacityGroupDependencies(
        name="capacity_group_dependencies",
        model=CapacityGroupDependency,
        kind="capacity group dependency",
        create_fields=frozenset({"accumulator_id", "element_id"}),
        update_fields=frozenset({"accumulator_id", "element_id"}),
        required=frozenset({"accumulator_id", "element_id"}),
    ),
    Resource(name="sync_runs", model=SyncRun, kind="sync run", writable=False),
    Resource(
        name="booking_changes",
        model=BookingChange,
        kind="booking change",
        writable=False,
        descriptions={
            "kind": "created, updated, rekeyed, cancelled, deleted, held or released.",
            "sync_run_id": "The sync run that made the change (null for a direct write).",
            "actor": "Who made a direct write: `api_key:<id>`, `cli:<user@host>` or "
            "`ui:<username>` (null for a sync).",
        },
    ),
    WebhookEndpoints(
        name="webhook_endpoints",
        model=WebhookEndpoint,
        kind="webhook endpoint",
        create_fields=_ENDPOINT_FIELDS,
        update_fields=_ENDPOINT_FIELDS,
        required=frozenset({"url"}),
        rules={"url": WEBHOOK_URL, "events": webhooks.EVENTS, "description": webhooks.DESCRIPTION},
        descriptions={
            "url": "Where events are POSTed (http or https), as Standard Webhooks.",
            "events": "The event types it receives, a list (empty: all).",
            "secret": "`whsec_…`: the signing secret. Give one on POST or have one generated; "
            "shown in full in the POST's answer only, masked afterwards.",
            "failing_since": "When its deliveries started failing (read-only).",
            "disabled_reason": "Why calsync disabled it (read-only).",
        },
    ),
    Resource(
        name="webhook_deliveries", model=WebhookDelivery, kind="webhook delivery", writable=False
    ),
    Resource(
        name="product_calendar_logs",
        model=ProductCalendarLog,
        kind="product calendar log",
        writable=False,
    ),
)


def resource_named(name: str) -> Resource:
    """The resource called ``name``."""
    return next(resource for resource in RESOURCES if resource.name == name)
