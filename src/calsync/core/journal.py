"""What a booking change is, for the journal: its kind and the interval and status around it.

``plan_changes(plan, existing)`` turns a sync's plan into the changes it makes,
one per booking, without touching anything; the store writes them with the
plan, in its transaction. The kinds:

* ``created``: a new booking;
* ``updated``: new times, summary or status (a cancellation is ``cancelled``);
* ``rekeyed``: the same booking under a new UID, nothing else changed (UID churn);
* ``cancelled``: its status became cancelled (it stays, and frees its nights);
* ``deleted``: it is gone (its event left the feed, it was deleted directly, or
  its calendar or product was removed);
* ``held``: its event left the feed, but the deletion guard holds the deletion;
* ``released``: a held deletion was applied (the next fetch confirmed it, or
  ``calsync calendars release``): it is gone.

A held booking that comes back is ``updated`` (its hold is lifted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime
    from uuid import UUID

    from calsync.core.blocks import Block
    from calsync.core.diff import Plan, StoredBooking

ChangeKind = Literal["created", "updated", "rekeyed", "cancelled", "deleted", "held", "released"]
GONE: frozenset[ChangeKind] = frozenset({"deleted", "released"})
"""Kinds after which the booking no longer exists."""


@dataclass(frozen=True, slots=True)
class State:
    """A booking's interval and status on one side of a change."""

    starts_at: datetime
    ends_at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one booking: its kind, and its state before and after (None: none)."""

    booking_id: UUID
    kind: ChangeKind
    source_key: str | None = None
    before: State | None = None
    after: State | None = None


def state_of(booking: StoredBooking | Block) -> State:
    """The interval and status of a stored booking or a block."""
    return State(booking.starts_at, booking.ends_at, booking.status)


def edit_kind(before: State, after: State, *, rekeyed: bool = False) -> ChangeKind:
    """The kind of a change of an existing booking from ``before`` to ``after``.

    ``rekeyed``: its key changed; a change of key alone is ``rekeyed``.
    """
    if after.status == "cancelled" and before.status != "cancelled":
        return "cancelled"
    if rekeyed and before == after:
        return "rekeyed"
    return "updated"


def plan_changes(
    plan: Plan, existing: Mapping[UUID, StoredBooking], new_ids: Sequence[UUID]
) -> list[Change]:
    """The changes applying ``plan`` to ``existing`` makes; ``new_ids`` are the inserts' ids.

    Deletions of bookings whose deletion was held are ``released``; a held
    booking that is updated or comes back unchanged is ``updated``.
    """
    changes = [
        Change(booking_id, "created", insert.block.key, after=state_of(insert.block))
        for booking_id, insert in zip(new_ids, plan.inserts, strict=True)
    ]
    updated = set()
    for update in plan.updates:
        stored = existing[update.booking_id]
        before, after = state_of(stored), state_of(update.block)
        kind = edit_kind(before, after, rekeyed=stored.key != update.block.key)
        if kind == "rekeyed" and stored.summary != update.block.summary:
            kind = "updated"
        updated.add(update.booking_id)
        changes.append(Change(update.booking_id, kind, update.block.key, before, after))
    for delete in plan.deletes:
        stored = existing[delete.booking_id]
        gone: ChangeKind = "released" if stored.delete_held else "deleted"
        changes.append(Change(delete.booking_id, gone, stored.key, before=state_of(stored)))
    for hold in plan.holds:
        stored = existing[hold.booking_id]
        state = state_of(stored)
        changes.append(Change(hold.booking_id, "held", stored.key, state, state))
    for booking_id in plan.unheld:
        if booking_id not in updated:
            stored = existing[booking_id]
            state = state_of(stored)
            changes.append(Change(booking_id, "updated", stored.key, state, state))
    return changes
