"""The values of an import: blocks (what the diff works on), skipped events, options, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Callable

BookingStatus = Literal["confirmed", "tentative", "cancelled"]
EventStatusSync = Literal["import", "CONFIRMED", "TENTATIVE"]
TransparentEvents = Literal["block", "skip"]
"""What TRANSP:TRANSPARENT ("free") events do: block like the others, or import as nothing."""
TRANSPARENT_EVENTS: tuple[TransparentEvents, ...] = get_args(TransparentEvents)
#: The reason of events skipped because they lie outside the import window.
OUTSIDE_WINDOW = "outside window"


@dataclass(frozen=True, slots=True)
class Block:
    """An occupied interval from one event occurrence of a feed.

    ``starts_at`` and ``ends_at`` are aware UTC datetimes. An all-day block is
    stored as midnight UTC of its first day and of its (exclusive) check-out
    day: dates are never converted between timezones.
    """

    key: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    summary: str = ""
    status: BookingStatus = "confirmed"

    @property
    def interval(self) -> tuple[datetime, datetime, bool]:
        """What identifies the block when its key churns: start, end, all-day."""
        return (self.starts_at, self.ends_at, self.all_day)


def date_at_midnight(day: date) -> datetime:
    """Encode an all-day date as midnight UTC, the way blocks and bookings store it."""
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SkippedEvent:
    """An event of a feed that imports as nothing, with the reason why."""

    uid: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read one feed: the product's context and the safety limits."""

    now: datetime
    monotonic: Callable[[], float]
    timezone: str = "UTC"
    time_offset_hours: int = 0
    past_days: int = 30
    horizon_days: int = 730
    max_occurrences: int = 10_000
    max_occurrences_per_event: int = 1_000
    max_events: int = 50_000
    time_budget_seconds: float = 20.0
    event_status_sync: EventStatusSync = "import"
    transparent_events: TransparentEvents = "block"

    @property
    def window_start(self) -> datetime:
        """The earliest end an imported block may have."""
        return self.now - timedelta(days=self.past_days)

    @property
    def window_end(self) -> datetime:
        """The latest start an imported block may have."""
        return self.now + timedelta(days=self.horizon_days)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed imports as: blocks sorted by start, and what was skipped and why."""

    blocks: tuple[Block, ...]
    skipped: tuple[SkippedEvent, ...]
    warnings: tuple[str, ...]
    prodid: str | None
    event_count: int
    fast_path: bool = field(default=False, compare=False)
    """Whether the fast path read the feed (else icalendar did); the result is the same."""
