"""Outbound feeds: round trips through two parsers, exclude, validators, rotation, readers, loops."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from ical.calendar_stream import IcsCalendarStream
from sqlalchemy import select, update

import conftest
from appserver import serve_in_thread
from calsync.core.feed_path import feed_path
from calsync.core.ical_in import parse_feed
from calsync.feeds import (
    CHECK_VALIDITY,
    FeedReadLog,
    FeedService,
    RenderedFeed,
    StaleReaderWatch,
)
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.services import products
from calsync.services.context import WriteContext
from calsync.store import calendars as stored_calendars
from calsync.store import history
from calsync.store import products as stored_products
from calsync.store.models import Booking, Product
from calsync.sync import sync_calendar
from calsync.web.app import create_app
from calsync.web.feeds import accepts_gzip
from conftest import NOW, TEST_CAUSE, make_settings, parse_options, remove_calendar


@pytest.fixture
def app_parts(store, settings, clock):
    """A FeedService, FeedReadLog and TestClient on the test store, at a fixed clock."""
    service = FeedService(store, settings.feeds, clock=clock)
    read_log = FeedReadLog(store)
    app = create_app(
        store=store,
        metrics=Metrics(),
        feed_service=service,
        read_log=read_log,
        settings=settings,
        clock=clock,
    )
    with TestClient(app) as client:
        yield service, read_log, client


def add_product(
    store, name: str = "Beach house", timezone: str = "Europe/Amsterdam", capacity: int = 1
) -> Product:
    with store.write() as session:
        return stored_products.add_product(
            session, name=name, timezone=timezone, capacity=capacity, now=NOW
        )


def add_booking(
    store,
    product_id,
    start,
    end,
    *,
    all_day=False,
    calendar_id=None,
    status="confirmed",
    summary="Jansen family",
) -> uuid.UUID:
    with store.write() as session:
        booking = Booking(
            product_id=product_id, external_calendar_id=calendar_id, source_key=str(uuid.uuid4()) if calendar_id else None,
            starts_at=start, ends_at=end, all_day=all_day, summary=summary, status=status,
        )  # fmt: skip
        session.add(booking)
        session.flush()
        stored_products.touch_feed_version(session, [product_id], NOW)
        return booking.id


def add_calendar(
    store, product_id, url: str = "https://www.airbnb.com/calendar/ical/1.ics"
) -> uuid.UUID:
    with store.write() as session:
        return conftest.add_calendar(
            session,
            product_id=product_id,
            name="c",
            ical_url=url,
            time_offset=0,
            active=True,
            now=NOW,
        ).id


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def as_utc(moment: date | datetime | None) -> tuple[datetime, bool]:
    """An instant from the independent parser as (aware UTC, all-day)."""
    assert moment is not None
    if isinstance(moment, datetime):
        return moment.astimezone(UTC), False
    return utc(moment.year, moment.month, moment.day), True


def rendered(service: FeedService, token: str) -> RenderedFeed:
    feed = service.feed(token)
    assert feed is not None
    return feed


def test_round_trip_through_calsync_and_an_independent_parser(store, app_parts):
    """Timed, all-day and DST-crossing bookings come back as the same intervals, twice."""
    _, _, client = app_parts
    product = add_product(store)
    bookings = [
        (utc(2026, 12, 1), utc(2026, 12, 5), True),
        (utc(2026, 12, 10, 14), utc(2026, 12, 12, 10), False),
        (utc(2027, 3, 27, 14), utc(2027, 3, 29, 9), False),  # over the spring DST change
        (utc(2027, 10, 30), utc(2027, 11, 2), True),  # over the autumn DST change
        (utc(2027, 1, 5), utc(2027, 1, 8), True),
    ]
    for start, end, all_day in bookings:
        add_booking(store, product.id, start, end, all_day=all_day)
    answer = client.get(feed_path(product.feed_token))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    expected = sorted((s, e, a) for s, e, a in bookings)

    parsed = parse_feed(answer.content, parse_options(timezone="UTC"))
    assert sorted((b.starts_at, b.ends_at, b.all_day) for b in parsed.blocks) == expected

    independent = IcsCalendarStream.calendar_from_ics(answer.text)
    again = []
    for event in independent.timeline_tz(UTC):
        (start, all_day), (end, _) = as_utc(event.dtstart), as_utc(event.dtend)
        again.append((start, end, all_day))
    assert sorted(again) == expected


def test_multi_unit_feed_shows_only_fully_booked_nights_merged(store, app_parts):
    """Capacity 2: one booking leaves nights open; two overlapping make those nights one event."""
    _, _, client = app_parts
    product = add_product(store, capacity=2)
    add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 6), all_day=True)
    add_booking(store, product.id, utc(2026, 12, 3), utc(2026, 12, 5), all_day=True)
    add_booking(store, product.id, utc(2026, 12, 5), utc(2026, 12, 8), all_day=True)
    body = client.get(feed_path(product.feed_token)).content
    parsed = parse_feed(body, parse_options(timezone="UTC"))
    assert [(b.starts_at, b.ends_at, b.all_day) for b in parsed.blocks] == [
        (utc(2026, 12, 3), utc(2026, 12, 6), True)
    ]


def test_feed_says_nothing_about_guests_and_is_valid_rfc5545(store, app_parts):
    """SUMMARY is neutral, every line ends in CRLF and is at most 75 octets, UIDs are stable."""
    _, _, client = app_parts
    product = add_product(store)
    booking_id = add_booking(
        store,
        product.id,
        utc(2026, 12, 1),
        utc(2026, 12, 5),
        all_day=True,
        summary="Jansen family, +31 6 1234 5678",
    )
    body = client.get(feed_path(product.feed_token)).content
    assert b"Jansen" not in body
    assert b"SUMMARY:Not available\r\n" in body
    assert f"UID:{booking_id}@calsync".encode() in body
    assert b"X-WR-CALNAME:Beach house\r\n" in body
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    lines = body.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) <= 75 and b"\n" not in line for line in lines)
    assert client.get(feed_path(product.feed_token)).content == body


def test_a_product_name_with_line_breaks_is_escaped_not_a_500(store, app_parts):
    """A stored name with ";", "," and CR/LF is one escaped X-WR-CALNAME, not a 500."""
    _, _, client = app_parts
    product = add_product(store, name="Müller; Strandhaus,\r\nEND:VCALENDAR\x1b")
    add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
    answer = client.get(feed_path(product.feed_token))
    assert answer.status_code == 200
    lines = answer.content.split(b"\r\n")
    assert "X-WR-CALNAME:Müller\\; Strandhaus\\,\\nEND:VCALENDAR".encode() in lines
    assert lines.count(b"END:VCALENDAR") == 1
    parsed = parse_feed(answer.content, parse_options(timezone="UTC"))
    assert [(utc(2026, 12, 1), utc(2026, 12, 5))] == [
        (b.starts_at, b.ends_at) for b in parsed.blocks
    ]


def test_cancelled_and_old_bookings_are_left_out(store, app_parts):
    """Cancelled bookings and those that ended over 30 days ago are not in the feed."""
    _, _, client = app_parts
    product = add_product(store)
    add_booking(
        store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True, status="cancelled"
    )
    add_booking(store, product.id, utc(2026, 9, 1), utc(2026, 9, 5), all_day=True)
    kept = add_booking(store, product.id, utc(2026, 10, 20), utc(2026, 10, 25), all_day=True)
    body = client.get(feed_path(product.feed_token)).content
    assert body.count(b"BEGIN:VEVENT") == 1
    assert f"UID:{kept}@calsync".encode() in body


def test_exclude_leaves_out_exactly_one_calendars_bookings(store, app_parts):
    """?exclude=<calendar> drops that calendar's imports, keeps the other calendar's and direct ones."""
    _, _, client = app_parts
    product = add_product(store)
    airbnb, booking_com = (
        add_calendar(store, product.id),
        add_calendar(store, product.id, "https://admin.booking.com/ical?t=x"),
    )
    from_airbnb = add_booking(
        store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True, calendar_id=airbnb
    )
    from_booking = add_booking(
        store, product.id, utc(2026, 12, 6), utc(2026, 12, 8), all_day=True, calendar_id=booking_com
    )
    direct = add_booking(store, product.id, utc(2026, 12, 9), utc(2026, 12, 10), all_day=True)
    body = client.get(feed_path(product.feed_token, exclude=airbnb)).content
    assert f"{from_airbnb}@calsync".encode() not in body
    assert f"{from_booking}@calsync".encode() in body
    assert f"{direct}@calsync".encode() in body


def test_malformed_exclude_is_404(store, app_parts):
    """An exclude that is not a UUID is 404, as an unknown token is."""
    _, _, client = app_parts
    product = add_product(store)
    assert client.get(f"/ical/{product.feed_token}.ics?exclude=not-a-uuid").status_code == 404


@pytest.mark.parametrize("whose", ["removed", "another product's"])
def test_exclude_of_a_calendar_not_the_products_serves_the_whole_feed(store, app_parts, whose):
    """A channel still subscribed to a removed (or foreign) calendar's export URL keeps its blocks."""
    _, read_log, client = app_parts
    product = add_product(store)
    other = add_product(store, "Other")
    airbnb = add_calendar(store, product.id)
    from_airbnb = add_booking(
        store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True, calendar_id=airbnb
    )
    direct = add_booking(store, product.id, utc(2026, 12, 9), utc(2026, 12, 10), all_day=True)
    gone = add_calendar(store, product.id if whose == "removed" else other.id)
    if whose == "removed":
        with store.write() as session:
            remove_calendar(session, gone)
    answer = client.get(feed_path(product.feed_token, exclude=gone))
    assert answer.status_code == 200
    assert f"{from_airbnb}@calsync".encode() in answer.content
    assert f"{direct}@calsync".encode() in answer.content
    assert answer.content == client.get(feed_path(product.feed_token)).content
    assert read_log.flush() == 2
    with store.read() as session:
        readers = history.feed_readers(session, product_id=product.id)
    assert [(None, 2)] == [(r.external_calendar_id, r.reads) for r in readers]


