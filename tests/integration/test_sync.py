"""sync_calendar against a real feed server on 127.0.0.1 and a real SQLite / PostgreSQL store."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
import structlog.testing
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from calsync.core.feed_path import feed_path
from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.store import bookings as stored_bookings
from calsync.store import calendars as stored_calendars
from calsync.store import history
from calsync.store import products as stored_products
from calsync.store.models import Booking, ExternalCalendar, SyncRun
from calsync.sync import SyncResult, sync_calendar
from calsync.web.app import create_app
from conftest import NOW, add_calendar, calendar, make_settings, request_sync
from syncing import bookings, run, stay

AIRBNB = "PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n"


THREE_STAYS = [
    stay("a", "20261201", "20261205"),
    stay("b", "20261210", "20261212"),
    stay("c", "20261220", "20261224"),
]


@pytest.fixture
def product_calendar(store, feed_server):
    """A product with one external calendar pointing at /feed.ics on the feed server."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Beach house", timezone="Europe/Amsterdam", capacity=1, now=NOW
        )
        cal = add_calendar(
            session, product_id=product.id, name="Airbnb", ical_url=feed_server.url("/feed.ics"),
            time_offset=0, active=True, now=NOW,
        )  # fmt: skip
        return cal.id


def status(store, calendar_id) -> ExternalCalendar:
    with store.read() as session:
        return stored_calendars.get_calendar(session, calendar_id)


def runs(store, calendar_id) -> list[SyncRun]:
    with store.read() as session:
        return list(reversed(history.recent_runs(session, calendar_id, limit=50)))


def test_first_sync_imports_and_records_status(
    store, settings, feed_server, product_calendar, clock
):
    """A first sync inserts every stay, sets last_synced, updated_at and a 'changed' run."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS, head=AIRBNB))
    result = run(store, settings, product_calendar, clock)
    assert (result.outcome, result.inserted, result.http_status) == ("changed", 3, 200)
    assert bookings(store, product_calendar).keys() == {"a", "b", "c"}
    cal = status(store, product_calendar)
    assert (cal.last_synced, cal.updated_at, cal.error, cal.event_count) == (NOW, NOW, None, 3)
    assert cal.prodid == "-//Airbnb Inc//Hosting Calendar 1.0//EN"
    assert [r.outcome for r in runs(store, product_calendar)] == ["changed"]


def test_same_feed_twice_changes_nothing_with_etag(
    store, settings, feed_server, product_calendar, clock
):
    """With an ETag the second sync is a 304: not_modified, no change, updated_at kept."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS), etag='"v1"')
    run(store, settings, product_calendar, clock)
    before = bookings(store, product_calendar)
    clock.now = NOW + timedelta(minutes=15)
    result = run(store, settings, product_calendar, clock)
    assert result.outcome == "not_modified"
    assert bookings(store, product_calendar) == before
    cal = status(store, product_calendar)
    assert (cal.last_synced, cal.updated_at) == (NOW + timedelta(minutes=15), NOW)


def test_same_feed_with_new_dtstamp_is_unchanged_without_parsing(
    store, settings, feed_server, product_calendar, clock
):
    """No ETag and a DTSTAMP that changes on every request (Airbnb): the digest says unchanged."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    stamped = [s.replace("20261115T120000Z", "20261115T121500Z") for s in THREE_STAYS]
    feed_server.serve("/feed.ics", calendar(*stamped))
    clock.now = NOW + timedelta(minutes=15)
    result = run(store, settings, product_calendar, clock)
    assert (result.outcome, result.inserted, result.updated, result.deleted) == (
        "unchanged",
        0,
        0,
        0,
    )
    assert status(store, product_calendar).updated_at == NOW


def test_unchanged_digest_skips_the_parse(
    store, settings, feed_server, product_calendar, clock, monkeypatch
):
    """With the digest unchanged (only DTSTAMP moved) the feed is not parsed at all."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve(
        "/feed.ics", calendar(*(s.replace("T120000Z", "T130000Z") for s in THREE_STAYS))
    )

    def must_not_parse(*_: object) -> None:
        pytest.fail("an unchanged feed was parsed")

    monkeypatch.setattr("calsync.sync.read.parse_feed", must_not_parse)
    assert run(store, settings, product_calendar, clock).outcome == "unchanged"


def test_dropped_past_booking_is_kept(store, settings, feed_server, product_calendar, clock):
    """Airbnb's sliding window drops a past stay: the booking stays."""
    feed_server.serve("/feed.ics", calendar(stay("old", "20261110", "20261114"), *THREE_STAYS))
    run(store, settings, product_calendar, clock)
    clock.now = NOW + timedelta(days=40)
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    result = run(store, settings, product_calendar, clock)
    assert result.deleted == 0
    assert "old" in bookings(store, product_calendar)


