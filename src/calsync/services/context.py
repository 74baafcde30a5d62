"""What a write needs besides the session and its values, and what it asks of the edge after."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from calsync.errors import BadRequest

if TYPE_CHECKING:
    import uuid

    from calsync.config import Settings


def iso(moment: datetime) -> str:
    """An instant in RFC 3339 UTC with ``Z``: how the API and ``--json`` show it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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

    def check(self, starts_at: datetime, ends_at: datetime) -> None:
        """A 400 naming the field and the bounds when the booking lies outside them."""
        for name, moment, outside in (
            ("starts_at", starts_at, starts_at < self.earliest),
            ("ends_at", ends_at, ends_at > self.latest),
        ):
            if outside:
                raise BadRequest(
                    f"{name}: a booking lies from {iso(self.earliest)} (the sync window's "
                    f"start, sync.past_days) to {iso(self.latest)} "
                    f"(api.booking_horizon_years); got {iso(moment)}",
                    details={"field": name, "value": iso(moment),
                             "earliest": iso(self.earliest), "latest": iso(self.latest)},
                )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Cause:
    """Why bookings change, as the journal records it: a sync run, or who wrote.

    An actor is ``api_key:<id>``, ``cli:<user@host>`` or ``ui:<username>``.
    """

    sync_run_id: uuid.UUID | None = None
    actor: str | None = None

    @classmethod
    def api_key(cls, key_id: uuid.UUID) -> Cause:
        """A write through the REST API with this key."""
        return cls(actor=f"api_key:{key_id}")

    @classmethod
    def cli(cls, user_at_host: str) -> Cause:
        """A ``calsync`` command run by ``user@host``."""
        return cls(actor=f"cli:{user_at_host}")

    @classmethod
    def ui(cls, username: str) -> Cause:
        """A write through the web UI by this user."""
        return cls(actor=f"ui:{username}")

    def as_json(self) -> dict[str, str | None]:
        """The cause as an event shows it."""
        run = str(self.sync_run_id) if self.sync_run_id is not None else None
        return {"sync_run_id": run, "actor": self.actor}


@dataclass
class WriteContext:
    """The moment, cause and defaults of one write, and what it asks of the edge afterwards."""

    now: datetime
    cause: Cause
    """Who writes: recorded with every booking change (:mod:`calsync.services.journal`)."""
    default_timezone: str = "UTC"
    """``timezone`` of a new product that does not say (``products.default_timezone``)."""
    default_transparent_events: str = "block"
    """``transparent_events`` of a new calendar that does not say (``sync.transparent_events``)."""
    force: bool = False
    """Book even when the capacity would be exceeded (``force=true``)."""
    booking_bounds: BookingBounds | None = None
    """Where direct bookings may lie; None: anywhere."""
    wake: bool = False
    """Set by a write that made a calendar due: the edge wakes the dispatcher after the commit."""
    deleted_bookings: dict[uuid.UUID, int] = field(default_factory=dict)
    """Set by a removal of calendars: the bookings deleted with each, by calendar id."""

    @classmethod
    def of(
        cls, settings: Settings, now: datetime, cause: Cause, *, force: bool = False
    ) -> WriteContext:
        """A context with the defaults and bounds of ``settings``, as the API builds it."""
        return cls(
            now=now,
            cause=cause,
            default_timezone=settings.products.default_timezone,
            default_transparent_events=settings.sync.transparent_events,
            force=force,
            booking_bounds=BookingBounds.around(
                now,
                past_days=settings.sync.past_days,
                horizon_years=settings.api.booking_horizon_years,
            ),
        )