def test_reads_of_a_calendar_removed_before_the_flush_are_written(store, app_parts):
    """A read noted just before its calendar is removed is written without the calendar."""
    _, read_log, client = app_parts
    product = add_product(store)
    calendar_id = add_calendar(store, product.id)
    client.get(feed_path(product.feed_token, exclude=calendar_id))
    with store.write() as session:
        remove_calendar(session, calendar_id)
    assert read_log.flush() == 1
    with store.read() as session:
        readers = history.feed_readers(session, product_id=product.id)
    assert [None] == [reader.external_calendar_id for reader in readers]


def test_unknown_token_is_404_without_a_hint(store, app_parts):
    """An unknown token answers a bare 404."""
    _, _, client = app_parts
    answer = client.get("/ical/not-a-real-token.ics")
    assert (answer.status_code, answer.text) == (404, "not found\n")


def test_validators_and_304(store, app_parts):
    """ETag and Last-Modified are sent; a matching If-None-Match or If-Modified-Since gives 304."""
    _, _, client = app_parts
    product = add_product(store)
    add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
    first = client.get(feed_path(product.feed_token))
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"')
    assert (
        client.get(feed_path(product.feed_token), headers={"If-None-Match": etag}).status_code
        == 304
    )
    assert (
        client.get(feed_path(product.feed_token), headers={"If-None-Match": '"other"'}).status_code
        == 200
    )
    assert (
        client.get(
            feed_path(product.feed_token), headers={"If-Modified-Since": modified}
        ).status_code
        == 304
    )