def test_dropped_future_booking_is_deleted(store, settings, feed_server, product_calendar, clock):
    """A cancelled future stay (one of three) is deleted and updated_at moves."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS[:2]))
    clock.now = NOW + timedelta(minutes=15)
    result = run(store, settings, product_calendar, clock)
    assert (result.outcome, result.deleted) == ("changed", 1)
    assert bookings(store, product_calendar).keys() == {"a", "b"}
    assert status(store, product_calendar).updated_at == NOW + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        (calendar(), "no events"),
        (calendar(THREE_STAYS[0]), "would delete 2 of 3"),
        (calendar(*THREE_STAYS[:2], head="PRODID:-//Other Channel//EN\r\n"), "PRODID"),
    ],
    ids=["empty-feed", "mass-delete", "prodid-change"],
)
def test_suspicious_deletes_are_held_until_confirmed(
    store, settings, feed_server, product_calendar, clock, second, reason
):
    """Empty feed, mass delete, PRODID change: deletes held, then applied when the next fetch confirms."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", second)
    clock.now = NOW + timedelta(minutes=15)
    held = run(store, settings, product_calendar, clock)
    assert held.outcome == "held"
    assert held.deleted == 0
    assert bookings(store, product_calendar).keys() == {"a", "b", "c"}
    cal = status(store, product_calendar)
    assert cal.held_since == NOW + timedelta(minutes=15)
    assert reason in (cal.error or "")
    assert "calsync calendars release" in (cal.error or "")

    clock.now = NOW + timedelta(minutes=30)
    confirmed = run(store, settings, product_calendar, clock)
    assert confirmed.outcome == "changed"
    assert confirmed.deleted == held.held_deletes
    cal = status(store, product_calendar)
    assert (cal.held_since, cal.error) == (None, None)


def test_held_booking_that_returns_is_kept(store, settings, feed_server, product_calendar, clock):
    """An empty fetch is held; when the stays come back, nothing is deleted."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    before = bookings(store, product_calendar)
    feed_server.serve("/feed.ics", calendar())
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    result = run(store, settings, product_calendar, clock)
    assert (result.outcome, result.deleted) == ("unchanged", 0)
    assert bookings(store, product_calendar) == before
    assert status(store, product_calendar).held_since is None


def test_release_applies_held_deletes_now(store, settings, feed_server, product_calendar, clock):
    """`calendars release` deletes the held bookings at once and clears the hold."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar())
    run(store, settings, product_calendar, clock)
    with store.write() as session:
        assert stored_bookings.release_held(session, product_calendar, now=NOW) == 3
    assert bookings(store, product_calendar) == {}
    assert status(store, product_calendar).held_since is None


def test_airbnb_uid_churn_keeps_booking_ids(store, settings, feed_server, product_calendar, clock):
    """Airbnb regenerates the UIDs of its blocks: the bookings keep their ids, only keys change."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    before = bookings(store, product_calendar)
    feed_server.serve("/feed.ics", calendar(*(s.replace("UID:", "UID:new-") for s in THREE_STAYS)))
    result = run(store, settings, product_calendar, clock)
    after = bookings(store, product_calendar)
    assert (result.inserted, result.updated, result.deleted) == (0, 3, 0)
    assert {after[f"new-{key}"][0] for key in "abc"} == {before[key][0] for key in "abc"}


def test_time_offset_and_product_timezone_apply(
    store, settings, feed_server, product_calendar, clock
):
    """A calendar's time_offset shifts imported timed events; the digest notices the change."""
    feed_server.serve(
        "/feed.ics", calendar("UID:t\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z")
    )
    run(store, settings, product_calendar, clock)
    with store.write() as session:
        stored_calendars.get_calendar(session, product_calendar).time_offset = -2
    result = run(store, settings, product_calendar, clock)
    assert result.updated == 1
    with store.read() as session:
        booking = session.scalars(select(Booking)).one()
        assert booking.starts_at.hour == 13


