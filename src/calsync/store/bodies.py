"""Fetched bodies: feeds as they were fetched, compressed, kept per calendar for replay.

A calendar keeps the bodies of the fetches that changed or held something, and
the last good one, up to ``sync.keep_bodies``; older ones are pruned with one
statement per calendar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select

from calsync.store.models import FetchedBody

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

    from sqlalchemy.orm import Session


def add_body(session: Session, row: Mapping[str, object], *, keep: int) -> None:
    """Insert a fetched body and prune its calendar's, keeping the newest ``keep``.

    Of those, only the newest may be one that changed nothing (the last good one).
    """
    session.execute(insert(FetchedBody), [dict(row)])
    calendar_id = row["external_calendar_id"]
    newest = (
        select(FetchedBody.id)
        .where(FetchedBody.external_calendar_id == calendar_id)
        .order_by(FetchedBody.fetched_at.desc(), FetchedBody.id.desc())
    )
    session.execute(
        delete(FetchedBody).where(
            FetchedBody.external_calendar_id == calendar_id,
            FetchedBody.id.not_in(newest.limit(keep).scalar_subquery()),
        )
    )
    session.execute(
        delete(FetchedBody).where(
            FetchedBody.external_calendar_id == calendar_id,
            FetchedBody.outcome == "unchanged",
            FetchedBody.id != newest.limit(1).scalar_subquery(),
        )
    )


def find_body(
    session: Session, calendar_id: uuid.UUID, *, run_id: uuid.UUID | None = None
) -> FetchedBody | None:
    """The calendar's newest kept body, or the one fetched by that sync run."""
    query = select(FetchedBody).where(FetchedBody.external_calendar_id == calendar_id)
    if run_id is not None:
        query = query.where(FetchedBody.sync_run_id == run_id)
    return session.scalar(query.order_by(FetchedBody.fetched_at.desc()).limit(1))
