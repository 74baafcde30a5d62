"""The web edge on SQLite and PostgreSQL: limits, bounds, request ids, errors, readiness.

Body and row limits, direct-booking bounds, request ids, errors that keep internals
in the log, impossible feed tokens, readiness of a read-only database, key use.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from fastapi.testclient import TestClient

from appserver import serve_in_thread
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.web.app import create_app
from calsync.web.auth import create_api_key, list_api_keys
from conftest import NOW, REPRESENTATION, make_settings
from daemon_process import wait_until


@pytest.fixture
def api_key(store) -> str:
    """A valid API key."""
    with store.write() as session:
        _, secret = create_api_key(session, name="tests", now=NOW)
    return secret


def build(store, database_url, clock, **api: object):
    """Calsync's whole app on the test store, with these ``[api]`` settings."""
    settings = make_settings(database_url, api=api) if api else make_settings(database_url)
    return create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip


@pytest.fixture
def client(store, database_url, clock, api_key):
    """A test client of the whole app sending a valid API key."""
    app = build(store, database_url, clock)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def _post_streamed(app, api_key: str, chunks: int, chunk: bytes) -> tuple[int, int, bytes]:
    """POST /v1/products with a chunked body (no Content-Length) straight through ASGI.

    Returns the status, the body bytes the app read, and the answer's body.
    """
    read = 0
    calls = 0
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read, calls
        calls += 1
        if calls > chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/products", "raw_path": b"/v1/products",
        "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
        "headers": [(b"authorization", f"Bearer {api_key}".encode()),
                    (b"content-type", b"application/json"), (b"host", b"test")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return answer["status"], read, answer["body"]


def test_a_huge_streamed_body_is_refused_after_the_limit(store, database_url, clock, api_key):
    """A 100 MB chunked body: 413 after reading at most max_body_bytes and one chunk.

    Regression: the API read any body whole (a 100 MB body raised memory by 254 MB).
    """
    app = build(store, database_url, clock, max_body_bytes=100_000)
    chunk = b" " * 65_536
    status, read, body = _post_streamed(app, api_key, 100 * 1024 * 1024 // len(chunk), chunk)
    assert (413, True) == (status, read <= 100_000 + len(chunk))
    assert b"api.max_body_bytes" in body


def test_a_body_whose_content_length_is_too_large_is_refused_unread(
    store, database_url, clock, api_key
):
    """A Content-Length over max_body_bytes is answered 413 naming the setting."""
    app = build(store, database_url, clock, max_body_bytes=1000)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = client.post("/v1/products", json=[{"name": "x" * 100}] * 20)
    assert (413, "payload_too_large") == (response.status_code, response.json()["code"])
    assert "api.max_body_bytes" in response.json()["message"]


def test_a_post_of_more_rows_than_the_limit_is_refused(store, database_url, clock, api_key):
    """POST of an array longer than max_rows_per_write: 413 naming the limit; nothing created.

    Regression: a 7.9 MB array created 200 002 products in one request.
    """
    app = build(store, database_url, clock, max_rows_per_write=3)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        response = client.post("/v1/products", json=[{"name": f"p{n}"} for n in range(4)])
        assert (413, "payload_too_large") == (response.status_code, response.json()["code"])
        assert "at most 3 rows (api.max_rows_per_write)" in response.json()["message"]
        assert [] == client.get("/v1/products").json()
        assert 201 == client.post("/v1/products", json=[{"name": "p"}] * 3).status_code


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "field"),
    [
        ("0865-01-01T00:00:00Z", "2026-12-01T00:00:00Z", "starts_at"),
        ("2026-12-01T00:00:00Z", "7252-01-01T00:00:00Z", "ends_at"),
        ("2026-10-15T11:00:00Z", "2026-10-20T00:00:00Z", "starts_at"),  # before now - 30 days
        ("2036-11-14T00:00:00Z", "2036-11-16T00:00:00Z", "ends_at"),  # past now + 10 years
    ],
)
def test_a_direct_booking_outside_the_bounds_is_refused(client, starts_at, ends_at, field):
    """A booking from the year 865 to 7252 (or just outside the bounds) is a 400 naming both.

    Regression: it was accepted (201 after 12 s of capacity checks).
    """
    [product] = client.post("/v1/products", json={"name": "House"}, headers=REPRESENTATION).json()
    response = client.post(
        "/v1/bookings",
        json={"product_id": product["id"], "starts_at": starts_at, "ends_at": ends_at},
    )
    assert (400, field) == (response.status_code, response.json()["details"].get("field"))
    details = response.json()["details"]
    assert (details["earliest"], details["latest"]) == (
        "2026-10-16T12:00:00Z",
        "2036-11-15T12:00:00Z",
    )


