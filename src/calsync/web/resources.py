"""The REST resources: which fields each shows and takes, their checks, and how writes happen.

Each resource is a :class:`Resource` over one table. Fields are the table's
column names. A field is *hidden* (never shown, never written: internal sync
state) or shown; a shown field is written only when it is listed in
``create_fields`` (POST) or ``update_fields`` (PATCH), so a column added to a
table later is read-only in the API until someone decides otherwise. The
JSON-schema fragments in
:attr:`Resource.constraints` are enforced here and published in the OpenAPI
document, so the two cannot disagree.

Write methods take the caller's session and a :class:`WriteContext`; they raise
:class:`~calsync.errors.ApiError` subclasses for anything a client got wrong.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import available_timezones

from sqlalchemy import select

from calsync.bookings import BLOCKING_STATUSES, collision
from calsync.channels import feed_host, registrable_domain
from calsync.core.availability import Graph
from calsync.core.feed_url import feed_url_problem
from calsync.core.ical_in import TRANSPARENT_EVENTS
from calsync.core.text import check_plain_text
from calsync.errors import BadRequest, Conflict, ImportedBooking
from calsync.redact import redact_url
from calsync.store import repo
from calsync.store.models import (
    Base,
    Booking,
    CapacityGroupDependency,
    ExternalCalendar,
    Product,
    ProductCalendarLog,
    SyncRun,
)
from calsync.web.query import INT_MAX, check_text, parse_instant, python_type

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy.orm import Session
    from sqlalchemy.sql.elements import KeyedColumnElement

ALWAYS_READ_ONLY = frozenset({"id", "created_at", "updated_at"})
_NIGHTS_LISTED = 5  # in a 409's message; details.nights has them all
URL_MAX_LENGTH = 2048
TIME_OFFSET_LIMIT = 48
"""``time_offset`` is hours, from -48 to 48: enough for any channel's timezone mistake."""
BOOKING_STATUSES = ("confirmed", "tentative", "cancelled")
EVENT_STATUS_SYNC = ("import", "CONFIRMED", "TENTATIVE")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_URL_PATTERN = "^([Hh][Tt][Tt][Pp][Ss]?|[Ww][Ee][Bb][Cc][Aa][Ll])://"


@dataclass(frozen=True, slots=True)
class BookingBounds:
    """Where a direct booking may lie: from the sync window's start to some years ahead."""

    earliest: datetime
    latest: datetime

    @classmethod
    def around(cls, now: datetime, *, past_days: int, horizon_years: int) -> BookingBounds:
        """From ``now - past_days`` (``sync.past_days``) to ``horizon_years`` ahead."""
        try:
            latest = now.replace(year=now.year + horizon_years)
        except ValueError:  # 29 February, and the year ahead is not a leap year
            latest = now.replace(year=now.year + horizon_years, day=28)
        return cls(now - timedelta(days=past_days), latest)

    def check(self, booking: Booking) -> None:
        """A 400 naming the field and the bounds when the booking lies outside them."""
        for name, outside in (
            ("starts_at", booking.starts_at < self.earliest),
            ("ends_at", booking.ends_at > self.latest),
        ):
            if outside:
                moment: datetime = getattr(booking, name)
                raise BadRequest(
                    f"{name}: a booking lies from {_iso(self.earliest)} (the sync window's "
                    f"start, sync.past_days) to {_iso(self.latest)} "
                    f"(api.booking_horizon_years); got {_iso(moment)}",
                    details={"field": name, "value": _iso(moment),
                             "earliest": _iso(self.earliest), "latest": _iso(self.latest)},
                )  # fmt: skip


@dataclass
class WriteContext:
    """What a write needs besides the session, and what it asks of the caller afterwards."""

    now: datetime
    default_timezone: str = "UTC"
    default_transparent_events: str = "block"
    """``transparent_events`` of a new calendar that does not say (``sync.transparent_events``)."""
    force: bool = False
    booking_bounds: BookingBounds | None = None
    """Where direct bookings may lie; None: anywhere (the CLI's own checks apply)."""
    wake: bool = False
    """Set by a write that made a calendar due: the caller wakes the dispatcher after commit."""
    deleted_bookings: dict[uuid.UUID, int] = field(default_factory=dict)
    """Set by a delete of calendars: the bookings deleted with each, by calendar id."""


