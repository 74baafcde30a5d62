"""Plan a sync: what the stored bookings of one calendar need to match a feed.

``plan_sync(existing, blocks, ...)`` returns a :class:`Plan` of ``Insert``,
``Update``, ``Delete`` and ``Hold`` actions without touching anything; the store
applies it in one transaction, ``preview`` prints it, tests assert on it.

The rules (DESIGN §4, 6–8):

* A key present on both sides is updated if its times, summary or status changed.
* UID churn: a new key whose interval equals a vanished key's booking is the same
  booking under a new key (Airbnb regenerates the UIDs of its blocks on every
  request), so the booking keeps its id.
* A vanished key is deleted only if its booking overlaps the import window:
  past bookings stay when a sliding feed drops them.
* Deletion guard: deletes are *held* instead when they are more than
  ``max_delete_fraction`` of the calendar's future bookings (and at least 2),
  when the feed has no events while future bookings exist, or when the feed's
  PRODID changed. A held delete is applied when the next fetch confirms the
  same absence; a booking that comes back is simply un-held.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from calsync.core.blocks import Block, BookingStatus


@dataclass(frozen=True, slots=True)
class StoredBooking:
    """What the diff needs to know of a booking imported from the calendar."""

    id: UUID
    key: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    summary: str
    status: BookingStatus
    delete_held: bool = False

    @property
    def interval(self) -> tuple[datetime, datetime, bool]:
        """Start, end and all-day: what survives a change of key."""
        return (self.starts_at, self.ends_at, self.all_day)


@dataclass(frozen=True, slots=True)
class Insert:
    """Create a booking for a block the calendar did not have."""

    block: Block


@dataclass(frozen=True, slots=True)
class Update:
    """Change a booking to match its block (new times, summary, status or key)."""

    booking_id: UUID
    block: Block


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove a booking whose event left the feed."""

    booking_id: UUID
    key: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Keep a booking whose event left the feed until the next fetch confirms it."""

    booking_id: UUID
    key: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The actions that make one calendar's bookings match its feed."""

    inserts: tuple[Insert, ...] = ()
    updates: tuple[Update, ...] = ()
    deletes: tuple[Delete, ...] = ()
    holds: tuple[Hold, ...] = ()
    unheld: tuple[UUID, ...] = ()
    hold_reason: str | None = None

    @property
    def changes_bookings(self) -> bool:
        """Whether applying the plan inserts, updates or deletes a booking."""
        return bool(self.inserts or self.updates or self.deletes)


@dataclass(frozen=True, slots=True)
class DeletionGuard:
    """The limits of the deletion guard (``sync.max_delete_fraction``)."""

    max_delete_fraction: float = 0.5
    min_deletes: int = 2


def plan_sync(
    existing: Sequence[StoredBooking],
    blocks: Sequence[Block],
    *,
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    prodid_changed: bool = False,
    guard: DeletionGuard = DeletionGuard(),
) -> Plan:
    """Plan the actions that make ``existing`` match ``blocks`` (see the module docstring)."""
    by_key = {booking.key: booking for booking in existing}
    matched: set[UUID] = set()
    updates: list[Update] = []
    new_blocks: list[Block] = []
    for block in blocks:
        booking = by_key.get(block.key)
        if booking is None:
            new_blocks.append(block)
            continue
        matched.add(booking.id)
        if _differs(booking, block):
            updates.append(Update(booking.id, block))

    vanished_by_interval: dict[tuple[datetime, datetime, bool], list[StoredBooking]] = defaultdict(
        list
    )
    for booking in sorted(existing, key=lambda booking: booking.key):
        if booking.id not in matched:
            vanished_by_interval[booking.interval].append(booking)
    inserts: list[Insert] = []
    for block in new_blocks:
        candidates = vanished_by_interval.get(block.interval)
        if candidates:
            booking = candidates.pop(0)
            matched.add(booking.id)
            updates.append(Update(booking.id, block))
        else:
            inserts.append(Insert(block))

    vanished = [
        booking
        for booking in existing
        if booking.id not in matched
        and booking.ends_at > window_start
        and booking.starts_at < window_end
    ]
    confirmed = [Delete(b.id, b.key) for b in vanished if b.delete_held]
    fresh = [b for b in vanished if not b.delete_held]
    future = sum(1 for booking in existing if booking.ends_at > now)
    hold_reason = _hold_reason(
        deletes=len(fresh),
        future=future,
        feed_empty=not blocks,
        prodid_changed=prodid_changed,
        guard=guard,
    )
    if hold_reason:
        deletes, holds = confirmed, [Hold(b.id, b.key) for b in fresh]
    else:
        deletes, holds = confirmed + [Delete(b.id, b.key) for b in fresh], []
    unheld = tuple(b.id for b in existing if b.delete_held and b.id in matched)
    return Plan(
        inserts=tuple(inserts),
        updates=tuple(updates),
        deletes=tuple(deletes),
        holds=tuple(holds),
        unheld=unheld,
        hold_reason=hold_reason,
    )


def moves_nights(booking: StoredBooking, block: Block) -> bool:
    """Whether updating ``booking`` to ``block`` changes what the outbound feeds show.

    A new key (UID churn) or a new summary (imported summaries are not exported)
    alone does not; new times or a new status do.
    """
    return booking.interval != block.interval or booking.status != block.status


def _differs(booking: StoredBooking, block: Block) -> bool:
    return (
        booking.interval != block.interval
        or booking.summary != block.summary
        or booking.status != block.status
    )


def _hold_reason(
    *, deletes: int, future: int, feed_empty: bool, prodid_changed: bool, guard: DeletionGuard
) -> str | None:
    if not deletes:
        return None
    if feed_empty and future:
        return f"the feed has no events but the calendar has {future} future bookings"
    if prodid_changed:
        return f"the feed's PRODID changed; {deletes} deletions wait for the next fetch"
    if deletes >= guard.min_deletes and deletes > guard.max_delete_fraction * future:
        return (
            f"the feed would delete {deletes} of {future} future bookings "
            f"(more than {guard.max_delete_fraction:.0%})"
        )
    return None
