"""calsync users add/list/remove/passwd, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from calsync.cli import app
from calsync.services.users import Users
from calsync.store.db import Store
from conftest import make_settings


@pytest.fixture
def cli(database_url, monkeypatch, tmp_path):
    """Run calsync commands against the test database; returns the click Result."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.setenv("CALSYNC_LOGGING__LEVEL", "warning")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, code: int = 0):
        result = runner.invoke(app, list(args), input=stdin)
        assert code == result.exit_code, result.output
        return result

    return invoke


@pytest.fixture
def users(database_url):
    """The accounts of the test database, as the web interface checks them."""
    store = Store.connect(make_settings(database_url).database)
    yield Users(store, hasher=PasswordHasher())
    store.close()


def test_add_asks_for_the_password_twice_and_it_logs_in(cli, users):
    """`users add NAME` prompts twice (hidden); the account then logs in with that password."""
    result = cli("users", "add", "anna", stdin="correct horse battery\ncorrect horse battery\n")
    assert "Repeat the password" in result.output
    assert "correct horse" not in result.output
    assert "anna" == users.log_in("anna", "correct horse battery", address="cli").username


def test_add_with_password_stdin_reads_one_line(cli, users):
    """--password-stdin takes the first line of standard input as the password."""
    cli("users", "add", "anna", "--password-stdin", stdin="correct horse battery\n")
    assert "anna" == users.log_in("anna", "correct horse battery", address="cli").username


def test_a_short_password_is_a_bad_argument(cli, users):
    """A password under 10 characters exits 2 with the reason; no account is made."""
    result = cli("users", "add", "anna", "--password-stdin", stdin="short\n", code=2)
    assert "at least 10 characters" in result.output
    assert not users.exist()


def test_a_taken_name_is_a_conflict(cli):
    """Adding a name that exists exits 1 naming it (a conflict, as every command's 409 is)."""
    cli("users", "add", "anna", "--password-stdin", stdin="correct horse battery\n")
    result = cli("users", "add", "anna", "--password-stdin", stdin="another password\n", code=1)
    assert "'anna' already exists" in result.output


def test_no_password_to_read_exits_2(cli):
    """Without a terminal or --password-stdin (stdin closed) add exits 2 and says what to do."""
    result = cli("users", "add", "anna", stdin="", code=2)
    assert "--password-stdin" in result.output


def test_list_shows_names_and_times_never_hashes(cli):
    """`users list` (and --json) show name, created_at, last_login_at; no hash."""
    cli("users", "add", "anna", "--password-stdin", stdin="correct horse battery\n")
    [row] = json.loads(cli("users", "list", "--json").stdout)
    assert {"username", "created_at", "last_login_at"} == set(row)
    assert ("anna", None) == (row["username"], row["last_login_at"])
    table = cli("users", "list").stdout
    assert "anna" in table
    assert "argon2" not in table


def test_remove_and_passwd(cli, users):
    """`users passwd` sets a new password; `users remove` deletes the account and says none is left."""
    cli("users", "add", "anna", "--password-stdin", stdin="correct horse battery\n")
    cli("users", "passwd", "anna", "--password-stdin", stdin="a brand new password\n")
    assert users.log_in("anna", "a brand new password", address="cli")
    result = cli("users", "remove", "anna")
    assert "removed" in result.stdout
    assert "No account is left" in result.stderr
    assert "(none)" == cli("users", "list").stdout.strip()


def test_unknown_names_are_bad_arguments(cli):
    """`users remove` and `users passwd` of a name nobody has exit 2, naming it."""
    assert "no user named 'bob'" in cli("users", "remove", "bob", code=2).output
    result = cli(
        "users", "passwd", "bob", "--password-stdin", stdin="a brand new password\n", code=2
    )
    assert "no user named 'bob'" in result.output