def test_transparent_events_block_and_skip_follows_the_calendar(
    store, settings, feed_server, product_calendar, clock
):
    """A transparent all-day block imports; transparent_events=skip re-parses and deletes it."""
    feed_server.serve(
        "/feed.ics",
        calendar(THREE_STAYS[0], "UID:g\nDTSTART;VALUE=DATE:20261210\nTRANSP:TRANSPARENT"),
    )
    assert status(store, product_calendar).transparent_events == "block"
    assert run(store, settings, product_calendar, clock).inserted == 2
    with store.write() as session:
        stored_calendars.get_calendar(session, product_calendar).transparent_events = "skip"
    result = run(store, settings, product_calendar, clock)
    assert (result.deleted, result.skipped) == (1, 1)
    assert set(bookings(store, product_calendar)) == {"a"}


BROKEN_ANSWERS: dict[str, tuple[bytes, dict[str, Any], str]] = {
    "http-500": (b"", {"status": 500}, "HTTP 500"),
    "html-page": (
        b"<html><title>Sign in</title></html>",
        {"content_type": "text/html"},
        "an HTML page",
    ),
    "rate-limited": (b"", {"status": 429, "headers": {"Retry-After": "120"}}, "HTTP 429"),
    "gone": (b"", {"status": 410}, "HTTP 410"),
    "ical-then-html": (
        calendar(THREE_STAYS[0]) + b"<html>oops</html>",
        {},
        "content after END:VCALENDAR",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_ANSWERS))
def test_broken_answers_change_no_booking(
    store, settings, feed_server, product_calendar, clock, case
):
    """Every kind of broken answer: bookings untouched, error set, last_synced kept, a failed run."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    before = bookings(store, product_calendar)
    body, options, message = BROKEN_ANSWERS[case]
    feed_server.serve("/feed.ics", body, **options)
    clock.now = NOW + timedelta(minutes=15)
    result = run(store, settings, product_calendar, clock)
    assert result.outcome == "failed"
    assert message in (result.error or "")
    assert bookings(store, product_calendar) == before
    cal = status(store, product_calendar)
    assert (cal.last_synced, cal.failure_count) == (NOW, 1)
    assert message in (cal.error or "")
    assert [r.outcome for r in runs(store, product_calendar)] == ["changed", "failed"]


def test_slow_drip_past_the_time_cap_changes_nothing(
    store, settings, feed_server, product_calendar, clock
):
    """A server dripping bytes past fetch.timeout_seconds fails the sync; bookings stay."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS), drip_interval=0.2)
    result = run(store, settings, product_calendar, clock, timeout_seconds=1.0)
    assert result.outcome == "failed"
    assert len(bookings(store, product_calendar)) == 3


@pytest.mark.parametrize("bomb", [False, True], ids=["oversized", "gzip-bomb"])
def test_oversized_body_changes_nothing(
    store, settings, feed_server, product_calendar, clock, bomb
):
    """A body over fetch.max_bytes (plain, or a gzip bomb) fails the sync; bookings stay."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    if bomb:
        feed_server.raw_gzip("/feed.ics", gzip.compress(b"\0" * (8 * 1024 * 1024)))
    else:
        feed_server.serve("/feed.ics", b"X" * (2 * 1024 * 1024))
    result = run(store, settings, product_calendar, clock, max_bytes=1024 * 1024)
    assert result.outcome == "failed"
    assert len(bookings(store, product_calendar)) == 3


def test_private_address_is_refused_with_the_guard_on(
    store, feed_server, product_calendar, clock, database_url
):
    """With the SSRF guard on, a feed on 127.0.0.1 is refused and the server sees nothing."""
    guarded = make_settings(database_url, fetch={"allow_private_networks": False})
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    result = run(store, guarded, product_calendar, clock)
    assert result.outcome == "failed"
    assert "127.0.0.1" in (result.error or "")
    assert feed_server.hits("/feed.ics") == 0


def test_error_is_cleared_by_the_next_success(
    store, settings, feed_server, product_calendar, clock
):
    """After a failure, a successful sync clears error and failure_count."""
    feed_server.serve("/feed.ics", b"", status=500)
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    cal = status(store, product_calendar)
    assert (cal.error, cal.failure_count, cal.last_synced) == (None, 0, NOW)


def test_sync_logs_one_line_with_a_redacted_url(store, settings, feed_server, clock):
    """sync.finished carries calendar, product, outcome and counts, and the URL's secret is redacted."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Flat", timezone="UTC", capacity=1, now=NOW
        )
        cal = add_calendar(
            session, product_id=product.id, name="Booking.com", ical_url=feed_server.url("/ical.html?t=secret-token-0123456789"),
            time_offset=0, active=True, now=NOW,
        )  # fmt: skip
        calendar_id, product_id = cal.id, product.id
    feed_server.serve("/ical.html", calendar(*THREE_STAYS))
    with structlog.testing.capture_logs() as logs:
        run(store, settings, calendar_id, clock)
    [line] = [entry for entry in logs if entry["event"] == "sync.finished"]
    assert (line["calendar_id"], line["product_id"], line["outcome"], line["inserted"]) == (
        str(calendar_id),
        str(product_id),
        "changed",
        3,
    )
    assert line["url"] == f"{feed_server.base_url}/ical.html?***"


