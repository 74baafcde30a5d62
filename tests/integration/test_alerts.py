"""Operational events, once per change of state, and alerts for people through Apprise."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.notify import AlertSender, Attempt, Deliverer
from calsync.notify.alerts import Alert
from calsync.services import issues
from calsync.store import products as stored_products
from calsync.store.history import FeedReader
from calsync.store.models import Event
from conftest import NOW, add_calendar, calendar
from receivers import SmtpServer, WebhookReceiver, texts
from syncing import run, stay


def events(store, event_type: str | None = None) -> list[dict[str, Any]]:
    with store.read() as session:
        rows = session.scalars(select(Event).order_by(Event.created_at)).all()
    return [
        {"type": e.type, **json.loads(e.data)}
        for e in rows
        if event_type is None or e.type == event_type
    ]


def product_with_calendars(store, feed_server, *paths: str, capacity: int = 1):
    with store.write() as session:
        product = stored_products.add_product(
            session, name="Beach house", timezone="UTC", capacity=capacity, now=NOW
        )
        ids = [
            add_calendar(
                session, product_id=product.id, name=path.strip("/"),
                ical_url=feed_server.url(path), now=NOW,
            ).id
            for path in paths
        ]  # fmt: skip
    return product.id, ids


def test_a_calendar_is_failing_after_three_failures_and_recovers_once(
    store, settings, feed_server, clock
):
    """Three failed syncs in a row: one calendar.failing (not at 4 or 5); the next success: one calendar.recovered."""
    _, [calendar_id] = product_with_calendars(store, feed_server, "/airbnb.ics")
    feed_server.serve("/airbnb.ics", b"oops", status=500)
    for minute in range(5):
        clock.now = NOW + timedelta(minutes=minute)
        run(store, settings, calendar_id, clock)
    [failing] = events(store, "calendar.failing")
    assert (failing["id"], failing["failures"], failing["product_name"]) == (
        str(calendar_id), 3, "Beach house"
    )  # fmt: skip
    feed_server.serve("/airbnb.ics", calendar(stay("a", "20261201", "20261205")))
    for minute in (10, 11):
        clock.now = NOW + timedelta(minutes=minute)
        run(store, settings, calendar_id, clock)
    [recovered] = events(store, "calendar.recovered")
    assert recovered["failures"] == 5
    assert events(store, "calendar.failing") == [failing]


def test_a_held_deletion_is_one_event(store, settings, feed_server, clock):
    """A fetch whose deletions are held is one calendar.held, with the reason and the release command."""
    _, [calendar_id] = product_with_calendars(store, feed_server, "/feed.ics")
    feed_server.serve(
        "/feed.ics",
        calendar(stay("a", "20261201", "20261205"), stay("b", "20261210", "20261212")),
    )
    run(store, settings, calendar_id, clock)
    feed_server.serve("/feed.ics", calendar(stay("c", "20261220", "20261222"), head="PRODID:x\r\n"))
    clock.now = NOW + timedelta(hours=1)
    assert run(store, settings, calendar_id, clock).outcome == "held"
    [held] = events(store, "calendar.held")
    assert (held["held_deletes"], held["id"]) == (2, str(calendar_id))
    assert f"calsync calendars release {calendar_id}" in held["error"]


def test_a_double_booking_is_detected_and_resolved_once(store, settings, feed_server, clock):
    """Two channels selling the same night: conflict.detected once (a re-sync keeps it quiet); cancelled: conflict.resolved once."""
    product_id, [airbnb, booking] = product_with_calendars(
        store, feed_server, "/airbnb.ics", "/booking.ics"
    )
    feed_server.serve("/airbnb.ics", calendar(stay("a", "20261201", "20261205")))
    feed_server.serve("/booking.ics", calendar(stay("b", "20261203", "20261206", "Jansen")))
    run(store, settings, airbnb, clock)
    run(store, settings, booking, clock)
    feed_server.serve("/booking.ics", calendar(stay("b", "20261203", "20261206", "Jansen, 2")))
    clock.now = NOW + timedelta(minutes=5)
    run(store, settings, booking, clock)
    [detected] = events(store, "conflict.detected")
    assert (detected["product_id"], detected["from"], detected["until"]) == (
        str(product_id), "2026-12-03", "2026-12-05"
    )  # fmt: skip
    assert {b["external_calendar_id"] for b in detected["bookings"]} == {str(airbnb), str(booking)}
    feed_server.serve("/booking.ics", calendar(stay("b2", "20261210", "20261212")))
    clock.now = NOW + timedelta(minutes=10)
    run(store, settings, booking, clock)
    [resolved] = events(store, "conflict.resolved")
    assert (resolved["from"], resolved["until"]) == ("2026-12-03", "2026-12-05")
    with store.write() as session:
        issues.check_conflicts(session, [], now=NOW + timedelta(minutes=11))
    assert len(events(store, "conflict.resolved")) == 1


def test_stale_calendars_and_readers_are_events_once(store, settings, feed_server, clock):
    """The periodic check: a calendar without success for a day and a reader gone quiet, one event each."""
    product_id, [calendar_id] = product_with_calendars(store, feed_server, "/feed.ics")
    reader = FeedReader(product_id, "airbnb", calendar_id, NOW - timedelta(hours=13), 40)
    for hours in (25, 26):
        with store.write() as session:
            later = NOW + timedelta(hours=hours)
            issues.check_stale_calendars(session, now=later, after=timedelta(hours=24))
            issues.check_stale_readers(session, [reader], now=later)
    [stale] = events(store, "calendar.stale")
    assert (stale["id"], stale["since"]) == (str(calendar_id), "2026-11-15T12:00:00Z")
    [gone] = events(store, "feed.reader_stale")
    assert (gone["channel"], gone["product_name"]) == ("airbnb", "Beach house")
    with store.write() as session:  # over: the issue closes without an event, and can open again
        issues.check_stale_readers(session, [], now=NOW + timedelta(hours=27))
        issues.check_stale_readers(session, [reader], now=NOW + timedelta(hours=28))
    assert len(events(store, "feed.reader_stale")) == 2


def send_alerts(store, settings, clock, urls: list[str], metrics=None) -> list[Attempt]:
    settings = settings.model_copy(
        update={"alerts": settings.alerts.model_copy(update={"notify": tuple(urls)})}
    )

    async def go() -> list[Attempt]:
        async with FeedFetcher(settings.fetch) as fetcher:
            deliverer = Deliverer(
                store, settings, fetcher, owner="tests:1:x", clock=clock,
                observe=metrics.observe_delivery if metrics is not None else None,
            )  # fmt: skip
            return await deliverer.deliver_due()

    return asyncio.run(go())


def test_a_failing_calendar_is_an_email_and_a_json_post(store, settings, feed_server, clock):
    """alerts.notify: a local SMTP server gets the e-mail (product, channel, since when, what to do), a json:// receiver the JSON."""
    _, [calendar_id] = product_with_calendars(store, feed_server, "/airbnb.ics")
    feed_server.serve("/airbnb.ics", b"oops", status=500)
    for minute in range(3):
        clock.now = NOW + timedelta(minutes=minute)
        run(store, settings, calendar_id, clock)
    with SmtpServer() as smtp, WebhookReceiver() as receiver:
        urls = [
            f"mailto://127.0.0.1:{smtp.port}?from=calsync@example.com&to=owner@example.com",
            receiver.url.replace("http://", "json://"),
        ]
        metrics = Metrics()
        [attempt] = send_alerts(store, settings, clock, urls, metrics)
        assert attempt.ok, attempt.error
    assert metrics.registry.get_sample_value("calsync_alerts_sent_total") == 1
    [mail] = list(texts(smtp.messages))
    assert "Beach house / airbnb.ics (127.0.0.1): failing" in mail
    assert "3 syncs in a row failed; no success since 2026-11-15T12:00:00Z" in mail
    assert f"calsync calendars show {calendar_id}" in mail
    [posted] = [r.json for r in receiver.received]
    assert posted["title"].endswith(": failing")
    assert "What to do" in posted["message"]


