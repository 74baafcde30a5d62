"""calsync apikey create/list/revoke, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from calsync.cli import app
from calsync.store.db import Store
from calsync.web.auth import authenticate
from conftest import make_settings


@pytest.fixture
def cli(database_url, monkeypatch, tmp_path):
    """Run calsync commands against the test database; returns the click Result."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.setenv("CALSYNC_LOGGING__LEVEL", "warning")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args), catch_exceptions=not ok)
        if ok:
            assert 0 == result.exit_code, result.output
        return result

    return invoke


@pytest.fixture
def store(database_url):
    """The test database, for checking keys the way the API does."""
    store = Store.connect(make_settings(database_url).database)
    yield store
    store.close()


def test_create_prints_the_key_once_with_a_warning(cli, store):
    """Creating prints a calsync_ key on stdout and warns on stderr that it is not shown again."""
    result = cli("apikey", "create", "booking site")
    key = result.stdout.strip()
    assert key.startswith("calsync_")
    assert 1 == len(result.stdout.splitlines())
    assert "not shown again" in result.stderr
    assert "booking site" == authenticate(store, key).name


def test_create_json_includes_the_key(cli):
    """With --json, create prints the key's fields and the key itself."""
    row = json.loads(cli("apikey", "create", "ci", "--json").stdout)
    assert {"id", "name", "created_at", "last_used_at", "revoked_at", "key"} == set(row)
    assert ("ci", None) == (row["name"], row["revoked_at"])


def test_list_never_shows_keys_or_hashes(cli):
    """The list shows id, name and times of every key, never the key or its hash."""
    key = cli("apikey", "create", "site").stdout.strip()
    cli("apikey", "create", "backup")
    rows = json.loads(cli("apikey", "list", "--json").stdout)
    assert ["site", "backup"] == [row["name"] for row in rows]
    assert {"id", "name", "created_at", "last_used_at", "revoked_at"} == set(rows[0])
    table = cli("apikey", "list").stdout
    assert "site" in table
    assert "backup" in table
    assert key not in table
    assert "hashed_secret" not in table


def test_list_without_keys(cli):
    """The list says (none) when there is no key."""
    assert "(none)" == cli("apikey", "list").stdout.strip()


def test_revoke_refuses_the_key_from_then_on(cli, store):
    """Revoking sets revoked_at; the key is refused afterwards."""
    key = cli("apikey", "create", "old site").stdout.strip()
    [row] = json.loads(cli("apikey", "list", "--json").stdout)
    assert f"revoked {row['id']}" in cli("apikey", "revoke", row["id"]).stdout
    [row] = json.loads(cli("apikey", "list", "--json").stdout)
    assert row["revoked_at"] is not None
    with pytest.raises(Exception, match="revoked"):
        authenticate(store, key)


def test_revoke_unknown_key_is_not_found(cli):
    """Revoking an id that is no key says so on stderr and exits 1."""
    key_id = str(uuid.uuid4())
    result = cli("apikey", "revoke", key_id, ok=False)
    assert (1, f"calsync: no API key with id {key_id}") == (result.exit_code, result.stderr.strip())


def test_create_needs_a_name(cli):
    """An empty name is refused: a bad argument, exit 2, naming the name."""
    result = cli("apikey", "create", " ", ok=False)
    assert (2, True) == (result.exit_code, "name" in result.stderr)
