"""Open issues: states that last (a conflict, a stale calendar or feed reader), each on once.

A row is inserted when an issue opens and deleted when it ends. The insert
does nothing for a key already open and the delete returns only what it
deleted, so of two replicas that see the same change only one opens (or
closes) the issue: its event is emitted once.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from calsync.store.db import upsert_insert
from calsync.store.models import OpenIssue

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


def open_issues(
    session: Session, kind: str, *, product_ids: Iterable[uuid.UUID] | None = None
) -> dict[str, dict[str, Any]]:
    """The open issues of a kind (of these products), by key, with their data."""
    query = select(OpenIssue.key, OpenIssue.data).where(OpenIssue.kind == kind)
    if product_ids is not None:
        query = query.where(OpenIssue.product_id.in_(list(product_ids)))
    return {key: json.loads(data) for key, data in session.execute(query)}


def open_new(
    session: Session,
    kind: str,
    issues: Sequence[tuple[str, uuid.UUID | None, Mapping[str, Any]]],
    *,
    now: datetime,
) -> list[str]:
    """Open these (key, product id, data) issues; the keys this transaction opened."""
    opened: list[str] = []
    insert = upsert_insert(session)
    for key, product_id, data in issues:
        statement = (
            insert(OpenIssue)
            .values(
                id=uuid.uuid4(),
                kind=kind,
                key=key,
                product_id=product_id,
                opened_at=now,
                data=json.dumps(data),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["kind", "key"])
            .returning(OpenIssue.key)
        )
        if session.execute(statement).scalar() is not None:
            opened.append(key)
    return opened


def close(session: Session, kind: str, keys: Iterable[str]) -> list[dict[str, Any]]:
    """End these issues; the data (with ``opened_at``) of those this transaction ended."""
    wanted = list(keys)
    if not wanted:
        return []
    rows = session.execute(
        delete(OpenIssue)
        .where(OpenIssue.kind == kind, OpenIssue.key.in_(wanted))
        .returning(OpenIssue.data, OpenIssue.opened_at)
    )
    return [json.loads(data) | {"opened_at": opened_at.isoformat()} for data, opened_at in rows]