def test_skipped_events_and_warnings_are_logged(
    store, settings, feed_server, product_calendar, clock
):
    """A cancelled event and an unknown TZID are named in one feed.events_skipped line.

    The line names the calendar, its product and its channel (tld), as sync.finished does.
    """
    feed_server.serve("/feed.ics", calendar(
        THREE_STAYS[0] + "\nSTATUS:CANCELLED",
        "UID:t\nDTSTART;TZID=Mars/Base:20261201T150000\nDTEND;TZID=Mars/Base:20261201T160000",
        stay("past", "20260101", "20260105"),
    ))  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        run(store, settings, product_calendar, clock)
    [line] = [entry for entry in logs if entry["event"] == "feed.events_skipped"]
    assert (line["calendar_id"], line["tld"]) == (str(product_calendar), "127.0.0.1")
    assert line["product_id"] == str(status(store, product_calendar).product_id)
    assert line["skipped"] == [{"uid": "a", "reason": "cancelled (STATUS:CANCELLED)"}]
    assert line["warnings"] == ["unknown timezone 'Mars/Base', read in Europe/Amsterdam"]


def test_redirect_to_a_private_address_changes_nothing(store, feed_server, clock, database_url):
    """Guard on, feed host allowed by name: its redirect to 127.0.0.1 is refused, bookings stay."""
    guarded = make_settings(
        database_url, fetch={"allow_private_networks": False, "allow_hosts": '["localhost"]'}
    )
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Flat", timezone="UTC", capacity=1, now=NOW
        )
        url = feed_server.url("/feed.ics").replace("127.0.0.1", "localhost")
        calendar_id = add_calendar(
            session,
            product_id=product.id,
            name="x",
            ical_url=url,
            time_offset=0,
            active=True,
            now=NOW,
        ).id
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    assert run(store, guarded, calendar_id, clock).inserted == 3
    feed_server.redirect("/feed.ics", feed_server.url("/moved.ics"))
    feed_server.serve("/moved.ics", calendar())
    result = run(store, guarded, calendar_id, clock)
    assert result.outcome == "failed"
    assert "blocked: loopback address 127.0.0.1" in (result.error or "")
    assert feed_server.hits("/moved.ics") == 0
    assert len(bookings(store, calendar_id)) == 3


def test_failure_schedules_a_backoff_and_success_resets_it(
    store, settings, feed_server, product_calendar, clock
):
    """next_sync_at: interval×2^(n-1) after the n-th failure; interval ±10 % after a success."""
    feed_server.serve("/feed.ics", b"", status=500)
    for failures in (1, 2, 3):
        run(store, settings, product_calendar, clock)
        cal = status(store, product_calendar)
        assert cal.failure_count == failures
        assert cal.next_sync_at == NOW + timedelta(minutes=15 * 2 ** (failures - 1))
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    cal = status(store, product_calendar)
    assert cal.failure_count == 0
    assert cal.next_sync_at is not None
    assert NOW + timedelta(minutes=13.5) <= cal.next_sync_at <= NOW + timedelta(minutes=16.5)


def test_retry_after_sets_the_next_attempt(store, settings, feed_server, product_calendar, clock):
    """A 429 with Retry-After: 1200 schedules the next attempt 20 minutes out."""
    feed_server.serve("/feed.ics", b"", status=429, headers={"Retry-After": "1200"})
    run(store, settings, product_calendar, clock)
    assert status(store, product_calendar).next_sync_at == NOW + timedelta(seconds=1200)


@pytest.mark.parametrize(("status_code", "reason"), [(404, "HTTP 404"), (410, "HTTP 410"),
                                                  (403, "HTTP 403"), (401, "HTTP 401")])  # fmt: skip
def test_a_failure_no_retry_passes_waits_the_longest_backoff_and_says_so(
    store, settings, feed_server, product_calendar, clock, status_code, reason
):
    """A 404, 410, 403 or 401 is not retried in 15 minutes: the next attempt is max_backoff away.

    Regression: ``retryable`` was never read, so a gone or forbidden feed was
    retried like a timeout. The error says until when, and why.
    """
    feed_server.serve("/feed.ics", b"", status=status_code)
    run(store, settings, product_calendar, clock)
    cal = status(store, product_calendar)
    assert (cal.failure_count, cal.next_sync_at) == (1, NOW + timedelta(hours=6))
    assert (cal.error or "").endswith(
        f"{reason} — not retried until 2026-11-15 18:00 UTC (or a manual sync): this needs "
        "a fix at the channel or a new URL"
    )
    assert [r.error for r in runs(store, product_calendar)] == [(cal.error or "").split(" — ")[0]]


