"""History: sync runs and feed reads older than ``sync.history_days`` are pruned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync.store import history as store

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session


def prune(session: Session, *, before: datetime) -> tuple[int, int]:
    """Delete the sync runs and feed reads older than ``before``; how many of each."""
    return store.prune_sync_runs(session, before=before), store.prune_feed_reads(
        session, before=before
    )
