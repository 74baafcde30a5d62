"""The web interface's server side, in-process: guards, sessions, errors, the dashboard's query.

The pages themselves are driven in a real browser in tests/system/test_ui_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.services import bookings, webhooks
from calsync.services.context import WriteContext
from calsync.services.users import Users
from calsync.store import calendars as stored_calendars
from calsync.store import overview
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import Booking, ExternalCalendar, SyncRun
from calsync.sync import sync_calendar
from calsync.web.app import create_app
from conftest import NOW, TEST_CAUSE, calendar, make_settings
from receivers import WebhookReceiver
from syncing import run, stay

PASSWORD = "correct horse battery"  # noqa: S105 - the test account's password
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def build(store, database_url, clock, wake=None, **server: object):
    settings = make_settings(database_url, server=server) if server else make_settings(database_url)
    return create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store), settings=settings, clock=clock, wake=wake,
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
        _calendar(session, cabin.id, "waiting").created_at = NOW - timedelta(hours=1)
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
    """failing, held, stale, waiting, ok, inactive: one each, in that order, counted."""
    page = states(store)
    assert ["failing", "held", "stale", "waiting", "ok", "inactive"] == [
        row.state for row in page.rows
    ]
    assert [row.name for row in page.rows] == [row.state for row in page.rows]
    assert dict.fromkeys(overview.STATES, 1) == page.counts
    assert 6 == page.total


def test_failing_since_is_the_first_failure_after_the_last_success(store, five_states):
    """A calendar failing for 30 h shows the first failed run after its last success."""
    [failing] = states(store, state="failing").rows
    assert NOW - timedelta(hours=30) == failing.failing_since
    assert "HTTP 500" == failing.error


def test_filters_and_pages(store, five_states):
    """A product name filter (any case) and a state narrow the list; offset and limit page it."""
    beach = states(store, product="BEACH")
    assert ["held", "ok", "inactive"] == [row.state for row in beach.rows]
    assert {"failing": 0, "held": 1, "stale": 0, "waiting": 0, "ok": 1, "inactive": 1} == (
        beach.counts
    )
    assert ["stale"] == [row.name for row in states(store, state="stale").rows]
    second = states(store, offset=2, limit=2)
    assert (["stale", "waiting"], 6) == ([row.name for row in second.rows], second.total)
    assert [] == states(store, product="50%_off").rows


def test_a_new_calendar_is_not_stale_until_stale_after(store):
    """Added an hour ago and not synced yet: waiting (not ok: nothing was read); 2 days: stale.

    Regression: a calendar that had never been synced showed as ok.
    """
    with store.write() as session:
        product = stored_products.add_product(
            session, name="P", timezone="UTC", capacity=1, now=NOW
        )
        _calendar(session, product.id, "new").created_at = NOW - timedelta(hours=1)
        _calendar(session, product.id, "old")
    assert {"new": "waiting", "old": "stale"} == {r.name: r.state for r in states(store).rows}


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


# --- the write actions: products, calendars, bookings ----------------------------------

HTML_LOGIN = b"<!doctype html><html><head><title>Log in</title></head><body>Log in</body></html>"


class Woken:
    """The app's ``wake``: counts how often a write woke the dispatcher."""

    def __init__(self) -> None:
        self.times = 0

    def __call__(self) -> None:
        self.times += 1


@pytest.fixture
def woken() -> Woken:
    return Woken()


@pytest.fixture
def host(store, database_url, clock, woken):
    """A client logged in as anna, on the whole app whose ``wake`` is counted."""
    Users(store, hasher=CHEAP, clock=clock).add("anna", PASSWORD)
    with TestClient(build(store, database_url, clock, wake=woken)) as client:
        assert 303 == log_in(client).status_code
        yield client


def post(client: TestClient, path: str, **form: str):
    """A form POST with the page's CSRF token, not following the redirect."""
    token = token_of(client.get("/login").text)
    return client.post(path, data={"csrftoken": token, **form}, follow_redirects=False)


