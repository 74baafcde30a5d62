"""Shared fixtures: the feed server, settings, stores on SQLite and PostgreSQL, a fixed clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
import structlog
from sqlalchemy.pool import NullPool

from calsync.config import Settings, load_settings
from calsync.core.ical_in import ParseOptions
from calsync.services import calendars, links
from calsync.services.context import Cause, WriteContext
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar
from feedserver import FeedServer, feed_server  # noqa: F401 - the fixture, for every test

FEEDS = Path(__file__).parent / "feeds"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("CALSYNC_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_CAUSE = Cause.cli("tests@localhost")
"""The actor of the writes tests make through the services."""
REPRESENTATION = {"Prefer": "return=representation"}
"""A write answers with its rows (without it, PostgREST's default: no body)."""


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults, whatever an earlier CLI run configured."""
    yield
    structlog.reset_defaults()


def parse_options(**overrides: object) -> ParseOptions:
    """Parse options at :data:`NOW`, Europe/Amsterdam, with test-sized limits."""
    values: dict[str, object] = {
        "now": NOW,
        "monotonic": time.monotonic,
        "timezone": "Europe/Amsterdam",
        "time_budget_seconds": 5.0,
    }
    values.update(overrides)
    return ParseOptions(**values)  # type: ignore[arg-type]


def calendar(*events: str, head: str = "") -> bytes:
    """A VCALENDAR with the given VEVENT bodies (lines joined by newlines); ``head`` may set PRODID."""
    body = "".join(
        "BEGIN:VEVENT\r\n" + "\r\n".join(event.strip().splitlines()) + "\r\nEND:VEVENT\r\n"
        for event in events
    )
    prodid = "" if "PRODID" in head else "PRODID:-//calsync tests//EN\r\n"
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{prodid}{head}{body}END:VCALENDAR\r\n".encode()


def add_calendar(
    session,
    *,
    product_id: uuid.UUID,
    name: str,
    ical_url: str,
    now: datetime,
    time_offset: int = 0,
    active: bool = True,
    transparent_events: str = "block",
) -> ExternalCalendar:
    """An external calendar added as the API and the CLI add one (:mod:`calsync.services.calendars`)."""
    return calendars.add(
        session, WriteContext(now=now, cause=TEST_CAUSE), product_id=product_id, name=name, ical_url=ical_url,
        time_offset=time_offset, active=active, transparent_events=transparent_events,
    )  # fmt: skip


def link_products(session, accumulator_id: uuid.UUID, element_id: uuid.UUID, *, now: datetime):
    """Make ``element`` a part of ``accumulator``, as the API and the CLI do."""
    return links.link(session, WriteContext(now=now, cause=TEST_CAUSE), accumulator_id, element_id)


def request_sync(session, calendar_id: uuid.UUID, *, now: datetime) -> ExternalCalendar:
    """Ask for a sync of the calendar now, as the API and the CLI do."""
    return calendars.request_sync(session, WriteContext(now=now, cause=TEST_CAUSE), calendar_id)


def remove_calendar(session, calendar_id: uuid.UUID, *, now: datetime = NOW) -> int:
    """Remove a calendar and its imported bookings, as the API and the CLI do; how many went."""
    calendar = calendars.get(session, calendar_id)
    return calendars.remove(session, WriteContext(now=now, cause=TEST_CAUSE), [calendar])[
        calendar_id
    ]


def dead_pid() -> int:
    """The pid of a process of this host that has finished (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def make_settings(database_url: str, **sections: dict[str, object]) -> Settings:
    """Settings for tests: the given database, private networks allowed (127.0.0.1)."""
    environ = {
        "CALSYNC_DATABASE__URL": database_url,
        "CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
        "CALSYNC_FETCH__TIMEOUT_SECONDS": "5",
    }
    for section, values in sections.items():
        for key, value in values.items():
            environ[f"CALSYNC_{section.upper()}__{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)  # fmt: skip
    return load_settings(path=None, environ=environ)


def postgres_schema_url(before_drop: Callable[[], None] | None = None) -> Iterator[str]:
    """A private schema on the test PostgreSQL, dropped afterwards (after ``before_drop``).

    Without a PostgreSQL URL: fail in CI, skip elsewhere. The admin engine keeps
    no pooled connection, so dropping the schema works even after PostgreSQL was
    restarted (the replica tests do that).
    """
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CALSYNC_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("CALSYNC_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=NullPool
    )
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        if before_drop is not None:
            before_drop()
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'calsync.db'}"
    else:
        yield from postgres_schema_url()


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on the fresh database."""
    return make_settings(database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """A migrated store on the fresh database."""
    store = Store.connect(settings.database)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """A clock fixed at :data:`NOW` (advance it by assigning ``clock.now``)."""

    class _Clock:
        now = NOW

        def __call__(self) -> datetime:
            return self.now

    return _Clock()


@pytest.fixture
def serve_feed(feed_server: FeedServer) -> Callable[..., str]:  # noqa: F811
    """Serve bytes at a path on the feed server and return its URL."""

    def serve(path: str, body: bytes, **kwargs: object) -> str:
        feed_server.serve(path, body, **kwargs)  # type: ignore[arg-type]
        return feed_server.url(path)

    return serve
