"""History: sync runs, feed reads, booking changes and events older than ``sync.history_days``.

Each sync run links to its changes (``booking_changes.sync_run_id``);
:func:`changes_of_runs` reads what a calendar's last runs changed, as its page
in the web UI shows them, and :func:`changes` the journal with the filters of
``calsync history``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, time
from typing import TYPE_CHECKING

from calsync.store import history as store
from calsync.store import journal

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.store.models import BookingChange


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows of each kind of history went."""

    sync_runs: int
    feed_reads: int
    booking_changes: int
    events: int


def prune(session: Session, *, before: datetime) -> Pruned:
    """Delete the sync runs, feed reads, booking changes and events older than ``before``."""
    runs = store.prune_sync_runs(session, before=before)
    reads = store.prune_feed_reads(session, before=before)
    changed, events = journal.prune(session, before=before)
    return Pruned(runs, reads, changed, events)


def changes(
    session: Session,
    *,
    product_id: uuid.UUID | None = None,
    calendar_id: uuid.UUID | None = None,
    booking_id: uuid.UUID | None = None,
    limit: int = 100,
) -> Sequence[BookingChange]:
    """The newest booking changes, newest first, of a product, a calendar or a booking."""
    return journal.changes(
        session, product_id=product_id, calendar_id=calendar_id, booking_id=booking_id,
        limit=limit,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunChange:
    """One change a sync run made, with whether its booking is an echo and is all-day."""

    change: BookingChange
    echo: bool
    all_day: bool


@dataclass(frozen=True, slots=True)
class RunChanges:
    """The changes of one sync run that are shown, and how many it made in all."""

    shown: list[RunChange]
    total: int

    @property
    def more(self) -> int:
        """How many are not shown."""
        return self.total - len(self.shown)


def changes_of_runs(
    session: Session, sync_run_ids: Sequence[uuid.UUID], *, per_run: int = 10
) -> dict[uuid.UUID, RunChanges]:
    """What each of these sync runs changed (at most ``per_run`` each, by the stay's start).

    One query for every run. A run that changed nothing is not in the answer. A
    booking that is gone is all-day when its stay ran midnight to midnight UTC
    (how all-day stays are kept).
    """
    found: dict[uuid.UUID, RunChanges] = {}
    for change, total, echo_of, all_day in journal.changes_of_runs(
        session, sync_run_ids, per_run=per_run
    ):
        assert change.sync_run_id is not None  # noqa: S101 - selected by it
        run = found.setdefault(change.sync_run_id, RunChanges([], total))
        run.shown.append(RunChange(change, echo_of is not None, _all_day(change, kept=all_day)))
    return found


def _all_day(change: BookingChange, *, kept: bool | None) -> bool:
    if kept is not None:
        return kept
    bounds = (
        change.starts_at_after or change.starts_at_before,
        change.ends_at_after or change.ends_at_before,
    )
    return all(at is not None and at.astimezone(UTC).time() == time() for at in bounds)
