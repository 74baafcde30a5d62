"""The web interface's server side, in-process: guards, sessions, errors, the dashboard's query.

The pages themselves are driven in a real browser in tests/system/test_ui_browser.py.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.services.users import Users
from calsync.store import calendars as stored_calendars
from calsync.store import overview
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar, SyncRun
from calsync.web.app import create_app
from conftest import NOW, make_settings

PASSWORD = "correct horse battery"  # noqa: S105 - the test account's password
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def build(store, database_url, clock, **server: object):
    settings = make_settings(database_url, server=server) if server else make_settings(database_url)
    return create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip


@pytest.fixture
def app(store, database_url, clock):
    """The whole app, with one account (anna)."""
    Users(store, hasher=CHEAP, clock=clock).add("anna", PASSWORD)
    return build(store, database_url, clock)


def token_of(html: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def log_in(client: TestClient, password: str = PASSWORD, **extra: str):
    token = token_of(client.get("/login").text)
    form = {"username": "anna", "password": password, "csrftoken": token, **extra}
    return client.post("/login", data=form, follow_redirects=False)


def test_a_login_post_without_the_csrf_token_is_refused(app):
    """POST /login without the form's token is 403, with or without the CSRF cookie."""
    with TestClient(app) as client:
        bare = client.post("/login", data={"username": "anna", "password": PASSWORD})
        assert 403 == bare.status_code
        client.get("/login")
        assert (
            403
            == client.post("/login", data={"username": "anna", "password": PASSWORD}).status_code
        )
        assert 303 == log_in(client).status_code


def test_the_api_sets_no_cookie_and_needs_its_key(app):
    """A browser with a session calling /v1 gets no cookie and no session: 401 without a key."""
    with TestClient(app) as client:
        assert 303 == log_in(client).status_code
        answer = client.get("/v1/products")
        assert 401 == answer.status_code
        assert "set-cookie" not in answer.headers
        assert "content-security-policy" not in answer.headers
        assert "set-cookie" not in client.get("/healthz").headers


def test_pages_carry_the_security_headers_and_no_store(app):
    """Every page has the CSP, nosniff, a referrer policy and no-store; cookies are HttpOnly/Lax."""
    with TestClient(app) as client:
        login = client.get("/login")
        assert "default-src 'self'" in login.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
        assert "nosniff" == login.headers["x-content-type-options"]
        assert "same-origin" == login.headers["referrer-policy"]
        assert "no-store" == login.headers["cache-control"]
        session = log_in(client).headers["set-cookie"]
        assert "httponly" in session.lower()
        assert "samesite=lax" in session.lower()
        assert "secure" not in session.lower()


def test_cookies_are_secure_over_https(app, store, database_url, clock):
    """Served over HTTPS, or with an https public_url, every cookie is Secure."""
    with TestClient(app, base_url="https://calsync.test") as client:
        assert "; Secure" in client.get("/login").headers["set-cookie"]
    behind_tls = build(store, database_url, clock, public_url="https://calsync.example.com")
    with TestClient(behind_tls) as client:
        assert "; Secure" in client.get("/login").headers["set-cookie"]


def test_a_login_is_answered_429_with_retry_after_when_locked(app):
    """Five wrong passwords, then the right one: 429 with Retry-After, the form shows why."""
    with TestClient(app) as client:
        for _ in range(5):
            assert 401 == log_in(client, "not the password").status_code
        locked = log_in(client)
        assert 429 == locked.status_code
        assert "30" == locked.headers["retry-after"]
        assert "try again in 30 s" in locked.text


def test_login_goes_on_only_to_a_path_of_this_site(app):
    """next=//elsewhere or an absolute URL sends the user to the dashboard instead."""
    with TestClient(app) as client:
        assert "/" == log_in(client, next="//evil.example/x").headers["location"]
        assert "/" == log_in(client, next="https://evil.example/").headers["location"]
        assert "/products/x?y=1" == log_in(client, next="/products/x?y=1").headers["location"]


def test_a_removed_account_loses_its_session(app, store, clock):
    """After `users remove` the next page sends the browser to the login form."""
    with TestClient(app) as client:
        log_in(client)
        assert 200 == client.get("/", follow_redirects=False).status_code
        Users(store, hasher=CHEAP, clock=clock).remove("anna")
        assert "/login?next=%2F" == client.get("/", follow_redirects=False).headers["location"]


def test_unknown_ids_are_404_pages_and_other_paths_stay_the_apis(app):
    """An unknown product or a malformed id is a 404 page; a path the UI lacks is JSON, no cookie."""
    with TestClient(app) as client:
        log_in(client)
        for path in (f"/products/{uuid.uuid4()}", "/calendars/not-an-id"):
            answer = client.get(path)
            assert 404 == answer.status_code, path
            assert "text/html" in answer.headers["content-type"]
        assert "no product with id" in client.get(f"/products/{uuid.uuid4()}").text
        elsewhere = client.get("/v1/nothing")
        assert (404, "http_error") == (elsewhere.status_code, elsewhere.json()["code"])
        assert "set-cookie" not in elsewhere.headers