def notice(client: TestClient, answer) -> str:
    """The notice the page after a write (its 303's target) shows."""
    assert 303 == answer.status_code, answer.text
    page = client.get(answer.headers["location"]).text
    found = re.search(r'<p class="notice done" role="status">(.*?)</p>', page, re.DOTALL)
    assert found is not None, page
    return found.group(1)


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.DOTALL)
    assert found is not None, html
    return found.group(1).replace("&#39;", "'")


def text_of(html: str) -> str:
    """The page's text, without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def value_of(html: str, field: str) -> str:
    found = re.search(rf'<input id="{field}" name="{field}" type="[a-z]+" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


def beach_house(store: Store, capacity: int = 1) -> uuid.UUID:
    with store.write() as session:
        return stored_products.add_product(
            session, name="Beach house", timezone="Europe/Amsterdam", capacity=capacity, now=NOW
        ).id


def imported_stay(store: Store, product_id: uuid.UUID, url: str, start: str, end: str, **extra):
    """A calendar named Airbnb with one imported all-day stay; (calendar id, booking id)."""
    with store.write() as session:
        calendar = stored_calendars.add_calendar(
            session, product_id=product_id, name="Airbnb", ical_url=url, tld="airbnb.com", now=NOW
        )
        booking = Booking(
            product_id=product_id, external_calendar_id=calendar.id, source_key=f"uid-{start}",
            starts_at=bookings.day_start(date.fromisoformat(start)),
            ends_at=bookings.day_start(date.fromisoformat(end)), all_day=True,
            summary="Reserved", **extra,
        )  # fmt: skip
        session.add(booking)
        session.flush()
        return calendar.id, booking.id


def test_adding_a_product_goes_to_its_page_and_says_so_once(host, store):
    """POST /products adds it (through the service) and its page says so, once."""
    answer = post(host, "/products", name="Beach house", timezone="Europe/Amsterdam", capacity="2")
    assert "Added Beach house." in notice(host, answer)
    with store.read() as session:
        [product] = stored_products.list_products(session)
    assert ("Beach house", "Europe/Amsterdam", 2) == (
        product.name,
        product.timezone,
        product.capacity,
    )
    assert f"/products/{product.id}" == answer.headers["location"]
    assert 'class="notice done"' not in host.get(answer.headers["location"]).text


def test_a_refused_product_form_keeps_the_input_and_names_the_field(host, store):
    """A capacity of 0 is the API's 400 message next to the field; the name typed stays."""
    answer = post(host, "/products", name="Beach house", timezone="Europe/Amsterdam", capacity="0")
    assert 400 == answer.status_code
    assert "capacity: expected an integer from 1 to 2147483647" == field_error(
        answer.text, "capacity"
    )
    assert "Beach house" == value_of(answer.text, "name")
    words = post(host, "/products", name="Beach house", timezone="UTC", capacity="two")
    assert "capacity: expected an integer from 1 to 2147483647" == field_error(
        words.text, "capacity"
    )
    with store.read() as session:
        assert [] == list(stored_products.list_products(session))


def test_editing_a_product(host, store):
    """The edit form is filled in; an unknown timezone is refused by name; a good one is saved."""
    product_id = beach_house(store)
    assert "Europe/Amsterdam" == value_of(host.get(f"/products/{product_id}/edit").text, "timezone")
    path = f"/products/{product_id}/edit"
    refused = post(host, path, name="Beach house", timezone="Mars/Olympus", capacity="1")
    assert 400 == refused.status_code
    assert "timezone: unknown IANA timezone 'Mars/Olympus'" == field_error(refused.text, "timezone")
    assert "Saved." == notice(
        host, post(host, path, name="Dune house", timezone="UTC", capacity="3")
    )
    with store.read() as session:
        product = stored_products.get_product(session, product_id)
    assert ("Dune house", "UTC", 3) == (product.name, product.timezone, product.capacity)


def test_export_labels_name_the_channel_once(host, store):
    """A calendar named after its channel is "For Airbnb", another "For Main listing (Airbnb)".

    Regression: a calendar named Airbnb was labelled "For Airbnb (Airbnb)".
    """
    product_id = beach_house(store)
    imported_stay(store, product_id, "https://www.airbnb.com/a.ics", "2026-12-01", "2026-12-03")
    with store.write() as session:
        stored_calendars.add_calendar(
            session, product_id=product_id, name="Main listing", tld="airbnb.com",
            ical_url="https://www.airbnb.com/b.ics", now=NOW,
        )  # fmt: skip
    page = host.get(f"/products/{product_id}").text
    labels = re.findall(r'<label for="export-[^"]+">([^<]*)</label>', page)
    assert ["For Airbnb", "For Main listing (Airbnb)"] == sorted(labels)


