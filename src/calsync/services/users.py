"""Accounts of the web interface: the one write path for users, and logging in.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's
low-memory profile) before a write transaction starts, so a hash never holds the
database's write lock. A login is refused while a lock is on:

* a user name from one address: 5 failures free, then 30 s, doubling to 15 min;
* an address, whatever the names: 20 failures free, then the same.

Counters forget failures a day old, and a success clears its name's counter.
An attacker elsewhere cannot lock a user out: the counters are per address.

First run: while no account exists, :meth:`Users.open_setup` makes a one-time
setup token (its SHA-256 is stored, so every replica accepts it), and
:meth:`Users.finish_setup` makes the first account with it. Making any account
ends the setup: every setup token is deleted in that transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from calsync.clock import utc_now
from calsync.core.text import check_plain_text
from calsync.core.throttle import Lockout
from calsync.errors import BadRequest, Conflict, StoreError, TooManyRequests, Unauthorized
from calsync.store import users as rows

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from calsync.store.db import Store
    from calsync.store.models import User

USERNAME_MAX_LENGTH = 64
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 1024
PER_NAME = Lockout(free_failures=5, first=timedelta(seconds=30), longest=timedelta(minutes=15))
PER_ADDRESS = Lockout(free_failures=20, first=timedelta(seconds=30), longest=timedelta(minutes=15))
FORGET_AFTER = timedelta(days=1)
SESSION_SECRET = "session_secret"  # noqa: S105 - the name of the secret, not a secret
_SETUP = "setup_token:"
WRONG_LOGIN = "wrong user name or password"


def check_username(username: str) -> str:
    """A user name: 1 to 64 characters of plain text, no spaces at either end."""
    if not username.strip():
        raise BadRequest("a user name must not be empty", details={"field": "username"})
    if username != username.strip():
        raise BadRequest("a user name must not start or end with a space")
    if len(username) > USERNAME_MAX_LENGTH:
        raise BadRequest(f"a user name has at most {USERNAME_MAX_LENGTH} characters")
    try:
        check_plain_text(username)
    except ValueError as exc:
        raise BadRequest(f"user name: {exc}") from exc
    return username


def check_password(password: str) -> str:
    """A password of at least 10 characters (and at most 1024), not only spaces."""
    if not password.strip():
        raise BadRequest("the password must not be empty", details={"field": "password"})
    if len(password) < PASSWORD_MIN_LENGTH:
        raise BadRequest(
            f"the password is too short: use at least {PASSWORD_MIN_LENGTH} characters",
            details={"field": "password"},
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise BadRequest(f"the password is too long: at most {PASSWORD_MAX_LENGTH} characters")
    return password


def session_stamp(user: User) -> str:
    """A value a session keeps to stay valid: it changes with the password."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The accounts in ``store``; ``hasher`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        store: Store,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._dummy_hash: str | None = None

    # --- the accounts ---------------------------------------------------------------

    def add(self, username: str, password: str) -> User:
        """Make an account; any pending first-run setup ends with it."""
        check_username(username)
        password_hash = self._hasher.hash(check_password(password))
        now = self._clock()
        with self._store.write() as session:
            if rows.user_named(session, username) is not None:
                raise Conflict(f"a user named {username!r} already exists")
            user = rows.add_user(session, username=username, password_hash=password_hash, now=now)
            rows.delete_secrets_starting(session, _SETUP)
        return user

    def all(self) -> Sequence[User]:
        """Every account, by name."""
        with self._store.read() as session:
            return rows.all_users(session)

    def remove(self, username: str) -> None:
        """Delete an account: its sessions end at their next request."""
        with self._store.write() as session:
            if not rows.delete_user(session, username):
                raise BadRequest(f"no user named {username!r}")

    def change_password(self, username: str, password: str) -> None:
        """Set a new password: the account's other sessions end at their next request."""
        password_hash = self._hasher.hash(check_password(password))
        with self._store.write() as session:
            user = rows.user_named(session, username)
            if user is None:
                raise BadRequest(f"no user named {username!r}")
            rows.set_password_hash(session, user.id, password_hash, self._clock())

    def for_session(self, user_id: uuid.UUID, stamp: str) -> User | None:
        """The account a session names, if it still exists with the same password."""
        with self._store.read() as session:
            user = rows.user_by_id(session, user_id)
        if user is None or not hmac.compare_digest(session_stamp(user), stamp):
            return None
        return user

    def exist(self) -> bool:
        """Whether any account exists."""
        with self._store.read() as session:
            return rows.count_users(session) > 0

    # --- logging in -----------------------------------------------------------------

    def log_in(self, username: str, password: str, *, address: str) -> User:
        """The account, if the password is right and no lock is on; else an error.

        :class:`TooManyRequests` while locked (the password is not even checked),
        :class:`Unauthorized` for a wrong name or password (counted).
        """
        name = username[:USERNAME_MAX_LENGTH]
        keys = (f"name:{name.casefold()}@{address}", f"address:{address}")
        now = self._clock()
        with self._store.read() as session:
            locked = rows.locked_until(session, keys)
            user = rows.user_named(session, name)
        if locked is not None and locked > now:
            wait = math.ceil((locked - now).total_seconds())
            raise TooManyRequests(
                f"too many failed logins: try again in {_wait_text(wait)}",
                retry_after_seconds=wait,
            )
        verified = self._verify(user.password_hash if user else None, password)
        if user is None or not verified:
            self._count_failure(keys, now)
            raise Unauthorized(WRONG_LOGIN)
        renewed = (
            self._hasher.hash(password)
            if self._hasher.check_needs_rehash(user.password_hash)
            else None
        )
        with self._store.write() as session:
            rows.clear_failures(session, keys[0])
            rows.record_login(session, user.id, now=now)
            if renewed is not None:
                rows.set_password_hash(session, user.id, renewed, now)
            return rows.user_by_id(session, user.id) or user

    def _verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; an unknown user costs the same time (a dummy hash)."""
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash = self._dummy_hash
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _count_failure(self, keys: tuple[str, str], now: datetime) -> None:
        with self._store.write() as session:
            for key, lockout in zip(keys, (PER_NAME, PER_ADDRESS), strict=True):
                failures = rows.add_failure(session, key, now=now, forget_before=now - FORGET_AFTER)
                wait = lockout.after(failures)
                if wait:
                    rows.lock(session, key, until=now + wait)
            rows.prune_failures(session, before=now - FORGET_AFTER)

    # --- first run and the session secret ------------------------------------------

    def open_setup(self) -> str | None:
        """A new one-time setup token while no account exists (None once one does)."""
        token = secrets.token_urlsafe(32)
        with self._store.write() as session:
            if rows.count_users(session):
                return None
            rows.add_secret(session, name=_SETUP + _digest(token), value="", now=self._clock())
        return token

    def setup_open(self, token: str) -> bool:
        """Whether this setup token still makes the first account."""
        with self._store.read() as session:
            valid = rows.secret(session, _SETUP + _digest(token)) is not None
            return valid and rows.count_users(session) == 0

    def finish_setup(self, token: str, username: str, password: str) -> User:
        """Make the first account with a setup token; the token is spent."""
        check_username(username)
        password_hash = self._hasher.hash(check_password(password))
        now = self._clock()
        with self._store.write() as session:
            if not rows.delete_secret(session, _SETUP + _digest(token)) or rows.count_users(
                session
            ):
                raise BadRequest(SETUP_CLOSED)
            user = rows.add_user(session, username=username, password_hash=password_hash, now=now)
            rows.delete_secrets_starting(session, _SETUP)
        return user

    def session_secret(self) -> str:
        """The key that signs session cookies: made once, shared by every replica."""
        with self._store.read() as session:
            found = rows.secret(session, SESSION_SECRET)
        if found is not None:
            return found
        try:
            with self._store.write() as session:
                found = rows.secret(session, SESSION_SECRET)
                if found is None:
                    found = secrets.token_urlsafe(48)
                    rows.add_secret(session, name=SESSION_SECRET, value=found, now=self._clock())
        except StoreError:  # another replica made it at the same moment
            with self._store.read() as session:
                found = rows.secret(session, SESSION_SECRET)
            if found is None:
                raise
        return found


SETUP_CLOSED = (
    "this setup link is no longer valid: an account exists already. "
    "Log in, or make an account with `calsync users add NAME`."
)


def _wait_text(seconds: int) -> str:
    if seconds < 90:  # noqa: PLR2004 - under a minute and a half, in seconds
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"
