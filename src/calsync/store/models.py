"""The tables of DESIGN §3 as SQLAlchemy 2 models.

Every timestamp is an aware UTC datetime (:class:`UtcDateTime` keeps it so on
SQLite too) and every id a UUID. ``external_calendars.updated_at`` is *not*
touched automatically: it means "when the calendar last received new or changed
events", and the sync sets it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from calsync.clock import utc_now


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            msg = f"naive datetime {value!r} given to the store"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - part of the TypeDecorator interface
    ) -> datetime | None:
        """Return aware UTC whatever the database gave back."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


INT_MAX = 2**31 - 1
"""Integers are stored as 32-bit columns; larger values are refused, not overflowed."""

BLOCKING_STATUSES = ("confirmed", "tentative")
"""Booking statuses that occupy their nights (a cancelled booking frees them)."""


class Base(DeclarativeBase):
    """Base of every table: a UUID id and creation/update times."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class Product(Base):
    """A thing that is rented out: a holiday home, a room, a venue."""

    __tablename__ = "products"
    __table_args__ = (Index("ix_products_created_at_id", "created_at", "id"),)

    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    feed_token: Mapped[str] = mapped_column(String(64), unique=True)
    bookings_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When a booking of the product last changed: the version of its outbound feed."""


class ExternalCalendar(Base):
    """A channel's iCal export URL that calsync imports into a product."""

    __tablename__ = "external_calendars"
    __table_args__ = (Index("ix_external_calendars_created_at_id", "created_at", "id"),)

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    ical_url: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(Text)
    last_synced: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sync_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    time_offset: Mapped[int] = mapped_column(Integer, default=0)
    tld: Mapped[str] = mapped_column(String(253), default="")
    event_status_sync: Mapped[str] = mapped_column(String(16), default="import")
    transparent_events: Mapped[str] = mapped_column(
        String(16), default="block", server_default="block"
    )
    """What TRANSP:TRANSPARENT events do: ``block`` like the others, or ``skip``."""
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    content_digest: Mapped[str | None] = mapped_column(String(64))
    prodid: Mapped[str | None] = mapped_column(Text)
    next_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    held_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    units: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Units of the product each imported block takes."""


class Booking(Base):
    """An occupied interval of a product: imported from a calendar, or made directly."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("external_calendar_id", "source_key"),
        UniqueConstraint("product_id", "reference"),
        Index("ix_bookings_product_id_starts_at", "product_id", "starts_at"),
        Index("ix_bookings_created_at_id", "created_at", "id"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    external_calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE"), index=True
    )
    source_key: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    units: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    delete_held_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    echo_of: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The booking this one echoes: a channel re-exporting what calsync sent it."""
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    """The main booking this one is part of: the rows of one array POST share it."""
    reference: Mapped[str | None] = mapped_column(String(200))
    """The booking platform's own booking number; unique per product when set."""
    customer: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Who booked, as free text (never exported)."""
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    """An internal note; may hold line breaks (never exported)."""


class CapacityGroupDependency(Base):
    """The accumulator product's occupancy is the sum of its element products'."""

    __tablename__ = "capacity_group_dependencies"
    __table_args__ = (UniqueConstraint("accumulator_id", "element_id"),)

    accumulator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    element_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))


class SyncRun(Base):
    """One attempt to sync one external calendar, and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_external_calendar_id_started_at", "external_calendar_id", "started_at"),
        Index("ix_sync_runs_created_at_id", "created_at", "id"),
    )

    external_calendar_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE")
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    held_deletes: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class ProductCalendarLog(Base):
    """One read of a product's outbound feed: who read it and how it went."""

    __tablename__ = "product_calendar_logs"
    __table_args__ = (
        Index("ix_product_calendar_logs_product_id_read_at", "product_id", "read_at"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    external_calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="SET NULL")
    )
    read_at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_agent: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(32), default="other")
    status: Mapped[str] = mapped_column(String(16), default="success")


