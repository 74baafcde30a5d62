"""API keys in the store: ``calsync_…`` secrets kept only as a SHA-256 hash.

A key is ``calsync_`` followed by 32 random bytes (URL-safe base64). The store
keeps its SHA-256 hex digest in ``api_keys.hashed_secret``: a presented key is
hashed and looked up by that digest, then compared in constant time. A revoked
key (``revoked_at`` set) is refused. ``last_used_at`` is written at most once a
minute per key (:class:`KeyUses`), after the answer and never on its path: a
read of the API never waits for the database's write lock.

The functions take the caller's session (or the store); :mod:`calsync.web.auth`
checks requests with them and ``calsync apikey`` manages keys with them. No web
framework here, so the CLI stays quick to start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calsync.errors import BadRequest, CalsyncError, NotFound, Unauthorized
from calsync.store import keys as stored_keys

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.store.db import Store
    from calsync.store.models import ApiKey

log = structlog.get_logger("calsync.keys")
KEY_PREFIX = "calsync_"
NAME_MAX_LENGTH = 200
TOUCH_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is updated at most this often per key."""


def new_secret() -> str:
    """A fresh API key: ``calsync_`` and 32 random bytes, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest stored for a key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, name: str, now: datetime) -> tuple[ApiKey, str]:
    """Store a new key named ``name``; return its row and the secret, which is not stored."""
    if not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise BadRequest(f"an API key needs a name of 1 to {NAME_MAX_LENGTH} characters")
    secret = new_secret()
    return stored_keys.add_api_key(
        session, name=name, hashed_secret=hash_secret(secret), now=now
    ), secret


def list_api_keys(session: Session) -> Sequence[ApiKey]:
    """Every key, revoked ones too, oldest first."""
    return stored_keys.list_api_keys(session)


def revoke_api_key(session: Session, key_id: uuid.UUID, *, now: datetime) -> ApiKey:
    """Revoke a key from now on (again: keeps the first time); :class:`NotFound` if unknown."""
    key = stored_keys.get_api_key(session, key_id)
    if key is None:
        raise NotFound(kind="API key", ident=str(key_id))
    if key.revoked_at is None:
        key.revoked_at = now
        key.updated_at = now
    return key


def find_api_key(session: Session, secret: str) -> ApiKey | None:
    """The key whose secret this is, revoked or not; None if there is none."""
    digest = hash_secret(secret)
    key = stored_keys.api_key_by_hash(session, digest)
    if key is None or not hmac.compare_digest(key.hashed_secret, digest):
        return None
    return key


def touch_api_key(session: Session, key_id: uuid.UUID, *, now: datetime) -> None:
    """Set ``last_used_at`` unless it was set less than :data:`TOUCH_INTERVAL` ago."""
    stored_keys.touch_api_key(session, key_id, now=now, interval=TOUCH_INTERVAL)


def authenticate(store: Store, secret: str) -> ApiKey:
    """The valid key for ``secret`` (a read only); :class:`Unauthorized` otherwise."""
    with store.read() as session:
        key = find_api_key(session, secret)
    if key is None or key.revoked_at is not None:
        reason = "unknown API key" if key is None else "this API key was revoked"
        raise Unauthorized(reason, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return key


class KeyUses:
    """Which uses of a key to record: one per :data:`TOUCH_INTERVAL` per key and process.

    The store's ``last_used_at`` says whether a write is due; the process also
    remembers the writes it started, so a write waiting for the lock is not
    started again by every following request.
    """

    def __init__(self) -> None:
        self._started: dict[uuid.UUID, datetime] = {}
        self._lock = threading.Lock()

    def due(self, key: ApiKey, now: datetime) -> bool:
        """Whether this use of ``key`` at ``now`` is to be written (and note that it is)."""
        if key.last_used_at is not None and now - key.last_used_at < TOUCH_INTERVAL:
            return False
        with self._lock:
            started = self._started.get(key.id)
            if started is not None and now - started < TOUCH_INTERVAL:
                return False
            self._started[key.id] = now
        return True


def record_use(store: Store, key_id: uuid.UUID, now: datetime) -> None:
    """Write a key's ``last_used_at`` (run after the answer); a failure is only logged."""
    try:
        with store.write() as session:
            touch_api_key(session, key_id, now=now)
    except CalsyncError as exc:
        log.warning("api_key.touch_failed", api_key_id=str(key_id), error=str(exc))