@dataclass(frozen=True, slots=True)
class FieldPath:
    """Where in a request body a problem is, for messages: ``[2] ends_at``."""

    index: int | None
    name: str

    def __str__(self) -> str:
        return self.name if self.index is None else f"[{self.index}] {self.name}"

    def details(self, **more: object) -> dict[str, Any]:
        """The error's JSON ``details``."""
        base: dict[str, Any] = {"field": self.name}
        if self.index is not None:
            base["index"] = self.index
        return base | more


@dataclass(frozen=True)
class Resource:
    """One REST resource over one table; subclasses add its defaults and rules."""

    name: str
    model: type[Base]
    kind: str
    """The singular, for messages: ``product``, ``external calendar``."""
    hidden: frozenset[str] = frozenset()
    create_fields: frozenset[str] = frozenset()
    update_fields: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    constraints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    plain_text: frozenset[str] = frozenset()
    """Text fields that refuse control characters (names, summaries): see ``core/text``."""
    writable: bool = True

    references: ClassVar[Mapping[str, type[Base]]] = {}
    """UUID fields that name a row of another table, which must exist."""

    # --- fields --------------------------------------------------------------------

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The fields shown: ``id``, the table's own, then ``created_at`` and ``updated_at``."""
        own = [c.key for c in self.model.__table__.columns if c.key not in self.hidden]
        common = ("id", "created_at", "updated_at")
        return ("id", *(name for name in own if name not in common), *common[1:])

    def column(self, name: str) -> KeyedColumnElement[Any]:
        """The table column of a field."""
        return self.model.__table__.columns[name]

    def writable_fields(self, *, creating: bool) -> tuple[str, ...]:
        """The fields a POST (``creating``) or a PATCH may set."""
        allowed = (self.create_fields if creating else self.update_fields) - ALWAYS_READ_ONLY
        return tuple(name for name in self.columns if name in allowed)

    def fields(self, body: object, *, creating: bool, index: int | None = None) -> dict[str, Any]:
        """A JSON object of a request body as checked Python values, by field name."""
        where = "" if index is None else f"[{index}] "
        if not isinstance(body, dict):
            raise BadRequest(
                f"{where}expected a JSON object with the fields of a {self.kind}",
                details={} if index is None else {"index": index},
            )
        allowed = self.writable_fields(creating=creating)
        columns = {c.key for c in self.model.__table__.columns}
        unknown = sorted(name for name in body if name not in columns)
        if unknown:
            raise BadRequest(
                f"{where}unknown field{'s' if len(unknown) > 1 else ''} of a {self.kind}: "
                + ", ".join(unknown),
                details=_indexed({"fields": unknown}, index),
            )
        refused = sorted(name for name in body if name not in allowed)
        if refused:
            raise BadRequest(
                f"{where}read-only field{'s' if len(refused) > 1 else ''} of a {self.kind}: "
                + ", ".join(refused),
                details=_indexed({"fields": refused}, index),
            )
        if creating:
            missing = sorted(name for name in self.required if name not in body)
            if missing:
                raise BadRequest(
                    f"{where}missing required field{'s' if len(missing) > 1 else ''} of a "
                    f"{self.kind}: " + ", ".join(missing),
                    details=_indexed({"fields": missing}, index),
                )
        return {name: self.value(FieldPath(index, name), value) for name, value in body.items()}

    def value(self, where: FieldPath, value: object) -> object:
        """One field's JSON value as the column's Python type, within its constraints."""
        column = self.column(where.name)
        if value is None:
            if column.nullable:
                return None
            raise BadRequest(f"{where}: must not be null", details=where.details())
        kind = python_type(column)
        converted = _convert(kind, where, value)
        if where.name in self.plain_text and isinstance(converted, str):
            try:
                check_plain_text(converted)
            except ValueError as exc:
                raise BadRequest(f"{where}: {exc}", details=where.details()) from exc
        _check_constraints(where, converted, self.constraints.get(where.name, {}))
        return converted

    def check_references(self, session: Session, values: Mapping[str, Any]) -> None:
        """Every referenced row exists (a 400 naming the field otherwise)."""
        for name, model in self.references.items():
            value = values.get(name)
            if value is not None and session.get(model, value) is None:
                kind = model.__tablename__.removesuffix("s").replace("_", " ")
                raise BadRequest(
                    f"{name}: no {kind} with id {value}",
                    details={"field": name, "value": str(value)},
                )

    # --- writes ---------------------------------------------------------------------

    def lock(self, session: Session, items: Sequence[Mapping[str, Any]]) -> None:
        """Take, in one go, the locks that writing ``items`` needs, before the first is checked."""

    def create(self, session: Session, values: dict[str, Any], ctx: WriteContext) -> Base:
        """Insert one row from checked ``values``."""
        self.check_references(session, values)
        row = self.model(**values, created_at=ctx.now, updated_at=ctx.now)
        session.add(row)
        session.flush()
        return row

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Apply checked ``values`` to every row."""
        self.check_references(session, values)
        for row in rows:
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = ctx.now
        session.flush()

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:  # noqa: ARG002 - subclasses use ctx
        """Delete the rows (the database cascades to what hangs off them)."""
        for row in rows:
            session.delete(row)
        session.flush()


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


def _check_constraints(where: FieldPath, value: object, constraints: Mapping[str, Any]) -> None:
    problem: str | None = None
    if "enum" in constraints and value not in constraints["enum"]:
        problem = "one of " + ", ".join(str(option) for option in constraints["enum"])
    elif isinstance(value, int) and not isinstance(value, bool):
        low = constraints.get("minimum", -INT_MAX - 1)
        high = constraints.get("maximum", INT_MAX)
        if not low <= value <= high:
            problem = f"an integer from {low} to {high}"
    elif (
        isinstance(value, str)
        and "pattern" in constraints
        and not re.search(constraints["pattern"], value)
    ):
        problem = f"a value matching {constraints['pattern']}"
    elif isinstance(value, str):
        low = constraints.get("minLength", 0)
        high = constraints.get("maxLength")
        if len(value) < low or (high is not None and len(value) > high):
            problem = f"{low} to {high} characters" if high is not None else f"at least {low}"
    if problem is not None:
        raise BadRequest(f"{where}: expected {problem}", details=where.details())


def _int_range(low: int, high: int = INT_MAX) -> dict[str, Any]:
    return {"minimum": low, "maximum": high}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(where: FieldPath, name: str) -> str:
    """An IANA timezone name, or a 400 naming the field."""
    if name not in _timezones():
        raise BadRequest(f"{where}: unknown IANA timezone {name!r:.80}", details=where.details())
    return name


def check_feed_url(where: FieldPath, url: str) -> str:
    """A feed URL calsync can fetch (:func:`feed_url_problem`), or a 400 naming the field."""
    problem = feed_url_problem(url)
    if problem is not None:
        raise BadRequest(
            f"{where}: not a feed URL: {problem} ({redact_url(url)[:200]})",
            details=where.details(),
        )
    return url


# --- products --------------------------------------------------------------------------


@dataclass(frozen=True)
class Products(Resource):
    """Things that are rented out; ``feed_token`` is made here and rotated elsewhere."""

    def create(self, session: Session, values: dict[str, Any], ctx: WriteContext) -> Base:
        """A product with the default timezone, capacity 1 and a new feed token."""
        self._check(values)
        values.setdefault("timezone", ctx.default_timezone)
        values.setdefault("capacity", 1)
        return super().create(session, {**values, "feed_token": repo.new_feed_token()}, ctx)

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Rename, move to another timezone, change the capacity."""
        self._check(values)
        super().update(session, rows, values, ctx)

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete products; the products linked to them get a new feed version."""
        deleted = {row.id for row in rows}
        graph = Graph.of(repo.dependency_links(session))
        linked = {other for product_id in deleted for other in graph.related(product_id)}
        repo.touch_feed_version(session, linked - deleted, ctx.now)
        super().delete(session, rows, ctx)

    @staticmethod
    def _check(values: dict[str, Any]) -> None:
        if "timezone" in values:
            check_timezone(FieldPath(None, "timezone"), values["timezone"])


# --- external calendars ----------------------------------------------------------------


@dataclass(frozen=True)
class ExternalCalendars(Resource):
    """Channel feeds; ``tld`` follows ``ical_url``; ``sync_requested_at`` triggers a sync."""

    references: ClassVar[Mapping[str, type[Base]]] = {"product_id": Product}

    def fields(self, body: object, *, creating: bool, index: int | None = None) -> dict[str, Any]:
        """As :meth:`Resource.fields`; ``ical_url`` is checked as a feed URL."""
        values = super().fields(body, creating=creating, index=index)
        if "ical_url" in values:
            check_feed_url(FieldPath(index, "ical_url"), values["ical_url"])
        return values

    def value(self, where: FieldPath, value: object) -> object:
        """Any value of ``sync_requested_at`` means "now"; the rest as usual."""
        if where.name == "sync_requested_at":
            return value
        return super().value(where, value)

    def create(self, session: Session, values: dict[str, Any], ctx: WriteContext) -> Base:
        """A calendar due at once, named after its channel unless a name is given."""
        self.check_references(session, values)
        url = values["ical_url"]
        tld = registrable_domain(url)
        calendar = ExternalCalendar(
            product_id=values["product_id"],
            name=values.get("name") or tld or feed_host(url) or "calendar",
            ical_url=url,
            active=values.get("active", True),
            time_offset=values.get("time_offset", 0),
            event_status_sync=values.get("event_status_sync", "import"),
            transparent_events=values.get("transparent_events", ctx.default_transparent_events),
            units=values.get("units", 1),
            tld=tld,
            next_sync_at=ctx.now,
            sync_requested_at=ctx.now if "sync_requested_at" in values else None,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        session.add(calendar)
        session.flush()
        ctx.wake = True
        return calendar

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Change settings; a new URL forgets the old feed's validators and syncs at once.

        ``updated_at`` is left alone: it means "when the feed last brought changes".
        """
        for row in rows:
            assert isinstance(row, ExternalCalendar)  # noqa: S101 - rows of this table
            for name in (
                "name",
                "active",
                "time_offset",
                "event_status_sync",
                "transparent_events",
            ):
                if name in values:
                    setattr(row, name, values[name])
            if "units" in values and values["units"] != row.units:
                row.units = values["units"]
                repo.touch_feed_version(session, [row.product_id], ctx.now)
            if "ical_url" in values and values["ical_url"] != row.ical_url:
                row.ical_url = values["ical_url"]
                row.tld = registrable_domain(row.ical_url)
                row.etag = row.last_modified = row.content_digest = row.prodid = None
                row.next_sync_at = ctx.now
                ctx.wake = True
            if "sync_requested_at" in values:
                row.sync_requested_at = ctx.now
                ctx.wake = True
        session.flush()

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete the calendars and the bookings imported from them, counted in ``ctx``."""
        for row in rows:
            ctx.deleted_bookings[row.id] = repo.remove_calendar(session, row.id)
        session.flush()


# --- bookings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bookings(Resource):
    """Direct bookings are written here; imported ones only change through their feed."""

    references: ClassVar[Mapping[str, type[Base]]] = {"product_id": Product}

    def value(self, where: FieldPath, value: object) -> object:
        """``external_calendar_id`` may only be null: imported bookings come from a sync."""
        if where.name == "external_calendar_id" and value is not None:
            raise BadRequest(
                f"{where}: bookings with an external calendar are made by its sync; "
                "a booking made through the API has external_calendar_id null",
                details=where.details(),
            )
        return super().value(where, value)

    def lock(self, session: Session, items: Sequence[Mapping[str, Any]]) -> None:
        """Serialize with every other write to the groups of the products booked.

        All the groups of a bulk POST (or of a PATCH of many bookings) are locked at
        once, in one fixed order, so two such writes that touch the same groups in
        a different order cannot deadlock (:func:`repo.lock_groups`).
        """
        repo.lock_groups(session, {item["product_id"] for item in items})

    def create(self, session: Session, values: dict[str, Any], ctx: WriteContext) -> Base:
        """A direct booking, refused (409) when it would exceed the product's capacity."""
        self.check_references(session, values)
        booking = Booking(
            product_id=values["product_id"],
            external_calendar_id=None,
            starts_at=values["starts_at"],
            ends_at=values["ends_at"],
            all_day=values.get("all_day", False),
            summary=values.get("summary", ""),
            units=values.get("units", 1),
            status=values.get("status", "confirmed"),
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        _check_times(booking)
        if ctx.booking_bounds is not None:
            ctx.booking_bounds.check(booking)
        if booking.status in BLOCKING_STATUSES and not ctx.force:
            _check_capacity(session, booking)
        session.add(booking)
        session.flush()
        repo.touch_feed_version(session, [booking.product_id], ctx.now)
        return booking

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Move, resize, rename, confirm or cancel direct bookings, within capacity."""
        bookings = [row for row in rows if isinstance(row, Booking)]
        _refuse_imported(session, bookings, "changed")
        self.lock(session, [{"product_id": booking.product_id} for booking in bookings])
        for booking in bookings:
            before = (booking.starts_at, booking.ends_at, booking.units, booking.status)
            for name, value in values.items():
                setattr(booking, name, value)
            booking.updated_at = ctx.now
            _check_times(booking)
            moved = (booking.starts_at, booking.ends_at) != before[:2]
            if moved and ctx.booking_bounds is not None:
                ctx.booking_bounds.check(booking)
            grown = booking.units > before[2]
            revived = before[3] not in BLOCKING_STATUSES
            if (
                booking.status in BLOCKING_STATUSES
                and (moved or grown or revived)
                and not ctx.force
            ):
                _check_capacity(session, booking)
            session.flush()
        repo.touch_feed_version(session, {booking.product_id for booking in bookings}, ctx.now)

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete direct bookings (imported ones: 409)."""
        bookings = [row for row in rows if isinstance(row, Booking)]
        _refuse_imported(session, bookings, "deleted")
        super().delete(session, rows, ctx)
        repo.touch_feed_version(session, {booking.product_id for booking in bookings}, ctx.now)


def _check_times(booking: Booking) -> None:
    if booking.ends_at <= booking.starts_at:
        raise BadRequest(
            "ends_at must be after starts_at",
            details={"field": "ends_at", "starts_at": _iso(booking.starts_at),
                     "ends_at": _iso(booking.ends_at)},
        )  # fmt: skip
    if booking.all_day:
        for name in ("starts_at", "ends_at"):
            moment: datetime = getattr(booking, name)
            if moment.astimezone(UTC).timetz() != time(tzinfo=UTC):
                raise BadRequest(
                    f"{name}: an all-day booking starts and ends at midnight UTC "
                    f"(a date like 2026-12-01), got {_iso(moment)}",
                    details={"field": name, "value": _iso(moment)},
                )


def _check_capacity(session: Session, booking: Booking) -> None:
    """Refuse (409) a booking that does not fit its product's nights, after dependencies."""
    product = session.get(Product, booking.product_id)
    capacity = product.capacity if product is not None else 0
    found = collision(
        session,
        booking.product_id,
        booking.starts_at,
        booking.ends_at,
        all_day=booking.all_day,
        units=booking.units,
        exclude_id=booking.id,
    )
    if found is None:
        return
    nights = [night.night.isoformat() for night in found.nights]
    listed = nights[:_NIGHTS_LISTED]
    more = len(nights) - len(listed)
    shown = ", ".join(listed) + (f" and {more} more" if more else "")
    message = (
        f"{len(nights)} night{'s' if len(nights) > 1 else ''} not available "
        f"for {booking.units} unit{'s' if booking.units > 1 else ''}: {shown}; "
        "add force=true to book anyway"
    )
    raise Conflict(
        message,
        details={
            "capacity": capacity,
            "nights": nights,
            "conflicts": [
                {
                    "booking_id": str(other.id),
                    "product_id": str(other.product_id),
                    "starts_at": _iso(other.starts_at),
                    "ends_at": _iso(other.ends_at),
                    "external_calendar_id": (
                        str(other.external_calendar_id) if other.external_calendar_id else None
                    ),
                }
                for other in found.bookings
            ],
        },
    )


def _refuse_imported(session: Session, bookings: Sequence[Booking], verb: str) -> None:
    imported = [b for b in bookings if b.external_calendar_id is not None]
    if not imported:
        return
    calendar_ids = {b.external_calendar_id for b in imported}
    query = select(ExternalCalendar.id, ExternalCalendar.name).where(
        ExternalCalendar.id.in_(calendar_ids)
    )
    names: dict[uuid.UUID | None, str] = dict(session.execute(query).all())
    first = imported[0]
    first_name = names.get(first.external_calendar_id) or str(first.external_calendar_id)
    raise ImportedBooking(
        f"booking {first.id} was imported from the external calendar {first_name!r} "
        f"({first.external_calendar_id}) and can only be {verb} through that calendar's feed"
        + (f" ({len(imported)} imported bookings matched)" if len(imported) > 1 else ""),
        details={
            "bookings": [
                {
                    "booking_id": str(b.id),
                    "external_calendar_id": str(b.external_calendar_id),
                    "external_calendar_name": names.get(b.external_calendar_id),
                }
                for b in imported
            ]
        },
    )


def _iso(moment: datetime) -> str:
    return json_value(moment)  # type: ignore[return-value]


# --- capacity group dependencies -------------------------------------------------------


@dataclass(frozen=True)
class CapacityGroupDependencies(Resource):
    """Accumulator products made of element products; no self-links, duplicates or cycles."""

    references: ClassVar[Mapping[str, type[Base]]] = {
        "accumulator_id": Product,
        "element_id": Product,
    }

    def create(self, session: Session, values: dict[str, Any], ctx: WriteContext) -> Base:
        """A new dependency, checked against the others (under :func:`repo.lock_links`)."""
        self.check_references(session, values)
        repo.lock_links(session)
        repo.check_dependency(session, values["accumulator_id"], values["element_id"])
        link = super().create(session, values, ctx)
        repo.touch_feed_version(session, [values["accumulator_id"], values["element_id"]], ctx.now)
        return link

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Change dependencies, each checked against the others (under :func:`repo.lock_links`)."""
        self.check_references(session, values)
        repo.lock_links(session)
        for row in rows:
            assert isinstance(row, CapacityGroupDependency)  # noqa: S101 - rows of this table
            repo.check_dependency(
                session,
                values.get("accumulator_id", row.accumulator_id),
                values.get("element_id", row.element_id),
                ignore_id=row.id,
            )
            before = (row.accumulator_id, row.element_id)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = ctx.now
            session.flush()
            repo.touch_feed_version(session, {*before, row.accumulator_id, row.element_id}, ctx.now)

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Remove dependencies (under :func:`repo.lock_links`); both ends get a new feed version."""
        repo.lock_links(session)
        links = [row for row in rows if isinstance(row, CapacityGroupDependency)]
        super().delete(session, rows, ctx)
        ends = {end for link in links for end in (link.accumulator_id, link.element_id)}
        repo.touch_feed_version(session, ends, ctx.now)


# --- the resources ---------------------------------------------------------------------


def json_value(value: object) -> object:
    """A column value as JSON: UUIDs as strings, instants in RFC 3339 UTC with ``Z``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


_NAME = {"minLength": 1, "maxLength": 200}
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
        plain_text=frozenset({"name"}),
        constraints={
            "name": _NAME,
            "timezone": {"maxLength": 64},
            "capacity": _int_range(1),
        },
        descriptions={
            "timezone": "IANA timezone name (default: the `products.default_timezone` setting).",
            "capacity": "Units that can be booked at once (default 1).",
            "feed_token": "The secret in the product's outbound feed URL (read-only).",
        },
    ),
    ExternalCalendars(
        name="external_calendars",
        model=ExternalCalendar,
        kind="external calendar",
        hidden=frozenset(
            {"etag", "last_modified", "content_digest", "prodid", "lease_owner", "lease_expires_at"}
        ),
        create_fields=frozenset(_CALENDAR_SETTINGS | {"product_id"}),
        update_fields=_CALENDAR_SETTINGS,
        required=frozenset({"product_id", "ical_url"}),
        plain_text=frozenset({"name"}),
        constraints={
            "name": _NAME,
            "ical_url": {"maxLength": URL_MAX_LENGTH, "pattern": _URL_PATTERN},
            "time_offset": _int_range(-TIME_OFFSET_LIMIT, TIME_OFFSET_LIMIT),
            "event_status_sync": {"enum": list(EVENT_STATUS_SYNC)},
            "transparent_events": {"enum": list(TRANSPARENT_EVENTS)},
            "units": _int_range(1),
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
        plain_text=frozenset({"summary"}),
        constraints={
            "units": _int_range(1),
            "status": {"enum": list(BOOKING_STATUSES)},
        },
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
        name="product_calendar_logs",
        model=ProductCalendarLog,
        kind="product calendar log",
        writable=False,
    ),
)


def resource_named(name: str) -> Resource:
    """The resource called ``name``."""
    return next(resource for resource in RESOURCES if resource.name == name)


def serialize(
    resource: Resource,
    row: Base,
    columns: Sequence[str],
    extra: Callable[[Any], dict[str, Any]] | None,
    *,
    all_extra: bool,
) -> dict[str, Any]:
    """A row as the API answers with it: the selected columns and computed fields."""
    answer = {name: json_value(getattr(row, name)) for name in columns if name in resource.columns}
    if extra is not None:
        answer |= {k: v for k, v in extra(row).items() if all_extra or k in columns}
    return answer