def test_many_alerts_at_once_are_one_digest(store, settings, feed_server, clock):
    """Twelve calendars failing at once are one e-mail listing them all, not twelve."""
    paths = [f"/cal{i}.ics" for i in range(12)]
    _, ids = product_with_calendars(store, feed_server, *paths)
    for path in paths:
        feed_server.serve(path, b"oops", status=500)
    for minute in range(3):
        clock.now = NOW + timedelta(minutes=minute)
        for calendar_id in ids:
            run(store, settings, calendar_id, clock)
    with SmtpServer() as smtp:
        url = f"mailto://127.0.0.1:{smtp.port}?from=calsync@example.com&to=owner@example.com"
        attempts = send_alerts(store, settings, clock, [url])
    assert len(attempts) == 12
    assert all(a.ok for a in attempts)
    [mail] = list(texts(smtp.messages))
    assert "12 alerts" in mail
    assert all(f"cal{i}.ics" in mail for i in range(12))


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        ([1] * 10, [1] * 10),  # ten alone
        ([1] * 11, [1] * 11),  # the eleventh still goes ...
        ([1] * 12, [1] * 11 + [None]),  # ... then the rest of the minute waits
        ([3, 12], [3, "digest"]),  # a batch past the limit is one digest
        ([3, 12, 1], [3, "digest", None]),
    ],
)
def test_the_throttle_sends_ten_a_minute_then_digests(batches, expected):
    """Up to ten messages a minute one per alert; past that one digest; then the minute's rest waits."""
    sender = AlertSender([], digest_after=10, monotonic=lambda: 0.0)
    got: list[object] = []
    for size in batches:
        planned = sender.plan([Alert(f"t{i}", "b") for i in range(size)])
        if planned is None:
            got.append(None)
        elif len(planned) == 1 and planned[0].title == f"calsync: {size} alerts":
            got.append("digest")
        else:
            got.append(len(planned))
    assert got == expected


def test_the_throttle_opens_again_after_a_minute():
    """A minute after the last messages, alerts go one by one again."""
    now = [0.0]
    sender = AlertSender([], digest_after=2, monotonic=lambda: now[0])
    assert sender.plan([Alert("a", "b"), Alert("c", "d")]) is not None
    assert sender.plan([Alert("e", "f")]) is not None
    assert sender.plan([Alert("g", "h")]) is None
    now[0] = 61.0
    assert sender.plan([Alert("i", "j")]) == [Alert("i", "j")]
