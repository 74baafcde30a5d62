"""What a recorded sync tells besides its bookings: its body, kept, and its calendar's events.

* A new body is kept (compressed, with status, headers and digest) for
  ``calsync replay`` (:mod:`calsync.store.bodies` prunes to ``sync.keep_bodies``).
* ``calendar.failing`` when a failure makes ``alerts.failing_after_failures`` in a
  row, ``calendar.recovered`` when a success ends such a run (the ``held`` event is
  written where the plan is applied).
"""

from __future__ import annotations

import json
import uuid
import zlib
from hashlib import sha256
from typing import TYPE_CHECKING

from calsync.services import issues
from calsync.services.context import iso
from calsync.store import bodies as stored_bodies

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from calsync.store.models import ExternalCalendar
    from calsync.sync.record import FinishedSync, Recording, SyncResult


def keep_body(session: Session, item: FinishedSync, result: SyncResult) -> None:
    """Keep a new body (compressed, with status, headers and digest) for ``calsync replay``."""
    read, keep = item.read, item.recording.settings.sync.keep_bodies
    if read.body is None or keep == 0:
        return
    at = item.recording.finished_at
    stored_bodies.add_body(
        session,
        {
            "id": uuid.uuid4(), "external_calendar_id": item.feed.id, "sync_run_id": result.run_id,
            "fetched_at": at, "outcome": result.outcome, "http_status": read.http_status,
            "headers": json.dumps(dict(read.headers)), "digest": sha256(read.body).hexdigest(),
            "size": len(read.body), "body": zlib.compress(read.body), "created_at": at,
            "updated_at": at,
        },
        keep=keep,
    )  # fmt: skip


def recovered(session: Session, calendar: ExternalCalendar, record: Recording) -> None:
    """``calendar.recovered`` when a success ends a run of failures that made it failing."""
    if calendar.failure_count >= record.settings.alerts.failing_after_failures:
        issues.calendar_event(
            session, "calendar.recovered", calendar, now=record.finished_at,
            failures=calendar.failure_count, since=iso(calendar.last_synced or calendar.created_at),
        )  # fmt: skip


def failing(session: Session, calendar: ExternalCalendar, record: Recording) -> None:
    """``calendar.failing`` when this failure makes ``alerts.failing_after_failures`` in a row."""
    if calendar.failure_count == record.settings.alerts.failing_after_failures:
        issues.calendar_event(
            session, "calendar.failing", calendar, now=record.finished_at,
            failures=calendar.failure_count, since=iso(calendar.last_synced or calendar.created_at),
        )  # fmt: skip