@pytest.mark.parametrize("status_code", [500, 503])
def test_a_failure_a_retry_may_pass_backs_off_as_before(
    store, settings, feed_server, product_calendar, clock, status_code
):
    """A 500 or 503 without Retry-After is retried after the interval, and the error has no more."""
    feed_server.serve("/feed.ics", b"", status=status_code)
    run(store, settings, product_calendar, clock)
    cal = status(store, product_calendar)
    assert (cal.next_sync_at, "not retried" in (cal.error or "")) == (
        NOW + timedelta(minutes=15),
        False,
    )


def test_calendar_failing_too_long_is_deactivated(
    store, feed_server, product_calendar, clock, database_url
):
    """With sync.disable_after_days = 2, a calendar failing since 3 days is deactivated, saying why."""
    failing = make_settings(database_url, sync={"disable_after_days": 2})
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, failing, product_calendar, clock)
    feed_server.serve("/feed.ics", b"", status=500)
    clock.now = NOW + timedelta(days=1)
    run(store, failing, product_calendar, clock)
    assert status(store, product_calendar).active
    clock.now = NOW + timedelta(days=3)
    run(store, failing, product_calendar, clock)
    cal = status(store, product_calendar)
    assert not cal.active
    assert "deactivated: failing since 2026-11-15" in (cal.error or "")
    assert len(bookings(store, product_calendar)) == 3


def test_a_sync_whose_lease_was_taken_writes_nothing(
    store, settings, feed_server, product_calendar, clock
):
    """Owner A's sync finishes after B took the lease: no booking, no status, no run is written."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    with store.write() as session:
        assert stored_calendars.claim_calendar(
            session, product_calendar, owner="A", now=NOW, lease_until=NOW - timedelta(seconds=1)
        )
        assert stored_calendars.claim_calendar(
            session, product_calendar, owner="B", now=NOW, lease_until=NOW + timedelta(minutes=2)
        )
    result = run_as(store, settings, product_calendar, clock, lease_owner="A")
    assert result.outcome == "failed"
    assert "nothing written" in (result.error or "")
    assert bookings(store, product_calendar) == {}
    assert runs(store, product_calendar) == []
    assert status(store, product_calendar).lease_owner == "B"


def test_a_sync_releases_its_lease_and_clears_the_request(
    store, settings, feed_server, product_calendar, clock
):
    """After a sync under a lease: lease released, sync_requested_at (older than the start) cleared."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    with store.write() as session:
        request_sync(session, product_calendar, now=NOW - timedelta(seconds=5))
        assert stored_calendars.claim_calendar(
            session, product_calendar, owner="A", now=NOW, lease_until=NOW + timedelta(minutes=2)
        )
    run_as(store, settings, product_calendar, clock, lease_owner="A")
    cal = status(store, product_calendar)
    assert (cal.lease_owner, cal.lease_expires_at, cal.sync_requested_at) == (None, None, None)


def run_as(store, settings, calendar_id, clock, *, lease_owner: str) -> SyncResult:
    async def go() -> SyncResult:
        async with FeedFetcher(settings.fetch) as fetcher:
            return await sync_calendar(
                calendar_id,
                store=store,
                fetcher=fetcher,
                settings=settings,
                clock=clock,
                lease_owner=lease_owner,
            )

    return asyncio.run(go())


def test_an_import_that_only_adds_bookings_moves_the_product_feed_version(
    store, settings, clock, feed_server, product_calendar
):
    """An import that only inserts still moves the product's version (the feed's ETag).

    Regression: new bookings are inserted with one Core statement, which the ORM
    hook that moves ``bookings_changed_at`` does not see; without the version the
    channels keep the old feed and double-book the new stay.
    """

    def version() -> object:
        with store.read() as session:
            calendar = stored_calendars.get_calendar(session, product_calendar)
            return stored_products.get_product(session, calendar.product_id).bookings_changed_at

    feed_server.serve("/feed.ics", calendar(THREE_STAYS[0]))
    assert run(store, settings, product_calendar, clock).inserted == 1
    first = version()
    assert first is not None
    feed_server.serve("/feed.ics", calendar(THREE_STAYS[0], THREE_STAYS[1]))
    result = run(store, settings, product_calendar, clock)
    assert (result.inserted, result.updated, result.deleted) == (1, 0, 0)
    assert version() not in {None, first}