def test_the_dashboard_names_products_without_a_calendar(host, store):
    """A product with no calendar yet is listed on the dashboard, with a link to add one."""
    product_id = beach_house(store)
    page = host.get("/").text
    assert f'href="/products/{product_id}/calendars/new"' in page
    assert "Products without a calendar" in page


def test_the_dry_run_shows_blocks_and_skipped_events_and_writes_nothing(host, store, serve_feed):
    """Preview fetches the feed and parses it as the calendar would: blocks, skipped, nothing saved."""
    product_id = beach_house(store)
    url = serve_feed("/feed.ics", calendar(
        "UID:a1\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205\nSUMMARY:Reserved",
        "UID:c1\nSTATUS:CANCELLED\nDTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261212",
    ))  # fmt: skip
    answer = post(
        host, f"/products/{product_id}/calendars/preview", ical_url=url, name="", time_offset="0",
        units="1", transparent_events="block",
    )  # fmt: skip
    assert 200 == answer.status_code
    assert "it would import 1 block" in answer.text
    assert (
        '<td data-label="From">2026-12-01</td><td data-label="Until">2026-12-05</td>' in answer.text
    )
    assert "<code>c1</code>: cancelled" in answer.text
    assert 'action="/products/' in answer.text
    assert "Save the calendar" in answer.text
    with store.read() as session:
        assert [] == list(stored_calendars.list_calendars(session))


def test_the_dry_run_of_a_login_page_says_what_it_is(host, store, serve_feed):
    """A URL that answers an HTML login page: the feed error names it; no Save button."""
    product_id = beach_house(store)
    url = serve_feed("/login.ics", HTML_LOGIN, content_type="text/html")
    answer = post(
        host, f"/products/{product_id}/calendars/preview", ical_url=url, time_offset="0",
        units="1", transparent_events="block",
    )  # fmt: skip
    assert "The feed could not be read:" in answer.text
    assert "an HTML page titled &#39;Log in&#39;" in answer.text
    assert "Save the calendar" not in answer.text


def test_a_bad_url_is_refused_before_any_fetch(host, store):
    """A URL the API refuses is refused with the same message next to the field."""
    product_id = beach_house(store)
    answer = post(
        host, f"/products/{product_id}/calendars/preview", ical_url="http://0..0/x.ics",
        time_offset="0", units="1", transparent_events="block",
    )  # fmt: skip
    assert 400 == answer.status_code
    assert field_error(answer.text, "ical_url").startswith("ical_url: not a feed URL: host '0..0'")
    assert "http://0..0/x.ics" == value_of(answer.text, "ical_url")


def test_saving_a_calendar_adds_it_and_wakes_the_dispatcher(host, store, woken, serve_feed):
    """Save adds the calendar with its options, due at once, and wakes the dispatcher."""
    product_id = beach_house(store)
    url = serve_feed("/feed.ics", calendar())
    answer = post(
        host, f"/products/{product_id}/calendars", ical_url=url, name="", time_offset="-2",
        units="1", transparent_events="skip",
    )  # fmt: skip
    assert "Its first sync runs now." in notice(host, answer)
    with store.read() as session:
        [added] = stored_calendars.list_calendars(session)
    assert f"/calendars/{added.id}" == answer.headers["location"]
    assert (url, "127.0.0.1", -2, "skip") == (
        added.ical_url,
        added.name,
        added.time_offset,
        added.transparent_events,
    )
    assert 1 == woken.times