class ApiKey(Base):
    """A key for the REST API; only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    hashed_secret: Mapped[str] = mapped_column(String(128), unique=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class User(Base):
    """An account of the web interface; only an argon2 hash of its password is stored."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AppSecret(Base):
    """A secret every replica shares: the session signing key, first-run setup token hashes."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str] = mapped_column(Text)


class LoginFailure(Base):
    """Consecutive failed logins of one key (an address, or a user name from an address).

    ``updated_at`` is the last failure; ``locked_until`` when the next attempt is heard.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BookingChange(Base):
    """One change of one booking, written in the transaction that made it: the journal.

    Its cause is the sync run that made it (``sync_run_id``) or the actor who wrote
    it (``api_key:<id>``, ``cli:<user@host>``, ``ui:<username>``). No foreign keys:
    the journal outlives the bookings, calendars and products it tells of.
    """

    __tablename__ = "booking_changes"
    __table_args__ = (
        Index("ix_booking_changes_booking_id_changed_at", "booking_id", "changed_at"),
        Index("ix_booking_changes_product_id_changed_at", "product_id", "changed_at"),
        Index("ix_booking_changes_external_calendar_id", "external_calendar_id"),
        Index("ix_booking_changes_sync_run_id", "sync_run_id"),
        Index("ix_booking_changes_created_at_id", "created_at", "id"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    external_calendar_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))
    """created, updated, cancelled, deleted, held, released or rekeyed (README: History)."""
    source_key: Mapped[str | None] = mapped_column(Text)
    starts_at_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    starts_at_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_before: Mapped[str | None] = mapped_column(String(16))
    status_after: Mapped[str | None] = mapped_column(String(16))
    sync_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str | None] = mapped_column(String(300))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Event(Base):
    """The transactional outbox: an event, written in the transaction of what it tells."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created_at_id", "created_at", "id"),)

    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    """The event's ``data`` as JSON text."""
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookEndpoint(Base):
    """A URL that receives events as Standard Webhooks."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_created_at_id", "created_at", "id"),)

    url: Mapped[str] = mapped_column(Text)
    events: Mapped[str] = mapped_column(Text, default="[]")
    """The event types it wants as a JSON list; empty: all."""
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """When its deliveries started failing (None: the last one succeeded)."""
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class WebhookMessage(Base):
    """One event to hand to one endpoint (NULL: to the people of ``alerts.notify``), until done.

    Claimed into a lease as syncs are; retried with backoff until it is
    delivered or given up.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_webhook_messages_event_id", "event_id"),
        Index("ix_webhook_messages_endpoint_id", "endpoint_id"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``delivered``, ``failed`` (given up) or ``skipped`` (no alerts.notify)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One attempt to deliver one event: how it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_attempted_at", "endpoint_id", "attempted_at"),
        Index("ix_webhook_deliveries_created_at_id", "created_at", "id"),
    )

    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    """``success`` or ``failed``."""
    response_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OpenIssue(Base):
    """A state that is on until it is over (a conflict, a stale calendar or reader): once each.

    Its event is emitted by the transaction that inserts it, its end by the one
    that deletes it; the unique key makes either happen once, whatever the replicas.
    """

    __tablename__ = "open_issues"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        Index("ix_open_issues_product_id", "product_id"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(300))
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[str] = mapped_column(Text, default="{}")


class FetchedBody(Base):
    """A feed as it was fetched (zlib-compressed), kept to replay: why did that change?"""

    __tablename__ = "fetched_bodies"
    __table_args__ = (
        Index("ix_fetched_bodies_external_calendar_id_fetched_at", "external_calendar_id",
              "fetched_at"),
    )  # fmt: skip

    external_calendar_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE")
    )
    sync_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    http_status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[str] = mapped_column(Text, default="{}")
    digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the body as fetched (uncompressed)."""
    size: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[bytes] = mapped_column(LargeBinary)


SYNC_CHANNEL = "calsync_sync"
"""The PostgreSQL NOTIFY channel on which replicas hear of manual sync requests."""


@event.listens_for(Session, "after_flush")
def _notify_sync_requests(session: Session, _context: object) -> None:
    """On PostgreSQL, a new calendar or a set ``sync_requested_at`` wakes every replica.

    The notification is delivered when the transaction commits, so a replica never
    looks for a request it cannot see yet.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    for calendar in (*session.new, *session.dirty):
        if not isinstance(calendar, ExternalCalendar):
            continue
        requested = inspect(calendar).attrs.sync_requested_at.history.added
        if calendar in session.new or any(value is not None for value in requested or ()):
            connection.execute(
                text("SELECT pg_notify(:channel, :id)"),
                {"channel": SYNC_CHANNEL, "id": str(calendar.id)},
            )
