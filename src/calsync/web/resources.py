"""The REST resources: each table's field policy (:mod:`calsync.web.policy`) and its service calls.

Products, external calendars, bookings and capacity group dependencies are
written through their services (:mod:`calsync.services`); ``sync_runs`` and
``product_calendar_logs`` are read-only. A body's ``id`` (an upsert's) is given
to a service as the new row's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from calsync.errors import BadRequest
from calsync.services import bookings, calendars, links, products, webhooks
from calsync.services.calendars import EVENT_STATUS_SYNC, TRANSPARENT
from calsync.services.fields import (
    CUSTOMER,
    FEED_URL,
    NAME,
    NOTES,
    REFERENCE,
    SUMMARY,
    TIME_OFFSET,
    TIMEZONE,
    UNITS,
    WEBHOOK_URL,
    at_index,
)
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
from calsync.web.policy import FieldPath, Resource

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext


def _row_id(values: Mapping[str, Any]) -> dict[str, Any]:
    """A body's values as a service's ``add`` takes them: a given ``id`` is its ``row_id``."""
    translated = {name: value for name, value in values.items() if name != "id"}
    if "id" in values:
        translated["row_id"] = values["id"]
    return translated


@dataclass(frozen=True)
class Products(Resource):
    """Things that are rented out (:mod:`calsync.services.products`)."""

    def create(
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """New products; ``feed_token`` is made by the service."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(None if indexes is None else indexes[i]):
                made.append(products.add(session, ctx, **_row_id(item)))
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
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """New calendars, due at once, named after their channel unless a name is given."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(None if indexes is None else indexes[i]):
                made.append(calendars.add(session, ctx, **_row_id(_calendar_values(item))))
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
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """Direct bookings, refused (409) when one would exceed a capacity; all or none.

        The bookings of an array are one main booking: they share a new ``group_id``
        unless they name one.
        """
        new = [
            bookings.NewBooking(**{k: v for k, v in item.items() if k != "external_calendar_id"})
            for item in items
        ]
        return list(bookings.add(session, ctx, new, indexes=indexes, grouped=indexes is not None))

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
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """New links; self-links, duplicates and cycles are refused (409)."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(None if indexes is None else indexes[i]):
                made.append(links.link(session, ctx, item["accumulator_id"], item["element_id"],
                                       row_id=item.get("id")))  # fmt: skip
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

    def fields(
        self,
        body: object,
        *,
        creating: bool,
        index: int | None = None,
        columns: frozenset[str] | None = None,
        with_id: bool = False,
    ) -> dict[str, Any]:
        """As any resource's; ``events`` (a list) and ``secret`` (POST) the service checks."""
        raw = dict(body) if isinstance(body, dict) else body
        names = ("events", "secret") if creating else ("events",)
        taken = {
            n: raw.pop(n)
            for n in names
            if isinstance(raw, dict) and n in raw and (columns is None or n in columns)
        }
        fields = super().fields(
            raw, creating=creating, index=index, columns=columns, with_id=with_id
        )
        return fields | taken

    def create(
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """New endpoints, each with its secret (generated when not given), shown this once."""
        made: list[Base] = []
        for i, item in enumerate(items):
            with at_index(None if indexes is None else indexes[i]):
                values = dict(item)
                row_id = values.pop("id", None)
                made.append(webhooks.add(session, ctx, row_id=row_id, **values))
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
_BOOKING_FIELDS = frozenset(
    {"starts_at", "ends_at", "all_day", "summary", "units", "status", "group_id", "reference",
     "customer", "notes"}
)  # fmt: skip

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
        rules={
            "summary": SUMMARY,
            "units": UNITS,
            "status": bookings.STATUS,
            "reference": REFERENCE,
            "customer": CUSTOMER,
            "notes": NOTES,
        },
        descriptions={
            "external_calendar_id": "Null for a direct booking; set for one imported from a feed "
            "(imported bookings are read-only).",
            "starts_at": "RFC 3339 instant (no offset: UTC; a space for the T is fine), or a "
            "date (midnight UTC) for all-day bookings.",
            "ends_at": "Exclusive end; for all-day bookings the check-out date.",
            "units": "Units of the product's capacity the booking takes (default 1).",
            "status": "confirmed and tentative block their nights, cancelled frees them "
            "(GET /v1/booking_statuses).",
            "group_id": "The main booking this one belongs to: the bookings of one array POST "
            "share a new one unless they name one. PATCH ?group_id=eq.… changes (cancels) the "
            "whole group in one transaction.",
            "reference": "The booking platform's own booking number; unique per product when "
            "set (a retried POST is refused with 409 naming the booking that has it). Imported "
            "bookings have none.",
            "customer": "Who booked, one line of free text (never exported).",
            "notes": "An internal note; may break lines (never exported).",
        },
        unique_keys=(("id",), ("product_id", "reference")),
    ),
    CapacityGroupDependencies(
        name="capacity_group_dependencies",
        model=CapacityGroupDependency,
        kind="capacity group dependency",
        create_fields=frozenset({"accumulator_id", "element_id"}),
        update_fields=frozenset({"accumulator_id", "element_id"}),
        required=frozenset({"accumulator_id", "element_id"}),
        unique_keys=(("id",), ("accumulator_id", "element_id")),
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