def test_a_spent_setup_link_is_404(app):
    """Once an account exists a setup link is a 404 page saying how to log in."""
    with TestClient(app) as client:
        answer = client.get("/setup/some-token")
        assert 404 == answer.status_code
        assert "calsync users add NAME" in answer.text


# --- the dashboard's query -------------------------------------------------------------


def _calendar(
    session: Session, product_id: uuid.UUID, name: str, **status: object
) -> ExternalCalendar:
    calendar = stored_calendars.add_calendar(
        session, product_id=product_id, name=name, ical_url="https://www.airbnb.com/c.ics",
        tld="airbnb.com", now=NOW - timedelta(days=3),
    )  # fmt: skip
    for key, value in status.items():
        setattr(calendar, key, value)
    return calendar


@pytest.fixture
def five_states(store):
    """One calendar in each state, on two products."""
    with store.write() as session:
        beach = stored_products.add_product(
            session, name="Beach house", timezone="UTC", capacity=1, now=NOW
        )
        cabin = stored_products.add_product(
            session, name="Cabin", timezone="UTC", capacity=1, now=NOW
        )
        recent = NOW - timedelta(hours=1)
        _calendar(session, beach.id, "ok", last_synced=recent)
        failing = _calendar(
            session, cabin.id, "failing", last_synced=NOW - timedelta(days=2), failure_count=3,
            error="HTTP 500",
        )  # fmt: skip
        _calendar(session, beach.id, "held", last_synced=recent, held_since=recent, error="held")
        _calendar(session, cabin.id, "stale", last_synced=NOW - timedelta(hours=25))
        _calendar(session, beach.id, "inactive", active=False, error="deactivated")
        for hours, outcome in ((47, "changed"), (30, "failed"), (20, "failed")):
            started = NOW - timedelta(hours=hours)
            session.add(
                SyncRun(external_calendar_id=failing.id, started_at=started, finished_at=started,
                        outcome=outcome)
            )  # fmt: skip
        return beach.id


def states(store: Store, **filters: Any) -> overview.CalendarPage:
    with store.read() as session:
        return overview.calendar_states(
            session, now=NOW, stale_after=timedelta(hours=24), **filters
        )


def test_the_dashboard_lists_problems_first(store, five_states):
    """failing, held, stale, ok, inactive: one each, in that order, counted."""
    page = states(store)
    assert ["failing", "held", "stale", "ok", "inactive"] == [row.state for row in page.rows]
    assert [row.name for row in page.rows] == [row.state for row in page.rows]
    assert dict.fromkeys(overview.STATES, 1) == page.counts
    assert 5 == page.total


def test_failing_since_is_the_first_failure_after_the_last_success(store, five_states):
    """A calendar failing for 30 h shows the first failed run after its last success."""
    [failing] = states(store, state="failing").rows
    assert NOW - timedelta(hours=30) == failing.failing_since
    assert "HTTP 500" == failing.error


def test_filters_and_pages(store, five_states):
    """A product name filter (any case) and a state narrow the list; offset and limit page it."""
    beach = states(store, product="BEACH")
    assert ["held", "ok", "inactive"] == [row.state for row in beach.rows]
    assert {"failing": 0, "held": 1, "stale": 0, "ok": 1, "inactive": 1} == beach.counts
    assert ["stale"] == [row.name for row in states(store, state="stale").rows]
    second = states(store, offset=2, limit=2)
    assert (["stale", "ok"], 5) == ([row.name for row in second.rows], second.total)
    assert [] == states(store, product="50%_off").rows


def test_a_new_calendar_is_not_stale_until_stale_after(store):
    """A calendar added an hour ago and not synced yet is ok; one added 2 days ago is stale."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="P", timezone="UTC", capacity=1, now=NOW
        )
        _calendar(session, product.id, "new").created_at = NOW - timedelta(hours=1)
        _calendar(session, product.id, "old")
    assert {"new": "ok", "old": "stale"} == {r.name: r.state for r in states(store).rows}


def test_calendar_state_names_one_calendar(store, five_states):
    """calendar_state is the same rule for one calendar; None for an unknown id."""
    with store.read() as session:
        held = session.query(ExternalCalendar).filter_by(name="held").one()
        assert "held" == overview.calendar_state(
            session, held.id, now=NOW, stale_after=timedelta(hours=24)
        )
        assert (
            overview.calendar_state(session, uuid.uuid4(), now=NOW, stale_after=timedelta(hours=24))
            is None
        )
