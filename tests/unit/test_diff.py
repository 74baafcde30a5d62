"""Table tests of the sync plan (DESIGN §4 rules 6–8)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from calsync.core.blocks import Block
from calsync.core.diff import (
    Delete,
    DeletionGuard,
    Hold,
    Insert,
    Plan,
    StoredBooking,
    Update,
    plan_sync,
)
from conftest import NOW

WINDOW_START = NOW - timedelta(days=30)
WINDOW_END = NOW + timedelta(days=730)


def day(n: int) -> datetime:
    """Midnight UTC, n days from NOW's date."""
    return datetime(2026, 11, 15, tzinfo=UTC) + timedelta(days=n)


def block(key: str, start: int, end: int, summary: str = "Reserved") -> Block:
    return Block(key=key, starts_at=day(start), ends_at=day(end), all_day=True, summary=summary)


def stored(
    key: str, start: int, end: int, *, held: bool = False, summary: str = "Reserved"
) -> StoredBooking:
    return StoredBooking(
        id=uuid.uuid5(uuid.NAMESPACE_OID, key),
        key=key,
        starts_at=day(start),
        ends_at=day(end),
        all_day=True,
        summary=summary,
        status="confirmed",
        delete_held=held,
    )


def plan(existing, blocks, **kwargs) -> Plan:
    return plan_sync(
        existing, blocks, now=NOW, window_start=WINDOW_START, window_end=WINDOW_END, **kwargs
    )


def test_new_key_is_inserted():
    """A block whose key the calendar does not have becomes an Insert."""
    new = block("a", 1, 3)
    assert plan([], [new]) == Plan(inserts=(Insert(new),))


def test_unchanged_booking_plans_nothing():
    """The same key, times, summary and status: no action."""
    assert plan([stored("a", 1, 3)], [block("a", 1, 3)]) == Plan()


def test_changed_times_or_summary_are_updates():
    """A key whose dates or summary changed becomes an Update of the same booking."""
    existing = [stored("a", 1, 3), stored("b", 5, 7)]
    moved, renamed = block("a", 1, 4), block("b", 5, 7, summary="Blocked")
    result = plan(existing, [moved, renamed])
    assert result.updates == (Update(existing[0].id, moved), Update(existing[1].id, renamed))
    assert not result.inserts
    assert not result.deletes


def test_uid_churn_keeps_the_booking():
    """Airbnb regenerated the UID of a block with the same dates: an Update (rekey), not delete+insert."""
    existing = [stored("old-uid", 1, 3)]
    churned = block("new-uid", 1, 3)
    assert plan(existing, [churned]) == Plan(updates=(Update(existing[0].id, churned),))


def test_vanished_future_booking_is_deleted():
    """A future booking whose key left the feed is deleted (one of three: under the guard)."""
    existing = [stored("a", 1, 3), stored("b", 5, 7), stored("c", 9, 11)]
    result = plan(existing, [block("a", 1, 3), block("b", 5, 7)])
    assert result.deletes == (Delete(existing[2].id, "c"),)
    assert result.hold_reason is None


def test_past_booking_dropped_by_a_sliding_feed_is_kept():
    """A booking that ended before the window start is never deleted because the feed dropped it."""
    existing = [stored("past", -60, -55), stored("a", 1, 3)]
    assert plan(existing, [block("a", 1, 3)]) == Plan()


def test_booking_overlapping_the_window_start_is_deleted():
    """A booking that ends inside the window is still the feed's to delete."""
    existing = [stored("recent", -35, -29), stored("a", 1, 3), stored("b", 4, 6)]
    result = plan(existing, [block("a", 1, 3), block("b", 4, 6)])
    assert result.deletes == (Delete(existing[0].id, "recent"),)


def test_mass_delete_is_held():
    """Deleting more than half of the future bookings (and at least 2) holds the deletes."""
    existing = [stored("a", 1, 3), stored("b", 5, 7), stored("c", 9, 11)]
    result = plan(existing, [block("a", 1, 3)])
    assert result.holds == (Hold(existing[1].id, "b"), Hold(existing[2].id, "c"))
    assert not result.deletes
    assert "would delete 2 of 3 future bookings" in (result.hold_reason or "")


def test_mass_delete_guard_has_a_configurable_fraction():
    """With max_delete_fraction=0.9, deleting 2 of 3 applies."""
    existing = [stored("a", 1, 3), stored("b", 5, 7), stored("c", 9, 11)]
    result = plan(existing, [block("a", 1, 3)], guard=DeletionGuard(max_delete_fraction=0.9))
    assert len(result.deletes) == 2
    assert not result.holds


def test_one_delete_of_two_is_not_a_mass_delete():
    """A single deletion is never held by the fraction rule, even of two bookings."""
    existing = [stored("a", 1, 3), stored("b", 5, 7)]
    result = plan(existing, [block("a", 1, 3)])
    assert result.deletes == (Delete(existing[1].id, "b"),)


def test_empty_feed_holds_every_delete():
    """A feed with no events while future bookings exist holds, even a single delete."""
    existing = [stored("a", 1, 3)]
    result = plan(existing, [])
    assert result.holds == (Hold(existing[0].id, "a"),)
    assert "no events" in (result.hold_reason or "")


def test_prodid_change_holds_deletes():
    """A different PRODID than the last good fetch holds its deletes but applies its inserts."""
    existing = [stored("a", 1, 3), stored("b", 5, 7), stored("c", 9, 11)]
    new = block("d", 20, 22)
    result = plan(existing, [block("a", 1, 3), block("b", 5, 7), new], prodid_changed=True)
    assert result.inserts == (Insert(new),)
    assert result.holds == (Hold(existing[2].id, "c"),)
    assert "PRODID" in (result.hold_reason or "")


def test_held_delete_is_applied_when_the_next_fetch_confirms_it():
    """A booking held last time and still absent is deleted now, even if the guard would trip."""
    existing = [stored("a", 1, 3, held=True), stored("b", 5, 7, held=True)]
    result = plan(existing, [])
    assert result.deletes == (Delete(existing[0].id, "a"), Delete(existing[1].id, "b"))
    assert not result.holds


def test_held_booking_that_comes_back_is_unheld():
    """A held booking whose key reappears is kept and its hold cleared."""
    existing = [stored("a", 1, 3, held=True)]
    result = plan(existing, [block("a", 1, 3)])
    assert result.unheld == (existing[0].id,)
    assert not result.deletes


def test_bookings_beyond_the_window_end_are_not_deleted():
    """A booking starting after the window end (the horizon shrank) stays."""
    existing = [stored("far", 800, 802), stored("a", 1, 3)]
    assert plan(existing, [block("a", 1, 3)]) == Plan()