def product_version(store, calendar_id) -> object:
    """The outbound feed version (``bookings_changed_at``) of the calendar's product."""
    with store.read() as session:
        calendar = stored_calendars.get_calendar(session, calendar_id)
        return stored_products.get_product(session, calendar.product_id).bookings_changed_at


def test_a_rekey_alone_leaves_the_feed_version_and_etag_and_channels_get_304(
    store, settings, clock, feed_server, product_calendar
):
    """Airbnb regenerating every UID (same nights) keeps the outbound ETag: channels get 304.

    Regression: the rekey was an update like any other and moved the product's
    feed version, so every channel downloaded an unchanged feed after every sync.
    """
    app = create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, settings.feeds, clock=clock),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    with store.read() as session:
        token = stored_products.get_product(
            session, stored_calendars.get_calendar(session, product_calendar).product_id
        ).feed_token
    feed_server.serve("/feed.ics", calendar(THREE_STAYS[0], THREE_STAYS[1]))
    assert run(store, settings, product_calendar, clock).inserted == 2
    version = product_version(store, product_calendar)
    with TestClient(app) as client:
        etag = client.get(feed_path(token)).headers["etag"]
        feed_server.serve(
            "/feed.ics",
            calendar(stay("a2", "20261201", "20261205"), stay("b2", "20261210", "20261212")),
        )
        result = run(store, settings, product_calendar, clock)
        assert (result.inserted, result.updated, result.deleted) == (0, 2, 0)
        assert set(bookings(store, product_calendar)) == {"a2", "b2"}
        assert product_version(store, product_calendar) == version
        assert client.get(feed_path(token), headers={"If-None-Match": etag}).status_code == 304


def test_a_new_summary_of_an_import_leaves_the_feed_version(
    store, settings, clock, feed_server, product_calendar
):
    """Imported summaries are not exported: a summary-only change keeps the feed version."""
    feed_server.serve("/feed.ics", calendar(THREE_STAYS[0]))
    run(store, settings, product_calendar, clock)
    version = product_version(store, product_calendar)
    feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205", "Blocked")))
    assert run(store, settings, product_calendar, clock).updated == 1
    assert product_version(store, product_calendar) == version


def test_a_moved_stay_moves_the_feed_version(store, settings, clock, feed_server, product_calendar):
    """New nights of an imported stay move the product's feed version."""
    feed_server.serve("/feed.ics", calendar(THREE_STAYS[0]))
    run(store, settings, product_calendar, clock)
    version = product_version(store, product_calendar)
    feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261206")))
    assert run(store, settings, product_calendar, clock).updated == 1
    assert product_version(store, product_calendar) not in {None, version}


def _stays(count: int, *, shift: timedelta = timedelta(0)) -> bytes:
    """``count`` six-hour stays twelve hours apart from 2026-12-01, moved by ``shift``."""
    first = datetime(2026, 12, 1, tzinfo=UTC) + shift
    starts = [first + timedelta(hours=12 * n) for n in range(count)]
    return calendar(
        *(
            f"UID:s{n}\nDTSTAMP:20261115T120000Z\nDTSTART:{start:%Y%m%dT%H%M%SZ}\n"
            f"DTEND:{start + timedelta(hours=6):%Y%m%dT%H%M%SZ}\nSUMMARY:Reserved"
            for n, start in enumerate(starts)
        )
    )


def _work_of_a_shift(
    store, settings, clock, feed_server, calendar_id, count: int
) -> tuple[int, int]:
    """Statements sent, and bookings loaded as ORM objects, by a sync moving all ``count`` stays."""
    feed_server.serve("/feed.ics", _stays(count))
    assert run(store, settings, calendar_id, clock).inserted == count
    feed_server.serve("/feed.ics", _stays(count, shift=timedelta(days=1)))
    statements = loaded = 0

    def count_statement(*_args: object) -> None:
        nonlocal statements
        statements += 1

    def count_load(*_args: object) -> None:
        nonlocal loaded
        loaded += 1

    event.listen(store.engine, "before_cursor_execute", count_statement)
    event.listen(Booking, "load", count_load)
    try:
        assert run(store, settings, calendar_id, clock).updated == count
    finally:
        event.remove(store.engine, "before_cursor_execute", count_statement)
        event.remove(Booking, "load", count_load)
    return statements, loaded