def test_head_gives_the_headers_without_the_body(store, app_parts):
    """HEAD answers 200 with the same ETag and the body's length, and no body."""
    _, _, client = app_parts
    product = add_product(store)
    add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
    get = client.get(feed_path(product.feed_token))
    head = client.head(feed_path(product.feed_token))
    assert (head.status_code, head.headers["etag"], head.content) == (200, get.headers["etag"], b"")
    assert head.headers["content-length"] == get.headers["content-length"]


def test_a_client_that_accepts_gzip_gets_the_feed_compressed(store, app_parts):
    """``Accept-Encoding: gzip``: the same feed gzip-compressed, its own ETag, Vary on both.

    A 365-booking feed is about 30 KB and every channel polls it for every product.
    """
    _, _, client = app_parts
    product = add_product(store)
    for day in range(1, 29, 3):
        add_booking(store, product.id, utc(2026, 12, day), utc(2026, 12, day + 2), all_day=True)
    path = feed_path(product.feed_token)
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert "content-encoding" not in plain.headers
    assert "gzip" == packed.headers["content-encoding"]
    assert plain.content == packed.content  # the client decompressed it
    assert int(packed.headers["content-length"]) < int(plain.headers["content-length"]) / 3
    assert ("Accept-Encoding", "Accept-Encoding") == (
        plain.headers["vary"],
        packed.headers["vary"],
    )
    assert plain.headers["etag"] != packed.headers["etag"]
    for etag in (plain.headers["etag"], packed.headers["etag"]):
        again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert (304, packed.headers["etag"]) == (again.status_code, again.headers["etag"])


