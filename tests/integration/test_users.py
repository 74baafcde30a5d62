"""Accounts of the web interface (calsync.services.users) on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from calsync.errors import BadRequest, Conflict, TooManyRequests, Unauthorized
from calsync.services.users import Users, session_stamp

PASSWORD = "correct horse battery"  # noqa: S105 - a test account's password
#: argon2 at its cheapest: the tests check the rules, not the hash's cost.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def users(store, clock):
    """The accounts service on the test store, with a cheap hasher and the fixed clock."""
    return Users(store, hasher=CHEAP, clock=clock)


def test_a_user_logs_in_with_the_password_given(users, clock):
    """Adding stores an argon2id hash; logging in answers the user and notes the login time."""
    users.add("anna", PASSWORD)
    user = users.log_in("anna", PASSWORD, address="192.0.2.1")
    assert "anna" == user.username
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    [listed] = users.all()
    assert clock.now == listed.last_login_at


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", PASSWORD, "must not be empty"),
        ("   ", PASSWORD, "must not be empty"),
        (" anna", PASSWORD, "start or end with a space"),
        ("an\nna", PASSWORD, "control character"),
        ("a" * 65, PASSWORD, "at most 64"),
        ("anna", "", "must not be empty"),
        ("anna", "short", "at least 10"),
        ("anna", "x" * 1025, "too long"),
    ],
)
def test_bad_names_and_passwords_are_refused_with_the_reason(users, username, password, message):
    """Empty, padded, multi-line or long names, and empty or short passwords: BadRequest."""
    with pytest.raises(BadRequest, match=message):
        users.add(username, password)
    assert [] == list(users.all())


def test_a_taken_name_is_a_conflict(users):
    """A second account with the same name is refused, naming it."""
    users.add("anna", PASSWORD)
    with pytest.raises(Conflict, match="'anna' already exists"):
        users.add("anna", "another password")


def test_unknown_users_cannot_be_removed_or_changed(users):
    """Removing or changing the password of a name nobody has says so."""
    with pytest.raises(BadRequest, match="no user named 'bob'"):
        users.remove("bob")
    with pytest.raises(BadRequest, match="no user named 'bob'"):
        users.change_password("bob", PASSWORD)


def test_a_new_password_ends_the_old_sessions(users):
    """A session's stamp stops matching once the password changed; the new password works."""
    user = users.add("anna", PASSWORD)
    stamp = session_stamp(user)
    assert users.for_session(user.id, stamp) is not None
    users.change_password("anna", "a brand new password")
    assert users.for_session(user.id, stamp) is None
    with pytest.raises(Unauthorized):
        users.log_in("anna", PASSWORD, address="192.0.2.1")
    assert "anna" == users.log_in("anna", "a brand new password", address="192.0.2.1").username


def test_a_removed_user_has_no_session(users):
    """Removing an account ends its sessions."""
    user = users.add("anna", PASSWORD)
    users.remove("anna")
    assert users.for_session(user.id, session_stamp(user)) is None
    assert not users.exist()


