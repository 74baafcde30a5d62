"""API keys: rows looked up by the hash of their secret (only the hash is stored)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from calsync.store.models import ApiKey

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence
    from datetime import datetime, timedelta

    from sqlalchemy.orm import Session


def add_api_key(session: Session, *, name: str, hashed_secret: str, now: datetime) -> ApiKey:
    """Insert a key."""
    key = ApiKey(name=name, hashed_secret=hashed_secret, created_at=now, updated_at=now)
    session.add(key)
    session.flush()
    return key


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()


def get_api_key(session: Session, key_id: uuid.UUID) -> ApiKey | None:
    """The key with this id, or None."""
    return session.get(ApiKey, key_id)


def api_key_by_hash(session: Session, hashed_secret: str) -> ApiKey | None:
    """The key whose secret hashes to ``hashed_secret``, or None."""
    return session.scalar(select(ApiKey).where(ApiKey.hashed_secret == hashed_secret))


def touch_api_key(
    session: Session, key_id: uuid.UUID, *, now: datetime, interval: timedelta
) -> None:
    """Set ``last_used_at`` unless it was set less than ``interval`` ago."""
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - interval),
        )
        .values(last_used_at=now)
    )
