"""History: sync runs, feed reads, booking changes and events older than ``sync.history_days``.

Each sync run links to its changes (``booking_changes.sync_run_id``);
:func:`changes_of_runs` reads the changes of a calendar's last runs, as the web
UI shows them, and :func:`changes` the journal with the filters of
``calsync history``.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def changes_of_runs(
    session: Session, calendar_id: uuid.UUID, *, runs: int = 10, limit: int = 1000
) -> Sequence[BookingChange]:
    """The changes the calendar's last ``runs`` sync runs made, newest first."""
    ids = journal.last_run_ids(session, calendar_id, runs)
    return journal.changes(session, sync_run_ids=ids, limit=limit)
