"""A calendar's status after a sync: when it is due next, and the record of an unchanged feed.

Most syncs of a daemon find their feed as it was (a 304, or the same digest) on a
calendar that was fine: their whole record is the calendar's status and a sync
run, written for all of a batch with one statement each
(:func:`calsync.store.calendars.record_unchanged`) instead of through the ORM.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

from calsync.core.schedule import SyncSchedule
from calsync.store import calendars as stored_calendars

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.sync.read import Fetched
    from calsync.sync.record import FinishedSync, Recording

_UNCHANGED = frozenset({"not_modified", "unchanged"})


def schedule(settings: Settings) -> SyncSchedule:
    """The sync schedule of these settings."""
    sync = settings.sync
    return SyncSchedule(
        interval=timedelta(minutes=sync.interval_minutes),
        max_backoff=timedelta(minutes=sync.max_backoff_minutes),
    )


def next_sync_at(read: Fetched, record: Recording, *, failures: int) -> datetime:
    """When the calendar is due next: the interval with jitter, or the backoff of a failure."""
    return record.finished_at + schedule(record.settings).next_delay(
        failures=failures,
        retry_after=read.retry_after,
        jitter=random.random(),  # noqa: S311
        retryable=read.retryable,
    )


def status_only(session: Session, finished: Sequence[FinishedSync]) -> set[uuid.UUID]:
    """The calendars of the syncs whose whole record is their status (see the module docstring).

    An unchanged feed of a calendar that was neither failing nor holding deletions,
    and is still leased to the sync's owner.
    """
    once = Counter(item.feed.id for item in finished)
    owners = {
        item.feed.id: item.recording.lease_owner
        for item in finished
        if item.read.outcome in _UNCHANGED and item.read.parsed is None and once[item.feed.id] == 1
    }
    return stored_calendars.settled(session, owners)


def unchanged_row(item: FinishedSync) -> dict[str, object]:
    """The row :func:`~calsync.store.calendars.record_unchanged` writes for a status-only sync."""
    read, record = item.read, item.recording
    return {
        "b_id": item.feed.id, "b_digest": read.digest, "b_etag": read.etag,
        "b_last_modified": read.last_modified, "b_synced": record.finished_at,
        "b_next": next_sync_at(read, record, failures=0), "b_started": record.started_at,
    }  # fmt: skip
