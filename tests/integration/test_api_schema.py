"""Schemathesis against the whole app's /openapi.json: every check, every phase, no failure.

A bounded ``schemathesis run`` (examples, coverage, fuzzing and stateful phases,
``--checks all``) against ``calsync run``'s app on a real 127.0.0.1 socket and a
fresh SQLite store: no 500s, every answer (status, content type, headers, body)
as documented, schema-violating requests refused with a 4xx, undocumented methods
405 with a true ``Allow``, requests without the key 401. Its settings are in
``schemathesis.toml`` beside this file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from appserver import serve_in_thread
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.store.db import Store
from calsync.web.app import create_app
from calsync.web.auth import create_api_key
from conftest import NOW, make_settings

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture
def served(tmp_path, clock):
    """The whole app on a fresh SQLite store, served on 127.0.0.1, and a valid API key."""
    settings = make_settings(f"sqlite:///{tmp_path / 'calsync.db'}")
    store = Store.connect(settings.database)
    store.upgrade()
    with store.write() as session:
        _, secret = create_api_key(session, name="schemathesis", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock, is_running=lambda: True,
    )  # fmt: skip
    url, stop = serve_in_thread(app)
    yield url, secret
    stop()
    store.close()


def test_the_api_conforms_to_its_schema_under_every_check(served, tmp_path):
    """A bounded schemathesis run with all its checks and phases finds nothing."""
    url, secret = served
    command = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
        "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", "25", "--workers", "1", "--no-color",
        "--header", f"Authorization: Bearer {secret}",
    ]  # fmt: skip
    result = subprocess.run(  # noqa: PLW1510 - the exit code is asserted with the report
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert 0 == result.returncode, result.stdout[-20_000:] + result.stderr[-5_000:]
