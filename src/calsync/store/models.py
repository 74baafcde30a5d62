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
