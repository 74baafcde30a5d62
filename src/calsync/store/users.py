"""The SQL of accounts: users, the secrets every replica shares, failed-login counters.

No rules here: :mod:`calsync.services.users` validates, hashes and decides; these
functions read and write rows in the caller's session.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import case, delete, func, select, update

from calsync.store.db import upsert_insert
from calsync.store.models import AppSecret, LoginFailure, User

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session


def user_named(session: Session, username: str) -> User | None:
    """The user with exactly this name, if any."""
    return session.scalar(select(User).where(User.username == username))


def user_by_id(session: Session, user_id: uuid.UUID) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)


def all_users(session: Session) -> Sequence[User]:
    """Every user, by name."""
    return session.scalars(select(User).order_by(User.username)).all()


def count_users(session: Session) -> int:
    """How many users there are."""
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def add_user(session: Session, *, username: str, password_hash: str, now: datetime) -> User:
    """Insert a user (the caller has checked the name is free)."""
    user = User(username=username, password_hash=password_hash, created_at=now, updated_at=now)
    session.add(user)
    session.flush()
    return user


def delete_user(session: Session, username: str) -> bool:
    """Delete the user with this name; whether there was one."""
    result = session.execute(delete(User).where(User.username == username))
    return bool(getattr(result, "rowcount", 0))


def secret(session: Session, name: str) -> str | None:
    """The value of a shared secret, if it exists."""
    return session.scalar(select(AppSecret.value).where(AppSecret.name == name))


def add_secret(session: Session, *, name: str, value: str, now: datetime) -> None:
    """Store a shared secret under a new name (a taken name fails the transaction)."""
    session.add(AppSecret(name=name, value=value, created_at=now, updated_at=now))
    session.flush()


def delete_secret(session: Session, name: str) -> bool:
    """Delete one shared secret; whether it existed (and this transaction deleted it)."""
    result = session.execute(delete(AppSecret).where(AppSecret.name == name))
    return bool(getattr(result, "rowcount", 0))


def delete_secrets_starting(session: Session, prefix: str) -> None:
    """Delete every shared secret whose name starts with ``prefix``."""
    session.execute(delete(AppSecret).where(AppSecret.name.startswith(prefix, autoescape=True)))


def locked_until(session: Session, keys: Sequence[str]) -> datetime | None:
    """The latest ``locked_until`` among these failure counters, if any is set."""
    return session.scalar(
        select(func.max(LoginFailure.locked_until)).where(LoginFailure.key.in_(keys))
    )


def add_failure(session: Session, key: str, *, now: datetime, forget_before: datetime) -> int:
    """Count one more failure of ``key`` (from one, if the last was before ``forget_before``).

    One statement (an upsert), so concurrent failures on several replicas all count.
    Returns the count.
    """
    insert = upsert_insert(session)
    statement = (
        insert(LoginFailure)
        .values(id=uuid.uuid4(), key=key, failures=1, created_at=now, updated_at=now)
        .on_conflict_do_update(
            index_elements=[LoginFailure.key],
            set_={
                "failures": case(
                    (LoginFailure.updated_at < forget_before, 1),
                    else_=LoginFailure.failures + 1,
                ),
                "updated_at": now,
            },
        )
        .returning(LoginFailure.failures)
    )
    return int(session.scalar(statement) or 0)


def lock(session: Session, key: str, *, until: datetime) -> None:
    """Refuse attempts of ``key`` until ``until``."""
    session.execute(update(LoginFailure).where(LoginFailure.key == key).values(locked_until=until))


def clear_failures(session: Session, key: str) -> None:
    """Forget the failures of ``key`` (a successful login)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))


def prune_failures(session: Session, *, before: datetime) -> None:
    """Forget counters whose last failure was before ``before``."""
    session.execute(delete(LoginFailure).where(LoginFailure.updated_at < before))


def set_password_hash(
    session: Session, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Replace a user's password hash."""
    session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash, updated_at=now)
    )


def record_login(session: Session, user_id: uuid.UUID, *, now: datetime) -> None:
    """Note a successful login."""
    session.execute(update(User).where(User.id == user_id).values(last_login_at=now))