def test_editing_a_calendar_a_bad_url_shows_why_a_good_one_saves_and_syncs(host, store, woken):
    """A bad URL keeps the input with the reason; a new good URL is saved and synced at once."""
    product_id = beach_house(store)
    calendar_id, _ = imported_stay(
        store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205"
    )
    page = host.get(f"/calendars/{calendar_id}/edit").text
    assert "https://www.airbnb.com/a.ics" == value_of(page, "ical_url")
    form = {"name": "Airbnb", "time_offset": "0", "units": "1", "transparent_events": "block",
            "active": "yes"}  # fmt: skip
    refused = post(host, f"/calendars/{calendar_id}/edit", ical_url="ftp://x/y.ics", **form)
    assert 400 == refused.status_code
    assert field_error(refused.text, "ical_url").startswith("ical_url: not a feed URL:")
    assert "ftp://x/y.ics" == value_of(refused.text, "ical_url")
    assert 0 == woken.times
    saved = post(
        host, f"/calendars/{calendar_id}/edit", ical_url="https://www.airbnb.com/b.ics", **form
    )
    assert "Saved. The new URL is synced now." == notice(host, saved)
    assert 1 == woken.times
    with store.read() as session:
        assert (
            "https://www.airbnb.com/b.ics"
            == stored_calendars.get_calendar(session, calendar_id).ical_url
        )


def test_unticking_active_switches_a_calendar_off(host, store):
    """The Active checkbox left empty saves the calendar inactive; no Sync now button then."""
    product_id = beach_house(store)
    calendar_id, _ = imported_stay(
        store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205"
    )
    post(
        host, f"/calendars/{calendar_id}/edit", ical_url="https://www.airbnb.com/a.ics",
        name="Airbnb", time_offset="0", units="1", transparent_events="block",
    )  # fmt: skip
    with store.read() as session:
        assert stored_calendars.get_calendar(session, calendar_id).active is False
    assert "Sync now" not in host.get(f"/calendars/{calendar_id}").text


def test_removing_a_calendar_says_how_many_bookings_go(host, store):
    """The confirmation page counts the imported bookings; removing says how many went."""
    product_id = beach_house(store)
    calendar_id, _ = imported_stay(
        store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205"
    )
    assert (
        "1 booking imported from it goes with it"
        in host.get(f"/calendars/{calendar_id}/remove").text
    )
    answer = post(host, f"/calendars/{calendar_id}/remove")
    assert f"/products/{product_id}" == answer.headers["location"]
    assert "Removed Airbnb and the 1 booking imported from it." == notice(host, answer)
    with store.read() as session:
        assert [] == list(stored_calendars.list_calendars(session))


def test_sync_now_asks_for_a_sync_and_status_json_follows_it(
    host, store, settings, clock, woken, serve_feed
):
    """Sync now sets sync_requested_at and wakes; status.json shows it until a sync ran."""
    product_id = beach_house(store)
    url = serve_feed("/feed.ics", calendar(
        "UID:a1\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205"
    ))  # fmt: skip
    with store.write() as session:
        calendar_id = stored_calendars.add_calendar(
            session, product_id=product_id, name="Airbnb", ical_url=url, tld="airbnb.com", now=NOW
        ).id
    answer = post(host, f"/calendars/{calendar_id}/sync")
    assert notice(host, answer).startswith("Sync requested")
    assert 1 == woken.times
    asked = host.get(f"/calendars/{calendar_id}/status.json").json()
    assert (NOW.isoformat().replace("+00:00", "Z"), None) == (
        asked["sync_requested_at"],
        asked["last_run"],
    )

    async def sync() -> None:
        async with FeedFetcher(settings.fetch) as fetcher:
            await sync_calendar(
                calendar_id, store=store, fetcher=fetcher, settings=settings, clock=clock
            )

    asyncio.run(sync())
    done = host.get(f"/calendars/{calendar_id}/status.json").json()
    assert done["sync_requested_at"] is None
    assert ("changed", 1, 200) == (
        done["last_run"]["outcome"],
        done["last_run"]["inserted"],
        done["last_run"]["http_status"],
    )
    page = text_of(host.get(f"/calendars/{calendar_id}?run={done['last_run']['id']}").text)
    assert (
        "Synced just now: changed, 1 added, 0 changed, 0 deleted, 0 held, 0 skipped (HTTP 200)."
        in page
    )


