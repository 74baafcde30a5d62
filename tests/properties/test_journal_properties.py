"""A plan's journal: one change per booking it touches, each telling the state before and after."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st
from test_diff_properties import WINDOW_END, WINDOW_START, blocks, booking

from calsync.core.diff import DeletionGuard, plan_sync
from calsync.core.journal import GONE, plan_changes, state_of
from conftest import NOW


@given(old=blocks(), new=blocks(), guard=st.floats(0.1, 1.0))
def test_every_booking_a_plan_touches_is_one_change(old, new, guard):
    """Inserts, updates, deletes and holds each give one change; its states are the stored and the new ones."""
    existing = {b.id: b for b in (booking(block, uuid.uuid4()) for block in old)}
    plan = plan_sync(
        list(existing.values()), new, now=NOW, window_start=WINDOW_START,
        window_end=WINDOW_END, guard=DeletionGuard(max_delete_fraction=guard),
    )  # fmt: skip
    new_ids = [uuid.uuid4() for _ in plan.inserts]
    changes = plan_changes(plan, existing, new_ids)
    touched = (
        new_ids
        + [u.booking_id for u in plan.updates]
        + [d.booking_id for d in plan.deletes]
        + [h.booking_id for h in plan.holds]
        + [b for b in plan.unheld if b not in {u.booking_id for u in plan.updates}]
    )
    assert sorted(c.booking_id for c in changes) == sorted(touched)
    for change in changes:
        stored = existing.get(change.booking_id)
        assert change.before == (state_of(stored) if stored is not None else None)
        if change.kind in GONE:
            assert change.after is None
        elif change.kind == "created":
            assert change.booking_id in new_ids
        else:
            assert change.after is not None
        if change.kind == "rekeyed":
            assert change.before == change.after