def test_wrong_passwords_and_unknown_names_are_the_same_refusal(users):
    """A wrong password and an unknown name give the same message."""
    users.add("anna", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        users.log_in("anna", "not the password", address="192.0.2.1")
    with pytest.raises(Unauthorized) as unknown:
        users.log_in("nobody", PASSWORD, address="192.0.2.1")
    assert str(wrong.value) == str(unknown.value)


def _fail(users: Users, times: int, *, name: str = "anna", address: str = "192.0.2.1") -> None:
    for _ in range(times):
        with pytest.raises(Unauthorized):
            users.log_in(name, "not the password", address=address)


def test_five_failures_lock_the_name_from_that_address_for_30_seconds(users, clock):
    """After 5 failures even the right password waits 30 s (429); then it works again."""
    users.add("anna", PASSWORD)
    _fail(users, 5)
    with pytest.raises(TooManyRequests, match="try again in 30 s") as locked:
        users.log_in("anna", PASSWORD, address="192.0.2.1")
    assert 30 == locked.value.retry_after_seconds
    assert {"Retry-After": "30"} == locked.value.headers
    clock.now += timedelta(seconds=31)
    assert "anna" == users.log_in("anna", PASSWORD, address="192.0.2.1").username


def test_the_lock_doubles_with_each_failure_up_to_15_minutes(users, clock):
    """Failures past the fifth lock for 30 s, 60 s, 120 s … at most 15 min."""
    users.add("anna", PASSWORD)
    _fail(users, 4)
    waits = []
    for _ in range(8):
        _fail(users, 1)
        with pytest.raises(TooManyRequests) as locked:
            users.log_in("anna", PASSWORD, address="192.0.2.1")
        waits.append(locked.value.retry_after_seconds)
        clock.now += timedelta(seconds=locked.value.retry_after_seconds)
    assert [30, 60, 120, 240, 480, 900, 900, 900] == waits


def test_a_lock_does_not_reach_the_same_user_from_elsewhere(users):
    """An attacker's failures lock their address, not the user at another address."""
    users.add("anna", PASSWORD)
    _fail(users, 5, address="203.0.113.9")
    with pytest.raises(TooManyRequests):
        users.log_in("anna", PASSWORD, address="203.0.113.9")
    assert "anna" == users.log_in("anna", PASSWORD, address="192.0.2.1").username


def test_an_address_trying_many_names_is_locked_for_all_of_them(users):
    """20 failures from one address, spread over names, lock that address for every name."""
    users.add("anna", PASSWORD)
    for n in range(20):
        _fail(users, 1, name=f"guess{n}")
    with pytest.raises(TooManyRequests):
        users.log_in("anna", PASSWORD, address="192.0.2.1")
    assert "anna" == users.log_in("anna", PASSWORD, address="192.0.2.2").username


def test_a_success_clears_the_count_of_its_name(users):
    """4 failures, a success, 4 failures: no lock (the count restarted)."""
    users.add("anna", PASSWORD)
    _fail(users, 4)
    users.log_in("anna", PASSWORD, address="192.0.2.1")
    _fail(users, 4)
    assert "anna" == users.log_in("anna", PASSWORD, address="192.0.2.1").username


def test_failures_a_day_old_are_forgotten(users, clock):
    """A failure older than a day no longer counts towards a lock."""
    users.add("anna", PASSWORD)
    _fail(users, 4)
    clock.now += timedelta(days=1, seconds=1)
    _fail(users, 4)
    assert "anna" == users.log_in("anna", PASSWORD, address="192.0.2.1").username


def test_the_first_run_setup_token_makes_the_first_account_once(users):
    """open_setup gives a token while no account exists; it makes one account, then is spent."""
    token = users.open_setup()
    assert token is not None
    assert users.setup_open(token)
    assert not users.setup_open(token + "x")
    user = users.finish_setup(token, "anna", PASSWORD)
    assert "anna" == user.username
    assert not users.setup_open(token)
    with pytest.raises(BadRequest, match="no longer valid"):
        users.finish_setup(token, "mallory", PASSWORD)
    assert users.open_setup() is None


def test_every_setup_token_is_valid_until_an_account_exists(users):
    """Tokens from several starts (or replicas) all work, and all end with the first account."""
    first, second = users.open_setup(), users.open_setup()
    assert users.setup_open(first)
    assert users.setup_open(second)
    users.add("anna", PASSWORD)
    assert not users.setup_open(first)
    assert not users.setup_open(second)


def test_a_bad_name_at_setup_keeps_the_token(users):
    """A refused name or password does not spend the setup token."""
    token = users.open_setup()
    with pytest.raises(BadRequest):
        users.finish_setup(token, "anna", "short")
    assert users.setup_open(token)


def test_the_session_secret_is_made_once_and_shared(store, clock):
    """Two services on one database (two replicas) sign sessions with the same secret."""
    first = Users(store, hasher=CHEAP, clock=clock).session_secret()
    second = Users(store, hasher=CHEAP, clock=clock).session_secret()
    assert first == second
    assert len(first) >= 32


def test_for_session_of_an_unknown_id_is_none(users):
    """A session naming an id no account has is no session."""
    assert users.for_session(uuid.uuid4(), "stamp") is None


def test_a_login_that_renews_the_hash_answers_the_renewed_user(store, clock):
    """A hash made with older argon2 settings is renewed at login; the session made then holds."""
    Users(store, hasher=CHEAP, clock=clock).add("anna", PASSWORD)
    stronger = Users(store, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    user = stronger.log_in("anna", PASSWORD, address="192.0.2.1")
    assert "t=2" in user.password_hash
    session_user = stronger.for_session(user.id, session_stamp(user))
    assert session_user is not None
    assert user.id == session_user.id