def test_status_json_needs_a_session(app, store):
    """Without a session status.json answers 401 JSON, not a login page."""
    product_id = beach_house(store)
    calendar_id, _ = imported_stay(
        store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205"
    )
    with TestClient(app) as client:
        answer = client.get(f"/calendars/{calendar_id}/status.json")
    assert (401, "log in first") == (answer.status_code, answer.json()["message"])


def test_releasing_held_deletions_lists_them_then_deletes_them(host, store):
    """The release page lists the held bookings; releasing deletes them and says how many."""
    product_id = beach_house(store)
    calendar_id, _ = imported_stay(
        store,
        product_id,
        "https://www.airbnb.com/a.ics",
        "20261201",
        "20261205",
        delete_held_at=NOW,
    )
    with store.write() as session:
        held = stored_calendars.get_calendar(session, calendar_id)
        held.held_since, held.error = NOW, "deletions held: 1 of 1 future bookings vanished"
    assert "See what would be deleted" in host.get(f"/calendars/{calendar_id}").text
    page = host.get(f"/calendars/{calendar_id}/release").text
    assert "Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights" in page
    assert "Delete this booking" in page
    assert "Released: 1 booking deleted." == notice(
        host, post(host, f"/calendars/{calendar_id}/release")
    )
    with store.read() as session:
        assert 0 == stored_calendars.count_imported(session, calendar_id)
        assert stored_calendars.get_calendar(session, calendar_id).held_since is None


def test_a_direct_booking_is_made_from_the_product_page(host, store):
    """Check-in and check-out dates make an all-day direct booking; the page lists it."""
    product_id = beach_house(store)
    answer = post(
        host, f"/products/{product_id}/bookings", starts_at="2026-12-01", ends_at="2026-12-05",
        summary="Owner stay",
    )  # fmt: skip
    assert "Booked Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights." == notice(host, answer)
    with store.read() as session:
        [booking] = bookings.listed(session, product_id=product_id)
    assert (True, "Owner stay", None) == (
        booking.all_day,
        booking.summary,
        booking.external_calendar_id,
    )
    assert f'href="/bookings/{booking.id}/cancel"' in host.get(f"/products/{product_id}").text


