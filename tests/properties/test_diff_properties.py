"""The sync plan: applied to the stored bookings, it gives the feed; nothing lost, nothing invented."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from calsync.core.blocks import Block
from calsync.core.diff import DeletionGuard, Plan, StoredBooking, plan_sync
from conftest import NOW

WINDOW_START = NOW - timedelta(days=30)
WINDOW_END = NOW + timedelta(days=730)
BASE = datetime(2026, 11, 15, tzinfo=UTC)


@st.composite
def blocks(
    draw: st.DrawFn, keys: st.SearchStrategy[str] = st.sampled_from("abcdefghij")
) -> list[Block]:
    """Blocks with unique keys, starting from 20 days ago to 60 days ahead."""
    chosen = draw(st.lists(keys, unique=True, max_size=8))
    result = []
    for key in chosen:
        start = BASE + timedelta(days=draw(st.integers(-20, 60)))
        length = timedelta(days=draw(st.integers(1, 5)))
        result.append(
            Block(
                key=key,
                starts_at=start,
                ends_at=start + length,
                all_day=True,
                summary=draw(st.sampled_from(["Reserved", "Blocked"])),
            )
        )
    return result


def booking(block: Block, booking_id: uuid.UUID) -> StoredBooking:
    return StoredBooking(
        id=booking_id,
        key=block.key,
        starts_at=block.starts_at,
        ends_at=block.ends_at,
        all_day=block.all_day,
        summary=block.summary,
        status=block.status,
    )


def apply(existing: list[StoredBooking], plan: Plan) -> list[StoredBooking]:
    """What the store does with a plan, on plain values."""
    by_id = {stored.id: stored for stored in existing}
    for delete in plan.deletes:
        del by_id[delete.booking_id]
    for update in plan.updates:
        held = by_id[update.booking_id].delete_held
        by_id[update.booking_id] = replace(
            booking(update.block, update.booking_id), delete_held=held
        )
    for booking_id in plan.unheld:
        by_id[booking_id] = replace(by_id[booking_id], delete_held=False)
    for hold in plan.holds:
        by_id[hold.booking_id] = replace(by_id[hold.booking_id], delete_held=True)
    for insert in plan.inserts:
        new_id = uuid.uuid4()
        by_id[new_id] = booking(insert.block, new_id)
    return list(by_id.values())


def as_blocks(existing: list[StoredBooking]) -> set[tuple[str, datetime, datetime, str]]:
    return {(b.key, b.starts_at, b.ends_at, b.summary) for b in existing}


def plan(
    existing: list[StoredBooking], incoming: list[Block], guard: DeletionGuard = DeletionGuard()
) -> Plan:
    return plan_sync(
        existing, incoming, now=NOW, window_start=WINDOW_START, window_end=WINDOW_END, guard=guard
    )


@settings(max_examples=300, deadline=None)
@given(blocks(), blocks())
def test_plan_applied_gives_the_feed_when_unguarded(first, second):
    """diff(existing, blocks) applied to existing gives exactly the incoming blocks."""
    unguarded = DeletionGuard(max_delete_fraction=1.0, min_deletes=10**9)
    existing = apply([], plan([], first, unguarded))
    result = apply(existing, plan(existing, second, unguarded))
    if second:  # an empty feed is always held
        assert as_blocks(result) == {(b.key, b.starts_at, b.ends_at, b.summary) for b in second}


@settings(max_examples=300, deadline=None)
@given(blocks(), blocks())
def test_a_confirming_fetch_converges_to_the_feed(first, second):
    """With the guard on, the same feed fetched twice gives exactly its blocks."""
    existing = apply([], plan([], first))
    for _ in range(2):
        existing = apply(existing, plan(existing, second))
    assert as_blocks(existing) == {(b.key, b.starts_at, b.ends_at, b.summary) for b in second}


@settings(max_examples=200, deadline=None)
@given(blocks())
def test_uid_churn_keeps_every_booking_id(first):
    """The same intervals under new keys keep every booking's id."""
    existing = apply([], plan([], first))
    churned = [replace(b, key=f"new-{b.key}") for b in first]
    result = apply(existing, plan(existing, churned))
    assert {b.id for b in result} == {b.id for b in existing}


class SyncMachine(RuleBasedStateMachine):
    """Random feed versions and failed fetches; after each step no booking is lost or invented."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[StoredBooking] = []
        self.feed: list[Block] = []
        self.fetches_of_this_feed = 0

    @rule(new=blocks())
    def channel_changes_its_feed(self, new: list[Block]) -> None:
        self.feed = new
        self.fetches_of_this_feed = 0

    @rule()
    def fetch_succeeds(self) -> None:
        self.stored = apply(self.stored, plan(self.stored, self.feed))
        self.fetches_of_this_feed += 1

    @rule()
    def fetch_fails(self) -> None:
        """A failed fetch changes nothing: the sync never reaches the plan."""

    @invariant()
    def nothing_lost(self) -> None:
        if self.fetches_of_this_feed:
            stored = as_blocks(self.stored)
            assert {(b.key, b.starts_at, b.ends_at, b.summary) for b in self.feed} <= stored

    @invariant()
    def nothing_invented(self) -> None:
        if self.fetches_of_this_feed:
            feed = {(b.key, b.starts_at, b.ends_at, b.summary) for b in self.feed}
            extra = [
                b for b in self.stored if (b.key, b.starts_at, b.ends_at, b.summary) not in feed
            ]
            assert all(b.delete_held for b in extra), "a booking not in the feed must be held"
        if self.fetches_of_this_feed >= 2:
            assert as_blocks(self.stored) == {
                (b.key, b.starts_at, b.ends_at, b.summary) for b in self.feed
            }


TestSyncMachine = SyncMachine.TestCase
TestSyncMachine.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
