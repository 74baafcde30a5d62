"""Start-up: a command imports only what it uses; a database at the head is not migrated again."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from calsync.config import DatabaseSettings
from calsync.errors import StoreError
from calsync.store.db import MIGRATIONS, Store, head_revision

_IMPORTED = """
import sys
out = sys.argv[1]
sys.argv = ["calsync", *sys.argv[2:]]
from calsync.__main__ import main
try:
    main()
except SystemExit:
    pass
open(out, "w").write(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""
_UPGRADED = """
import sys
from calsync.config import DatabaseSettings
from calsync.store.db import Store
store = Store.connect(DatabaseSettings(url=sys.argv[1]))
store.upgrade()
print(store.revision(), "alembic" in sys.modules)
"""
_HEAVY = {"alembic", "fastapi", "starlette", "uvicorn", "httpx", "tldextract", "apscheduler"}


def imported(tmp_path, database_url: str, *args: str) -> set[str]:
    """The top-level packages a real ``calsync ARGS`` process has imported when it ends."""
    out = tmp_path / "modules.txt"
    env = {"CALSYNC_DATABASE__URL": database_url, "CALSYNC_LOGGING__LEVEL": "warning"}
    subprocess.run(
        [sys.executable, "-c", _IMPORTED, str(out), *args],
        check=True, capture_output=True, timeout=60, env=env,
    )  # fmt: skip
    return set(out.read_text().split())


def test_version_imports_no_database_web_or_settings_code(tmp_path):
    """`calsync --version` imports neither SQLAlchemy, pydantic nor any of the heavy packages."""
    found = imported(tmp_path, "sqlite:///unused.db", "--version")
    assert found & {"sqlalchemy", "pydantic", *_HEAVY} == set()


def test_products_list_on_a_migrated_database_imports_no_alembic_web_or_fetch_code(
    tmp_path, store, database_url
):
    """`calsync products list` at the head revision: no Alembic, web server or HTTP client."""
    found = imported(tmp_path, database_url, "products", "list")
    assert "sqlalchemy" in found
    assert found & _HEAVY == set()


def test_upgrade_at_the_head_revision_leaves_alembic_unimported(store, database_url):
    """A database already at the head: upgrade is a read of its revision, without Alembic."""
    done = subprocess.run(
        [sys.executable, "-c", _UPGRADED, database_url],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout.split() == [head_revision(), "False"]


def test_a_new_database_has_no_revision_until_upgraded(database_url):
    """A database never migrated reads as no revision; upgrade brings it to the head."""
    store = Store.connect(DatabaseSettings(url=database_url))
    try:
        assert store.revision() is None
        store.upgrade()
        assert store.revision() == head_revision()
    finally:
        store.close()


def test_the_head_revision_read_as_text_is_alembics_head():
    """The revision read from the versions folder without Alembic is the one Alembic finds."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_write_waits_its_turn_and_gives_up_after_the_wait(database_url):
    """On SQLite a second write of the process waits for the first; too long a wait is an error."""
    store = Store.connect(DatabaseSettings(url=database_url, sqlite_busy_timeout_seconds=0.2))
    store.upgrade()
    writing = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with store.write():
            writing.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert writing.wait(10)
        with pytest.raises(StoreError, match="database is locked"), store.write():
            pass
    finally:
        done.set()
        holder.join(10)
        store.close()