def test_the_work_of_a_sync_does_not_grow_per_booking(store, settings, clock, feed_server):
    """Moving every stay: as many statements for 1 000 stays as for 100, no ORM object per booking.

    Regression: every update went through the ORM unit of work one object at a
    time, and an ORM hook looked each booking up in ``session.dirty``: quadratic
    (40 000 events took 327 s). Now each kind of change is one set-based statement.
    """
    work = []
    for size in (100, 1000):
        with store.write() as session:
            product = stored_products.add_product(
                session, name="p", timezone="UTC", capacity=1, now=NOW
            )
            calendar_id = add_calendar(
                session, product_id=product.id, name="c", ical_url=feed_server.url("/feed.ics"),
                time_offset=0, active=True, now=NOW,
            ).id  # fmt: skip
        work.append(_work_of_a_shift(store, settings, clock, feed_server, calendar_id, size))
    (small_statements, small_loaded), (large_statements, large_loaded) = work
    assert (small_statements, 0, 0) == (large_statements, small_loaded, large_loaded)


# Issue "Truth of the calendar, round 2", §5: a calendar's state tells the truth.


@pytest.mark.parametrize("etag", ['"v1"', None], ids=["304", "same-digest"])
def test_issue_truth_5_error_is_cleared_by_an_unchanged_fetch(
    store, settings, feed_server, product_calendar, clock, etag
):
    """After a failure, a 304 or an unchanged body is a success: error and failure_count clear."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS), etag=etag)
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", b"", status=500)
    clock.now = NOW + timedelta(minutes=15)
    run(store, settings, product_calendar, clock)
    assert status(store, product_calendar).error is not None
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS), etag=etag)
    clock.now = NOW + timedelta(minutes=30)
    result = run(store, settings, product_calendar, clock)
    assert result.outcome == ("not_modified" if etag else "unchanged")
    cal = status(store, product_calendar)
    assert (cal.error, cal.failure_count, cal.last_synced) == (None, 0, clock.now)


@pytest.mark.parametrize("etag", ['"empty"', None], ids=["304", "same-digest"])
def test_issue_truth_5_held_deletions_are_confirmed_by_an_unchanged_fetch(
    store, settings, feed_server, product_calendar, clock, etag
):
    """An empty feed is held; the next fetch answering 304 (or the same body) confirms it."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))
    run(store, settings, product_calendar, clock)
    feed_server.serve("/feed.ics", calendar(), etag=etag)
    clock.now = NOW + timedelta(minutes=15)
    assert run(store, settings, product_calendar, clock).outcome == "held"
    clock.now = NOW + timedelta(minutes=30)
    confirmed = run(store, settings, product_calendar, clock)
    assert (confirmed.outcome, confirmed.deleted, confirmed.http_status) == (
        "changed",
        3,
        304 if etag else 200,
    )
    assert bookings(store, product_calendar) == {}
    cal = status(store, product_calendar)
    assert (cal.held_since, cal.error, cal.updated_at) == (None, None, clock.now)


def test_issue_truth_5_an_html_page_is_recorded_with_its_http_status(
    store, settings, feed_server, product_calendar, clock
):
    """A 200 HTML page fails the sync with http_status 200 on the result and the sync run."""
    feed_server.serve("/feed.ics", b"<html><title>Sign in</title></html>", content_type="text/html")
    result = run(store, settings, product_calendar, clock)
    assert (result.outcome, result.http_status) == ("failed", 200)
    assert [(r.outcome, r.http_status) for r in runs(store, product_calendar)] == [("failed", 200)]


# Issue "Truth of the calendar, round 2", §6: no sync dies unrecorded.


def assert_recorded_failure(store, calendar_id, message: str, *, next_sync_at=None) -> None:
    """The calendar's error names ``message``; one failed run; failure counted; backoff set."""
    cal = status(store, calendar_id)
    assert message in (cal.error or "")
    assert cal.failure_count == 1
    assert cal.next_sync_at == (next_sync_at or NOW + timedelta(minutes=15))
    assert [(r.outcome, message in (r.error or "")) for r in runs(store, calendar_id)] == [
        ("failed", True)
    ]


def test_issue_truth_6_a_host_the_idna_codec_refuses_is_a_recorded_failure(store, settings, clock):
    """A stored http://0..0/x.ics (from before URLs were checked) fails with a reason, recorded.

    No retry can pass (the URL needs fixing): the next attempt waits the longest backoff.
    """
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Flat", timezone="UTC", capacity=1, now=NOW
        )
        calendar_id = stored_calendars.add_calendar(
            session, product_id=product.id, name="x", ical_url="http://0..0/x.ics", tld="",
            now=NOW,
        ).id  # fmt: skip
    result = run(store, settings, calendar_id, clock)
    assert result.outcome == "failed"
    assert_recorded_failure(
        store, calendar_id, "host '0..0' has an empty label", next_sync_at=NOW + timedelta(hours=6)
    )


