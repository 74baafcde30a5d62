"""Block: one normalised occupied interval read from a feed, the unit the diff works on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

BookingStatus = Literal["confirmed", "tentative", "cancelled"]


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