def test_a_direct_booking_within_the_bounds_is_made(client):
    """The bounds' edges themselves are inside: from now - sync.past_days to 10 years ahead."""
    [product] = client.post("/v1/products", json={"name": "House"}, headers=REPRESENTATION).json()
    response = client.post(
        "/v1/bookings",
        json={"product_id": product["id"], "starts_at": "2026-10-16T12:00:00Z",
              "ends_at": "2036-11-15T12:00:00Z"},
    )  # fmt: skip
    assert 201 == response.status_code, response.text


def test_every_answer_has_a_request_id_and_a_sent_one_is_kept(client):
    """X-Request-Id on a success and an error; a sane incoming id is echoed, a bad one replaced."""
    assert client.get("/v1/products").headers["x-request-id"]
    kept = client.get("/v1/products", headers={"X-Request-Id": "proxy-42.a_b"})
    assert "proxy-42.a_b" == kept.headers["x-request-id"]
    replaced = client.get("/v1/nothing", headers={"X-Request-Id": "bad id;" + "x" * 80})
    assert replaced.headers["x-request-id"] != "bad id;" + "x" * 80
    assert replaced.json()["request_id"] == replaced.headers["x-request-id"]


def test_a_store_error_answers_without_sql_and_logs_it_with_the_request_id(
    store, database_url, clock, api_key
):
    """store_unavailable bodies name no SQL; the log has the failure under the same id.

    Regression: the body carried ``[SQL: BEGIN IMMEDIATE]`` (SQLite) or the statement (PostgreSQL).
    """
    app = build(store, database_url, clock)
    with store.write() as session:  # the table the query needs is gone: the database refuses
        session.connection().exec_driver_sql("ALTER TABLE products RENAME TO products_gone")
    with (
        TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client,
        structlog.testing.capture_logs() as logs,
    ):
        response = client.get("/v1/products")
    body = response.json()
    assert (503, "store_unavailable") == (response.status_code, body["code"])
    for internal in ("SQL", "SELECT", "products", "Traceback", "sqlite", "psycopg"):
        assert internal not in response.text
    [logged] = [entry for entry in logs if entry["event"] == "api.store_error"]
    assert body["request_id"] == logged["request_id"] == response.headers["x-request-id"]
    assert "products" in repr(logged["exc_info"])


def test_an_unexpected_exception_is_a_500_with_a_generic_message(store, database_url, clock):
    """A bug answers 500 ``internal_error`` with the request id, never the exception's text."""
    app = build(store, database_url, clock)

    async def boom() -> None:
        msg = "secret internals: SELECT * FROM api_keys"
        raise RuntimeError(msg)

    app.add_api_route("/boom", boom)

    with (
        TestClient(app, raise_server_exceptions=False) as client,
        structlog.testing.capture_logs() as logs,
    ):
        response = client.get("/boom")
    assert (500, "internal_error") == (response.status_code, response.json()["code"])
    assert "secret" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert [response.json()["request_id"]] == [
        entry["request_id"] for entry in logs if entry["event"] == "api.internal_error"
    ]