def test_etag_changes_with_any_booking_change_and_is_the_same_on_every_replica(
    store, settings, app_parts, clock
):
    """Insert, change, delete each give a new ETag; a second FeedService (a replica) agrees."""
    service, _, _ = app_parts
    replica = FeedService(store, settings.feeds, clock=clock)
    product = add_product(store)
    etags = [rendered(service, product.feed_token).etag]
    booking_id = add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
    etags.append(rendered(service, product.feed_token).etag)
    with store.write() as session:
        session.get(Booking, booking_id).ends_at = utc(2026, 12, 6)
        stored_products.touch_feed_version(session, [product.id], NOW)
    etags.append(rendered(service, product.feed_token).etag)
    assert replica.feed(product.feed_token) == service.feed(product.feed_token)
    with store.write() as session:
        session.delete(session.get(Booking, booking_id))
        stored_products.touch_feed_version(session, [product.id], NOW)
    etags.append(rendered(service, product.feed_token).etag)
    assert len(set(etags)) == 4
    assert rendered(replica, product.feed_token).body == rendered(service, product.feed_token).body


def test_a_booking_change_shows_a_new_etag_at_once_while_the_feed_is_in_memory(store, app_parts):
    """A feed just checked is served from memory; a booking committed here ends that at once."""
    _, _, client = app_parts
    product = add_product(store)
    etag = client.get(feed_path(product.feed_token)).headers["etag"]
    conditional = {"If-None-Match": etag}
    assert client.get(feed_path(product.feed_token), headers=conditional).status_code == 304
    booking_id = add_booking(store, product.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
    answer = client.get(feed_path(product.feed_token), headers=conditional)
    assert answer.status_code == 200
    assert answer.headers["etag"] != etag
    assert f"UID:{booking_id}@calsync".encode() in answer.content


def test_a_change_by_another_process_is_seen_once_the_check_is_older_than_its_validity(
    store, settings, clock
):
    """A version bumped outside this process's sessions (a replica) shows within CHECK_VALIDITY."""

    class Monotonic:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    monotonic = Monotonic()
    service = FeedService(store, settings.feeds, clock=clock, monotonic=monotonic)
    product = add_product(store)
    before = rendered(service, product.feed_token)
    with store.engine.begin() as connection:  # no ORM session: as another process writes
        connection.execute(
            update(Product)
            .where(Product.id == product.id)
            .values(bookings_changed_at=NOW + timedelta(minutes=1))
        )
    assert service.cached(product.feed_token) == before
    monotonic.now += CHECK_VALIDITY + 0.01
    assert service.cached(product.feed_token) is None
    assert rendered(service, product.feed_token).etag != before.etag


@pytest.mark.parametrize(
    ("changes", "shown"),
    [({"name": "Villa"}, b"X-WR-CALNAME:Villa"), ({"timezone": "America/New_York"}, None)],
    ids=["name", "timezone"],
)
def test_a_product_change_moves_its_feed_version(store, app_parts, changes, shown):
    """Renaming a product (or moving its timezone) gives its feed a new ETag at once.

    Regression: the version moved only with bookings and links, so a renamed
    product's feed kept its old X-WR-CALNAME until its next booking.
    """
    _, _, client = app_parts
    product = add_product(store)
    first = client.get(feed_path(product.feed_token))
    with store.write() as session:
        products.update(
            session, WriteContext(now=NOW, cause=TEST_CAUSE), [stored_products.get_product(session, product.id)],
            changes,
        )  # fmt: skip
    again = client.get(feed_path(product.feed_token))
    assert again.headers["etag"] != first.headers["etag"]
    assert shown is None or shown in again.content


def test_rotated_token_makes_the_old_url_404(store, app_parts):
    """After rotate-token the old feed URL is 404 at once, even just served from memory."""
    _, _, client = app_parts
    product = add_product(store)
    assert client.get(feed_path(product.feed_token)).status_code == 200
    with store.write() as session:
        new_token = stored_products.rotate_feed_token(
            stored_products.get_product(session, product.id)
        ).feed_token
    assert client.get(feed_path(product.feed_token)).status_code == 404
    assert client.get(feed_path(new_token)).status_code == 200


def test_reads_are_logged_in_batches_with_their_channel(store, app_parts, clock):
    """Each read is noted in memory, written on flush, with the channel told from the User-Agent."""
    _, read_log, client = app_parts
    product = add_product(store)
    calendar_id = add_calendar(store, product.id)
    client.get(
        feed_path(product.feed_token, exclude=calendar_id),
        headers={"User-Agent": "Google-Calendar-Importer"},
    )
    client.get(feed_path(product.feed_token), headers={"User-Agent": "Airbnb/1.0 CalendarSync"})
    with store.read() as session:
        assert history.feed_readers(session) == []
    assert read_log.flush() == 2
    with store.read() as session:
        readers = {
            (r.channel, r.external_calendar_id)
            for r in history.feed_readers(session, product_id=product.id)
        }
    assert readers == {("google", calendar_id), ("airbnb", None)}


def test_a_channel_that_stops_reading_is_reported_stale_once(store, settings, app_parts, clock):
    """A reader silent for longer than feeds.stale_reader_hours is stale, with one warning line."""
    import structlog.testing

    _, read_log, client = app_parts
    product = add_product(store)
    client.get(feed_path(product.feed_token), headers={"User-Agent": "Booking.com iCal"})
    read_log.flush()
    watch = StaleReaderWatch(store, settings.feeds, clock=clock)
    assert watch.check() == []
    clock.now = NOW + timedelta(hours=13)
    with structlog.testing.capture_logs() as logs:
        assert [r.channel for r in watch.check()] == ["booking.com"]
        assert [r.channel for r in watch.check()] == ["booking.com"]
    assert [entry["event"] for entry in logs] == ["feed.reader_stale"]


def test_two_products_importing_each_others_export_urls_converge_without_echoes(
    store, database_url
):
    """A channel loop (A imports B's export URL, B imports A's) converges with no echo.

    After two syncs each product has its own booking and the other's, once.
    """
    settings = make_settings(database_url)
    service, read_log = FeedService(store, settings.feeds), FeedReadLog(store)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=service, read_log=read_log,
        settings=settings,
    )  # fmt: skip
    base, stop = serve_in_thread(app)
    try:
        a, b = add_product(store, "A"), add_product(store, "B")
        a_direct = add_booking(store, a.id, utc(2026, 12, 1), utc(2026, 12, 5), all_day=True)
        b_direct = add_booking(store, b.id, utc(2026, 12, 10), utc(2026, 12, 12), all_day=True)
        a_from_b = add_calendar(store, a.id, "https://placeholder.invalid/")
        b_from_a = add_calendar(store, b.id, "https://placeholder.invalid/")
        with store.write() as session:  # each imports the other's export URL for it
            stored_calendars.get_calendar(session, a_from_b).ical_url = base + feed_path(
                b.feed_token, exclude=b_from_a
            )
            stored_calendars.get_calendar(session, b_from_a).ical_url = base + feed_path(
                a.feed_token, exclude=a_from_b
            )

        async def sync_all() -> None:
            async with FeedFetcher(settings.fetch) as fetcher:
                for calendar_id in (a_from_b, b_from_a):
                    result = await sync_calendar(
                        calendar_id, store=store, fetcher=fetcher, settings=settings
                    )
                    assert result.outcome != "failed", result.error

        for _ in range(2):
            asyncio.run(sync_all())
        with store.read() as session:
            rows = session.scalars(select(Booking).order_by(Booking.starts_at)).all()
            by_product = {
                name: sorted(
                    (
                        r.starts_at.date().isoformat(),
                        r.ends_at.date().isoformat(),
                        r.external_calendar_id is None,
                    )
                    for r in rows
                    if r.product_id == pid
                )
                for name, pid in (("A", a.id), ("B", b.id))
            }
        assert by_product == {
            "A": [("2026-12-01", "2026-12-05", True), ("2026-12-10", "2026-12-12", False)],
            "B": [("2026-12-01", "2026-12-05", False), ("2026-12-10", "2026-12-12", True)],
        }
        assert {a_direct, b_direct} <= {r.id for r in rows}
    finally:
        stop()


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("*;q=0.1, gzip;q=0", False),
        ("br, x-gzip", True),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_takes_gzip_unless_refused(header, accepted):
    """``Accept-Encoding`` read with its q-values: gzip (or ``*``) above 0 means gzip."""
    assert accepted == accepts_gzip(header)