def test_a_booking_that_does_not_fit_names_the_nights_and_the_bookings_in_the_way(host, store):
    """The 409 is shown readably: the nights, and the Airbnb stay in the way with its dates."""
    product_id = beach_house(store)
    imported_stay(store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205")
    answer = post(
        host, f"/products/{product_id}/bookings", starts_at="2026-12-03", ends_at="2026-12-07",
        summary="Phone booking",
    )  # fmt: skip
    assert 409 == answer.status_code
    assert "Not booked: 2 nights not available" in answer.text
    assert "Thu 3 Dec 2026 – Fri 4 Dec 2026 (2 nights)" in answer.text
    assert "<strong>Airbnb</strong>: Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights" in answer.text
    assert "Phone booking" == value_of(answer.text, "summary")
    with store.read() as session:
        assert 1 == len(bookings.listed(session, product_id=product_id))


def test_book_anyway_is_a_second_deliberate_step(host, store):
    """The refused page offers Book anyway; with its box ticked the booking is made (forced)."""
    product_id = beach_house(store)
    imported_stay(store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205")
    form = {"starts_at": "2026-12-03", "ends_at": "2026-12-07", "summary": "Owner"}
    assert "Book anyway" in post(host, f"/products/{product_id}/bookings", **form).text
    assert notice(
        host, post(host, f"/products/{product_id}/bookings", force="yes", **form)
    ).startswith("Booked")
    with store.read() as session:
        assert 2 == len(bookings.listed(session, product_id=product_id))


def test_a_booking_form_with_no_dates_names_the_field(host, store):
    """An empty check-in date is refused next to its field."""
    product_id = beach_house(store)
    answer = post(host, f"/products/{product_id}/bookings", starts_at="", ends_at="2026-12-05")
    assert 400 == answer.status_code
    assert "starts_at: expected a date (YYYY-MM-DD), got ''" == field_error(
        answer.text, "starts_at"
    )


def test_cancelling_a_direct_booking_frees_its_nights(host, store):
    """The confirmation page, then POST: the booking is cancelled and the page says so."""
    product_id = beach_house(store)
    post(host, f"/products/{product_id}/bookings", starts_at="2026-12-01", ends_at="2026-12-05")
    with store.read() as session:
        [booking] = bookings.listed(session, product_id=product_id)
    assert "Cancel the booking" in host.get(f"/bookings/{booking.id}/cancel").text
    answer = post(host, f"/bookings/{booking.id}/cancel")
    assert notice(host, answer).startswith("Cancelled the booking Tue 1 Dec 2026")
    with store.read() as session:
        assert "cancelled" == bookings.get(session, booking.id).status


def test_an_imported_booking_is_changed_on_its_channel(host, store):
    """An imported stay says where to change it; a POST to cancel it is the service's 409."""
    product_id = beach_house(store)
    _, booking_id = imported_stay(
        store, product_id, "https://www.airbnb.com/a.ics", "20261201", "20261205"
    )
    assert "change it on Airbnb" in host.get(f"/products/{product_id}").text
    page = host.get(f"/bookings/{booking_id}/cancel").text
    assert "Cancel the booking" not in page
    assert "change it on Airbnb" in page
    refused = post(host, f"/bookings/{booking_id}/cancel")
    assert 409 == refused.status_code
    assert "can only be changed through that calendar&#39;s feed" in refused.text


def test_a_write_without_the_csrf_token_is_refused(host, store):
    """Every form POST needs its token: 403 and nothing written."""
    answer = host.post("/products", data={"name": "X", "timezone": "UTC", "capacity": "1"})
    assert 403 == answer.status_code
    with store.read() as session:
        assert [] == list(stored_products.list_products(session))


def test_a_write_without_a_session_goes_to_the_login_form(app, store):
    """A form POST with a token but no session writes nothing and asks to log in."""
    with TestClient(app) as client:
        answer = post(client, "/products", name="X", timezone="UTC", capacity="1")
    assert answer.headers["location"].startswith("/login?next=")
    with store.read() as session:
        assert [] == list(stored_products.list_products(session))


# --- phase 3: what each sync run changed; alerts and webhooks ---------------------------


def words(html: str) -> str:
    """The page's words, each tag read as a space."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def run_changes(html: str) -> list[str]:
    """The text of each sync run's "what it changed" block on a calendar page, newest run first."""
    blocks = re.findall(r'<tr class="run-changes" id="run-[^"]+">(.*?)</tr>', html, re.DOTALL)
    return [" ".join(text_of(block).split()) for block in blocks]


def test_the_calendar_page_lists_what_each_sync_run_changed(
    host, store, settings, clock, serve_feed
):
    """Syncs that add 12 stays, then move, delete and add one (an echo), then change nothing."""
    product_id = beach_house(store)
    post(host, f"/products/{product_id}/bookings", starts_at="2026-12-24", ends_at="2026-12-26")
    january = [stay(f"j{n}", f"202701{n:02}", f"202701{n + 1:02}") for n in range(1, 10)]
    url = serve_feed("/feed.ics", calendar(
        stay("a", "20261201", "20261205"), stay("b", "20261210", "20261212"),
        stay("c", "20261218", "20261220"), *january,
    ))  # fmt: skip
    with store.write() as session:
        calendar_id = stored_calendars.add_calendar(
            session, product_id=product_id, name="Airbnb", ical_url=url, tld="airbnb.com", now=NOW
        ).id
    run(store, settings, calendar_id, clock)
    serve_feed("/feed.ics", calendar(
        stay("a", "20261202", "20261205"), stay("c", "20261218", "20261220"),
        stay("e", "20261224", "20261226", summary="Not available"), *january,
    ))  # fmt: skip
    clock.now = NOW + timedelta(hours=1)
    run(store, settings, calendar_id, clock)
    clock.now = NOW + timedelta(hours=2)
    run(store, settings, calendar_id, clock)
    page = host.get(f"/calendars/{calendar_id}").text
    unchanged, moved, first = run_changes(page)
    assert "Changed no booking." == unchanged
    assert (
        "What it changed: 3 bookings "
        "changed: was Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights; "
        "now Wed 2 Dec 2026 → Sat 5 Dec 2026, 3 nights "
        "deleted: Thu 10 Dec 2026 → Sat 12 Dec 2026, 2 nights "
        "added: Thu 24 Dec 2026 → Sat 26 Dec 2026, 2 nights echo"
    ) == moved
    assert first.startswith(
        "What it changed: 12 bookings added: Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights "
    )
    assert 10 == first.count("added: ")
    assert "added: Thu 7 Jan 2027 → Fri 8 Jan 2027, 1 night and 2 more" in first
    assert "<details open>" in page  # the newest run that changed something is open


def test_the_dashboard_title_is_plain_text(host, store):
    """With a product that has no calendar the page's <title> is still just "Dashboard"."""
    beach_house(store)
    assert "<title>Dashboard · calsync</title>" in host.get("/").text


HOOK_URL = "https://hooks.example.com/calsync/3f9a8c27d1e04b6a9c0d5e7f1a2b3c4d"


def test_an_endpoint_is_added_its_secret_shown_once_then_masked(host, store):
    """The answer to the form shows the whole secret; the page afterwards only its last 4."""
    assert "No webhook endpoint yet." in host.get("/alerts").text
    answer = post(
        host, "/alerts/endpoints", url=HOOK_URL, description="Channel manager",
        events=["booking.created", "conflict.detected"],  # type: ignore[arg-type]
    )  # fmt: skip
    assert 201 == answer.status_code, answer.text
    with store.read() as session:
        [endpoint] = webhooks.listed(session)
    assert (HOOK_URL, ["booking.created", "conflict.detected"], "Channel manager") == (
        endpoint.url,
        json.loads(endpoint.events),
        endpoint.description,
    )
    assert f'id="new-secret" class="url" readonly value="{endpoint.secret}"' in answer.text
    assert "It is shown only this once" in answer.text
    later = host.get("/alerts").text
    assert endpoint.secret not in later
    assert f"whsec_…{endpoint.secret[-4:]}" in later
    assert "https://hooks.example.com/calsync/***" in later
    assert HOOK_URL not in later
    assert "booking.created, conflict.detected" in text_of(later)


def test_a_refused_endpoint_keeps_the_input_and_names_the_field(host, store):
    """An ftp:// URL is refused next to its field; the ticked events and description stay."""
    answer = post(
        host, "/alerts/endpoints", url="ftp://hooks.example.com/x", description="mine",
        events=["booking.cancelled"],  # type: ignore[arg-type]
    )  # fmt: skip
    assert 400 == answer.status_code
    assert field_error(answer.text, "url").startswith("url: ")
    assert "ftp://hooks.example.com/x" == value_of(answer.text, "url")
    assert "mine" == value_of(answer.text, "description")
    assert 'value="booking.cancelled" checked' in answer.text
    with store.read() as session:
        assert [] == list(webhooks.listed(session))


def add_endpoint(store: Store, url: str) -> uuid.UUID:
    """An endpoint for every event, added through the service."""
    with store.write() as session:
        return webhooks.add(session, WriteContext(now=NOW, cause=TEST_CAUSE), url=url).id


def test_an_endpoint_is_switched_off_and_on_then_removed(host, store):
    """Switch off (no test button then), make active again (failing cleared), remove after asking."""
    endpoint_id = add_endpoint(store, HOOK_URL)
    with store.write() as session:
        webhooks.get(session, endpoint_id).failing_since = NOW
    off = post(host, f"/alerts/endpoints/{endpoint_id}/active", active="")
    assert "is switched off: its events wait" in notice(host, off)
    page = host.get("/alerts").text
    assert "Make active again" in page
    assert f"/alerts/endpoints/{endpoint_id}/test" not in page
    on = post(host, f"/alerts/endpoints/{endpoint_id}/active", active="yes")
    assert "is active again" in notice(host, on)
    with store.read() as session:
        endpoint = webhooks.get(session, endpoint_id)
        assert (True, None) == (endpoint.active, endpoint.failing_since)
    confirm = host.get(f"/alerts/endpoints/{endpoint_id}/remove").text
    assert "Remove this webhook endpoint?" in confirm
    assert "https://hooks.example.com/calsync/***" in confirm
    removed = post(host, f"/alerts/endpoints/{endpoint_id}/remove")
    assert "Removed the webhook endpoint https://hooks.example.com/calsync/***." == notice(
        host, removed
    )
    with store.read() as session:
        assert [] == list(webhooks.listed(session))


def test_a_test_event_reaches_a_local_receiver_signed_with_the_shown_secret(host, store):
    """Send a test: the receiver verifies the signature with the secret the page showed."""
    with WebhookReceiver() as receiver:
        added = post(host, "/alerts/endpoints", url=receiver.url)
        found = re.search(r'id="new-secret" class="url" readonly value="([^"]+)"', added.text)
        assert found is not None
        receiver.secret = found.group(1)
        with store.read() as session:
            [endpoint] = webhooks.listed(session)
        answer = post(host, f"/alerts/endpoints/{endpoint.id}/test")
        said = notice(host, answer)
        [received] = receiver.received
    assert said.startswith(f"Test event delivered to {receiver.url}: HTTP 200 in ")
    assert received.verified
    assert "test" == received.json["type"]
    assert "ui:anna" == received.json["data"]["cause"]["actor"]
    assert "test delivered 200" in words(host.get("/alerts").text)


def test_a_test_event_a_receiver_refuses_is_shown_as_failed(host, store):
    """A receiver answering 500: the page says so in red; the endpoint is failing since then."""
    with WebhookReceiver(default=500) as receiver:
        endpoint_id = add_endpoint(store, receiver.url)
        answer = post(host, f"/alerts/endpoints/{endpoint_id}/test")
        assert 303 == answer.status_code
        page = host.get(answer.headers["location"]).text
    refused = re.search(r'<p class="error" role="alert">(.*?)</p>', page, re.DOTALL)
    assert refused is not None
    assert f"Test event not delivered to {receiver.url}: HTTP 500." in refused.group(1)
    shown = words(page)
    assert "Failing since just now" in shown
    assert "test failed 500" in shown
    with store.read() as session:
        assert NOW == webhooks.get(session, endpoint_id).failing_since


def test_apprise_targets_are_shown_redacted_with_the_alert_settings(store, database_url, clock):
    """Passwords and tokens of alerts.notify never reach the page; the settings and how to change them do."""
    notify = [
        "mailtos://owner:hunter2secret@mail.example.com?to=owner@example.com",
        "tgram://123456:AAbottokenAA/987654",
    ]
    settings = make_settings(
        database_url, alerts={"notify": json.dumps(notify), "failing_after_failures": 4}
    )
    Users(store, hasher=CHEAP, clock=clock).add("anna", PASSWORD)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    with TestClient(app) as client:
        log_in(client)
        page = client.get("/alerts").text
    assert "<code>mailtos://…@mail.example.com</code>" in page
    assert "<code>tgram://…</code>" in page
    for secret in ("hunter2secret", "owner:", "AAbottokenAA", "987654", "123456"):
        assert secret not in page
    shown = words(page)
    assert "A calendar is failing after 4 failed syncs in a row" in shown
    assert "A calendar is stale after 24 h without a successful sync" in shown
    assert "Alerts go as one digest after 10 in a minute" in shown
    assert "edit the [alerts] section of calsync's configuration file" in shown


def test_the_alerts_page_needs_a_session(app):
    """Without a session /alerts and its forms send the browser to the login form."""
    with TestClient(app) as client:
        assert (
            client.get("/alerts", follow_redirects=False)
            .headers["location"]
            .startswith("/login?next=")
        )
        answer = post(client, "/alerts/endpoints", url=HOOK_URL)
        assert answer.headers["location"].startswith("/login?next=")


def test_the_alerts_forms_need_their_csrf_token(host, store):
    """Adding, switching, removing and testing an endpoint without the form's token: 403, no change."""
    endpoint_id = add_endpoint(store, HOOK_URL)
    for path in (
        "/alerts/endpoints",
        f"/alerts/endpoints/{endpoint_id}/active",
        f"/alerts/endpoints/{endpoint_id}/remove",
        f"/alerts/endpoints/{endpoint_id}/test",
    ):
        assert 403 == host.post(path, data={"url": HOOK_URL}).status_code, path
    with store.read() as session:
        [endpoint] = webhooks.listed(session)
        assert endpoint.active
        assert [] == list(webhooks.recent_deliveries(session, endpoint_id))