@pytest.mark.parametrize(
    "token",
    ["abc%00def", "x" * 42, "x" * 44, "a" * 42 + "%21", "%C3%A9" * 43, "a" * 4000],
)
def test_a_token_that_cannot_exist_is_the_plain_404(client, token):
    """A feed token with a NUL, the wrong length or a bad character is the unknown token's 404.

    Regression: on PostgreSQL ``/ical/abc%00def.ics`` answered 503 with the SQL statement.
    """
    unknown = client.get(f"/ical/{'a' * 43}.ics")
    response = client.get(f"/ical/{token}.ics")
    assert (404, unknown.content) == (response.status_code, response.content)
    assert b"not found\n" == response.content


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/external_calendars/{}/sync", "external calendar"),
        ("/v1/external_calendars/{}/release", "external calendar"),
        ("/v1/products/{}/rotate_feed_token", "product"),
    ],
)
@pytest.mark.parametrize("ident", ["abc%00def", "x" * 35, "not-a-uuid", "a" * 4000])
def test_a_path_id_that_cannot_exist_is_the_unknown_ids_404(client, path, kind, ident):
    """An action on an id that cannot be one answers as an unknown id does: 404 not_found.

    Regression: it answered 400 ``id: not a UUID``, telling a prober the id's shape.
    """
    unknown = client.post(path.format("0" * 8 + "-0000-4000-8000-" + "0" * 12))
    response = client.post(path.format(ident))
    assert (404, "not_found", kind) == (
        response.status_code,
        response.json()["code"],
        response.json()["details"]["kind"],
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_readyz_reports_a_database_that_does_not_take_writes(store, database_url, clock):
    """/readyz is 503 with database_writable false when the database answers reads only.

    Tests run as root, where a chmod does not stop writes, so the database is
    made read-only for real: SQLite opens the same file with ``mode=ro``,
    PostgreSQL sessions get ``default_transaction_read_only`` (as on a standby).
    Regression: /readyz only ran ``SELECT 1``, which a read-only database answers.
    """
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        read_only_url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        read_only_url = database_url.replace(
            "options=-c", "options=-cdefault_transaction_read_only%3Don%20-c", 1
        )
    read_only = Store.connect(make_settings(read_only_url).database)
    try:
        assert (True, False) == (store.writable(), read_only.writable())
        with TestClient(build(read_only, database_url, clock)) as client:
            response = client.get("/readyz")
        checks = response.json()["checks"]
        assert (503, True, False) == (
            response.status_code,
            checks["database"],
            checks["database_writable"],
        )
    finally:
        read_only.close()


def test_a_held_write_lock_is_not_a_database_that_refuses_writes(tmp_path):
    """A writer holding SQLite's lock means the database takes writes; the check does not wait."""
    path = tmp_path / "busy.db"
    store = Store.connect(make_settings(f"sqlite:///{path}").database)
    store.upgrade()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert store.writable()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_a_sqlite_disk_almost_full_is_a_database_that_refuses_writes(tmp_path, monkeypatch):
    """Under 1 MiB free on the database's disk (or a folder that cannot be read) is not writable.

    A full disk cannot be made here, so the free space the check reads is set:
    SQLite would still take the no-op write, then fail the first real one.
    """
    path = tmp_path / "full.db"
    store = Store.connect(make_settings(f"sqlite:///{path}").database)
    store.upgrade()
    usage = shutil.disk_usage(tmp_path)
    free: list[int | None] = []

    def disk_usage(folder):
        """The real usage of ``folder`` with the free bytes set last; None: unreadable."""
        assert Path(folder) == tmp_path
        if free[-1] is None:
            raise PermissionError(folder)
        return usage._replace(free=free[-1])

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    try:
        answers = []
        for free_bytes in (1024 * 1024, 1024 * 1024 - 1, None):
            free.append(free_bytes)
            answers.append(store.writable())
    finally:
        store.close()
    assert [True, False, False] == answers


def test_a_read_with_a_key_due_for_a_touch_answers_while_the_write_lock_is_held(
    clock, api_key_on_file
):
    """GET with a key whose last_used_at is due answers while another writer holds the lock.

    Regression: authentication wrote last_used_at inside the request, so a read
    waited up to the 30 s busy timeout behind a sync. Now it is written after the
    answer: here once the lock is released.
    """
    store, database_url, key = api_key_on_file
    base, stop = serve_in_thread(build(store, database_url, clock))
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = httpx.get(
            f"{base}/v1/products", headers={"Authorization": f"Bearer {key}"}, timeout=20
        )
        assert 200 == response.status_code
        assert [NOW - timedelta(days=1)] == last_used(store)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        wait_until(lambda: [NOW] == last_used(store), timeout=10)
    finally:
        stop()


@pytest.fixture
def api_key_on_file(tmp_path):
    """A migrated SQLite file with an API key last used a day ago: (store, URL, key)."""
    database_url = f"sqlite:///{tmp_path / 'keys.db'}"
    store = Store.connect(make_settings(database_url).database)
    store.upgrade()
    with store.write() as session:
        key, secret = create_api_key(session, name="tests", now=NOW - timedelta(days=2))
        key.last_used_at = NOW - timedelta(days=1)
    yield store, database_url, secret
    store.close()


def last_used(store) -> list[Any]:
    with store.read() as session:
        return [key.last_used_at for key in list_api_keys(session)]


def test_feed_versions_of_linked_products_move_when_a_product_is_deleted(client, store):
    """Deleting a room moves the feed version of its house (the house's nights change)."""
    rows = client.post(
        "/v1/products", json=[{"name": "House"}, {"name": "Room"}], headers=REPRESENTATION
    ).json()
    house, room = (row["id"] for row in rows)
    link = {"accumulator_id": house, "element_id": room}
    assert 201 == client.post("/v1/capacity_group_dependencies", json=link).status_code

    def version() -> object:
        with store.read() as session:
            return stored_products.get_product(session, uuid.UUID(house)).bookings_changed_at

    before = version()
    deleted = client.delete(f"/v1/products?id=eq.{room}", headers={"Prefer": "return=minimal"})
    assert 204 == deleted.status_code
    assert version() not in {None, before}


def test_rotating_a_feed_token_answers_the_new_feed_url_and_the_old_one_is_gone(client):
    """The whole app answers rotate_feed_token with feed_url on the new token; the old URL 404s."""
    [product] = client.post("/v1/products", json={"name": "Cabin"}, headers=REPRESENTATION).json()
    old = product["feed_url"]
    assert 200 == client.get(old.removeprefix("http://127.0.0.1:8080")).status_code
    rotated = client.post(f"/v1/products/{product['id']}/rotate_feed_token").json()
    assert rotated["feed_url"].endswith(f"/ical/{rotated['feed_token']}.ics")
    assert rotated["feed_url"] != old
    assert 404 == client.get(old.removeprefix("http://127.0.0.1:8080")).status_code