def test_issue_truth_6_a_parser_raising_anything_is_a_recorded_failure(
    store, settings, feed_server, product_calendar, clock
):
    """A parse that raises a non-FeedError is this calendar's failure, named by its type."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))

    async def broken_parse(body: bytes, options: object) -> Any:
        raise KeyError("DTSTART")

    async def go() -> SyncResult:
        async with FeedFetcher(settings.fetch) as fetcher:
            return await sync_calendar(
                product_calendar, store=store, fetcher=fetcher, settings=settings, clock=clock,
                parse=broken_parse,
            )  # fmt: skip

    with structlog.testing.capture_logs() as logs:
        result = asyncio.run(go())
    assert (result.outcome, result.http_status) == ("failed", 200)
    assert_recorded_failure(store, product_calendar, "internal error: KeyError: 'DTSTART'")
    [crash] = [entry for entry in logs if entry["event"] == "sync.crashed"]
    assert crash["calendar_id"] == str(product_calendar)
    assert bookings(store, product_calendar) == {}


def test_issue_truth_6_an_apply_that_raises_is_recorded_in_a_fresh_transaction(
    store, settings, feed_server, product_calendar, clock, monkeypatch
):
    """The plan raising a non-CalsyncError: no booking written, but error, failed run and backoff."""
    feed_server.serve("/feed.ics", calendar(*THREE_STAYS))

    def broken_plan(*_: object, **__: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("calsync.sync.record.plan_sync", broken_plan)
    result = run(store, settings, product_calendar, clock)
    assert result.outcome == "failed"
    assert not result.unwritten
    assert_recorded_failure(
        store, product_calendar, "recording the result failed: internal error: ZeroDivisionError"
    )
    assert bookings(store, product_calendar) == {}
    assert status(store, product_calendar).last_synced is None


def test_issue_truth_6_backoff_of_a_long_interval_after_many_failures_is_recorded(
    store, feed_server, product_calendar, clock, database_url
):
    """Interval 400 min, 33rd failure in a row: recorded, next attempt after max_backoff."""
    slow = make_settings(database_url, sync={"interval_minutes": 400})
    with store.write() as session:
        stored_calendars.get_calendar(session, product_calendar).failure_count = 32
    feed_server.serve("/feed.ics", b"", status=500)
    result = run(store, slow, product_calendar, clock)
    assert result.outcome == "failed"
    cal = status(store, product_calendar)
    assert (cal.failure_count, cal.next_sync_at) == (33, NOW + timedelta(hours=6))
    assert [r.outcome for r in runs(store, product_calendar)] == ["failed"]


def test_issue_truth_6_a_retry_after_beyond_any_date_is_recorded(
    store, settings, feed_server, product_calendar, clock
):
    """Retry-After: 10^30 seconds: a recorded failure, next attempt after max_backoff."""
    feed_server.serve("/feed.ics", b"", status=429, headers={"Retry-After": "1" + "0" * 30})
    result = run(store, settings, product_calendar, clock)
    assert result.outcome == "failed"
    assert status(store, product_calendar).next_sync_at == NOW + timedelta(hours=6)


# Issue "Reliability, round 2", §4: credentials in feed URLs.


@pytest.mark.parametrize(("password", "outcome"), [("s3cret", "changed"), ("wr0ng", "failed")])
def test_issue_reliability_4_credentials_in_the_url_reach_the_feed_and_no_log(
    store, settings, feed_server, clock, password, outcome
):
    """user:pass@ in a calendar's URL is sent as Basic auth; no log line, error or run shows it."""
    feed_server.serve("/private.ics", calendar(*THREE_STAYS), basic_auth=("owner", "s3cret"))
    url = feed_server.url("/private.ics").replace("//", f"//owner:{password}@", 1)
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Flat", timezone="UTC", capacity=1, now=NOW
        )
        calendar_id = add_calendar(
            session, product_id=product.id, name="x", ical_url=url, time_offset=0, active=True,
            now=NOW,
        ).id  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        result = run(store, settings, calendar_id, clock)
    assert (result.outcome, result.http_status) == (outcome, 200 if outcome == "changed" else 401)
    shown = [
        str(logs),
        status(store, calendar_id).error,
        *(r.error for r in runs(store, calendar_id)),
    ]
    assert not [text for text in shown if text and password in text]
