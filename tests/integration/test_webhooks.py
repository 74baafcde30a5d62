"""Events and webhooks: the outbox delivered to real receivers on 127.0.0.1, signed, retried, logged."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from calsync.cli import app as cli_app
from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.notify import Attempt, Deliverer
from calsync.services import bookings as booking_service
from calsync.services import webhooks
from calsync.services.context import WriteContext
from calsync.store import products as stored_products
from calsync.store.models import Event, WebhookDelivery, WebhookEndpoint, WebhookMessage
from calsync.web.app import create_app
from calsync.web.auth import create_api_key
from conftest import NOW, REPRESENTATION, TEST_CAUSE, add_calendar, calendar, make_settings
from receivers import WebhookReceiver
from syncing import run, stay


def add_endpoint(store, url, *, events=(), now=NOW) -> tuple[uuid.UUID, str]:
    with store.write() as session:
        endpoint = webhooks.add(
            session, WriteContext(now=now, cause=TEST_CAUSE), url=url, events=list(events)
        )
        return endpoint.id, endpoint.secret


def deliver(store, settings, clock, **alerts) -> list[Attempt]:
    """One round of the delivery loop; the attempts."""
    settings = settings.model_copy(
        update={"alerts": settings.alerts.model_copy(update=alerts)} if alerts else {}
    )

    async def go() -> list[Attempt]:
        async with FeedFetcher(settings.fetch) as fetcher:
            return await Deliverer(
                store, settings, fetcher, owner="tests:1:x", clock=clock
            ).deliver_due()

    return asyncio.run(go())


@pytest.fixture
def house(store, feed_server):
    with store.write() as session:
        product = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
        cal = add_calendar(
            session, product_id=product.id, name="Airbnb", ical_url=feed_server.url("/feed.ics"),
            now=NOW,
        )  # fmt: skip
        return product.id, cal.id


def test_a_sync_sends_signed_booking_events(store, settings, feed_server, house, clock):
    """A new stay reaches the receiver as booking.created, signed (standardwebhooks verifies it)."""
    _, calendar_id = house
    with WebhookReceiver() as receiver:
        endpoint_id, receiver.secret = add_endpoint(store, receiver.url)
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        result = run(store, settings, calendar_id, clock)
        [attempt] = deliver(store, settings, clock)
    assert attempt.ok
    [got] = receiver.received
    assert got.verified
    body = got.json
    assert set(body) == {"type", "timestamp", "data"}
    assert body["type"] == "booking.created"
    data = body["data"]
    assert (data["source_key"], data["starts_at"], data["external_calendar_id"]) == (
        "a", "2026-12-01T00:00:00Z", str(calendar_id)
    )  # fmt: skip
    assert (data["change"], data["echo"]) == ("created", False)
    assert data["cause"] == {"sync_run_id": str(result.run_id), "actor": None}
    with store.read() as session:
        [event] = session.scalars(select(Event)).all()
        [logged] = session.scalars(select(WebhookDelivery)).all()
    assert got.webhook_id == str(event.id)
    assert (logged.endpoint_id, logged.status, logged.response_code, logged.attempt) == (
        endpoint_id, "success", 200, 1
    )  # fmt: skip


def test_a_receiver_that_fails_gets_the_event_once_it_recovers(
    store, settings, feed_server, house, clock
):
    """500, then 200 after the backoff: delivered with the same webhook-id; both attempts logged."""
    _, calendar_id = house
    with WebhookReceiver(answers=[500]) as receiver:
        _, receiver.secret = add_endpoint(store, receiver.url)
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        [first] = deliver(store, settings, clock)
        assert (first.ok, first.response_code) == (False, 500)
        assert deliver(store, settings, clock) == []  # not due before the backoff
        clock.now = NOW + timedelta(seconds=6)
        [second] = deliver(store, settings, clock)
    assert second.ok
    assert [r.answered for r in receiver.received] == [500, 200]
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    with store.read() as session:
        logged = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.attempt)).all()
        [message] = session.scalars(select(WebhookMessage)).all()
    assert [(d.status, d.response_code, d.error) for d in logged] == [
        ("failed", 500, "HTTP 500"), ("success", 200, None)
    ]  # fmt: skip
    assert (message.state, message.attempts) == ("delivered", 2)


def test_retries_stop_after_the_retry_window_and_the_endpoint_is_disabled(
    store, settings, feed_server, house, clock
):
    """An endpoint failing past alerts.disable_after_days is disabled (an alert); past retry_for_hours a message is given up."""
    _, calendar_id = house
    with WebhookReceiver(default=503) as receiver:
        endpoint_id, receiver.secret = add_endpoint(store, receiver.url)
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        deliver(store, settings, clock, disable_after_days=1, retry_for_hours=2)
        clock.now = NOW + timedelta(days=1, seconds=1)
        deliver(store, settings, clock, disable_after_days=1, retry_for_hours=2)
    with store.read() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        states = {m.endpoint_id: m.state for m in session.scalars(select(WebhookMessage))}
        types = {e.type for e in session.scalars(select(Event))}
    assert not endpoint.active
    assert endpoint.disabled_reason.startswith("every delivery failed since")
    assert states[endpoint_id] == "failed"
    assert "webhook_endpoint.disabled" in types


def test_an_endpoint_gets_only_the_events_it_asked_for(store, settings, feed_server, house, clock):
    """An endpoint for conflict.detected gets no booking.created; an event nobody wants is not written."""
    _, calendar_id = house
    with WebhookReceiver() as receiver:
        add_endpoint(store, receiver.url, events=["conflict.detected"])
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        assert deliver(store, settings, clock) == []
    with store.read() as session:
        assert session.scalars(select(Event)).all() == []


def test_deliveries_pass_the_ssrf_guard(store, database_url, feed_server, house, clock):
    """With private networks not allowed, a webhook to 127.0.0.1 is refused by the guard, and logged."""
    settings = make_settings(database_url)
    guarded = make_settings(database_url, fetch={"allow_private_networks": False})
    _, calendar_id = house
    with WebhookReceiver() as receiver:
        add_endpoint(store, receiver.url)
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        [attempt] = deliver(store, guarded, clock)
    assert not attempt.ok
    assert "127.0.0.1" in str(attempt.error)
    assert receiver.received == []


def api_client(store, settings) -> TestClient:
    with store.write() as session:
        _, secret = create_api_key(session, name="site", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=lambda: NOW,
    )  # fmt: skip
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


def test_api_shows_the_secret_on_creation_only(store, settings):
    """POST /v1/webhook_endpoints answers the generated secret; GET masks it and shows events as a list."""
    client = api_client(store, settings)
    made = client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://hooks.example.com/calsync", "events": ["booking.created"]},
        headers=REPRESENTATION,
    )
    assert made.status_code == 201, made.text
    [row] = made.json()
    assert row["secret"].startswith("whsec_")
    assert len(row["secret"]) > 20
    listed = client.get("/v1/webhook_endpoints").json()
    assert listed[0]["secret"] == f"whsec_…{row['secret'][-4:]}"
    assert listed[0]["events"] == ["booking.created"]
    assert client.get("/v1/webhook_endpoints?secret=eq.x").status_code == 400
    assert client.get("/v1/webhook_deliveries").status_code == 200
    assert client.post("/v1/webhook_deliveries", json={}).status_code == 405


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "ftp://example.com/x"}, "url: not a webhook URL: scheme ftp"),
        ({"url": "http://0..0/x"}, "url: not a webhook URL: host '0..0' has an empty label"),
        ({"url": "https://a.example/x", "events": ["booking.eaten"]}, "unknown event type"),
        ({"url": "https://a.example/x", "events": "booking.created"}, "expected a list"),
        ({"url": "https://a.example/x", "secret": "hunter2"}, "secret: expected whsec_"),
    ],
)
def test_api_refuses_bad_endpoints(store, settings, body, message):
    """A bad URL, event type or secret is a 400 naming it; nothing is written."""
    client = api_client(store, settings)
    answer = client.post("/v1/webhook_endpoints", json=body)
    assert answer.status_code == 400
    assert message in answer.json()["message"]
    assert client.get("/v1/webhook_endpoints").json() == []


def test_cli_adds_tests_and_lists_an_endpoint(store, settings, monkeypatch):
    """``webhooks add`` prints the secret once; ``test`` delivers a signed test event; ``deliveries`` shows it."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
    runner = CliRunner()
    with WebhookReceiver() as receiver:
        added = runner.invoke(cli_app, ["webhooks", "add", receiver.url, "--json"])
        assert added.exit_code == 0, added.output
        [row] = json.loads(added.stdout)
        receiver.secret = row["secret"]
        tested = runner.invoke(cli_app, ["webhooks", "test", row["id"]])
        assert tested.exit_code == 0, tested.output
        assert "delivered (HTTP 200" in tested.stdout
    [got] = receiver.received
    assert got.verified
    assert got.json["type"] == "test"
    listed = runner.invoke(cli_app, ["webhooks", "list", "--json"])
    assert json.loads(listed.stdout)[0]["secret"].startswith("whsec_…")
    shown = runner.invoke(cli_app, ["webhooks", "deliveries", row["id"], "--json"])
    assert [(d["event_type"], d["status"]) for d in json.loads(shown.stdout)] == [
        ("test", "success")
    ]
    assert runner.invoke(cli_app, ["webhooks", "remove", row["id"]]).exit_code == 0
    assert json.loads(runner.invoke(cli_app, ["webhooks", "list", "--json"]).stdout) == []


def test_cli_test_sent_by_a_running_daemon_first_reports_its_delivery(store, settings, monkeypatch):
    """A daemon's delivery loop takes the test event before the command: its outcome is shown.

    Regression: the command found nothing left to send and said "the endpoint is
    inactive", exit 1, though the event had been delivered.
    """
    monkeypatch.setenv("CALSYNC_DATABASE__URL", settings.database.url)
    monkeypatch.setenv("CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS", "true")

    async def daemon_first(store, settings, fetcher, endpoint_id, ctx, *, owner):
        with store.write() as session:
            event_id = webhooks.queue_test(session, ctx, endpoint_id)
        daemon = Deliverer(store, settings, fetcher, owner="replica-b:1:x", clock=lambda: ctx.now)
        assert [True] == [a.ok for a in await daemon.deliver_due(event_id=event_id)]
        mine = Deliverer(store, settings, fetcher, owner=owner, clock=lambda: ctx.now)
        return event_id, await mine.deliver_due(event_id=event_id)

    monkeypatch.setattr("calsync.cli.webhooks.send_test", daemon_first)
    runner = CliRunner()
    with WebhookReceiver() as receiver:
        added = runner.invoke(cli_app, ["webhooks", "add", receiver.url, "--json"])
        [row] = json.loads(added.stdout)
        receiver.secret = row["secret"]
        tested = runner.invoke(cli_app, ["webhooks", "test", row["id"]])
    assert (0, 1) == (tested.exit_code, len(receiver.received)), tested.output
    assert "delivered (HTTP 200" in tested.stdout


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_metrics_count_events_deliveries_and_the_oldest_waiting(
    store, settings, feed_server, house, clock
):
    """Events by type, deliveries by outcome, and the age of the oldest undelivered event."""
    _, calendar_id = house
    metrics = Metrics()
    before = sample(metrics, "calsync_events_total", type="booking.created")
    with WebhookReceiver(answers=[500]) as receiver:
        _, receiver.secret = add_endpoint(store, receiver.url)
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        clock.now = NOW + timedelta(seconds=30)

        async def go() -> tuple[float, float]:
            async with FeedFetcher(settings.fetch) as fetcher:
                deliverer = Deliverer(
                    store, settings, fetcher, owner="tests:1:x", clock=clock,
                    observe=metrics.observe_delivery,
                )  # fmt: skip
                waiting = await deliverer.oldest_pending_age()
                await deliverer.deliver_due()
                clock.now = NOW + timedelta(minutes=5)
                await deliverer.deliver_due()
                return waiting, await deliverer.oldest_pending_age()

        waiting, after = asyncio.run(go())
    assert (waiting, after) == (30.0, 0.0)
    assert sample(metrics, "calsync_events_total", type="booking.created") == before + 1
    assert (
        sample(metrics, "calsync_webhook_deliveries_total", channel="webhook", outcome="failed")
        == 1
    )
    assert (
        sample(metrics, "calsync_webhook_deliveries_total", channel="webhook", outcome="success")
        == 1
    )


def test_an_endpoint_removed_during_its_delivery_does_not_lose_the_others(
    store, settings, feed_server, house, clock
):
    """An endpoint removed while its event is in flight: the other endpoint's delivery is still recorded."""
    _, calendar_id = house
    with WebhookReceiver() as doomed, WebhookReceiver() as kept:
        doomed_id, doomed.secret = add_endpoint(store, doomed.url)
        kept_id, kept.secret = add_endpoint(store, kept.url)
        original = doomed.take

        def remove_itself(headers, body, handler):
            with store.write() as session:
                webhooks.remove(
                    session, WriteContext(now=NOW, cause=TEST_CAUSE),
                    [webhooks.get(session, doomed_id)],
                )  # fmt: skip
            original(headers, body, handler)

        doomed.take = remove_itself  # type: ignore[method-assign]
        feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
        run(store, settings, calendar_id, clock)
        attempts = deliver(store, settings, clock)
    assert len(attempts) == 2
    with store.read() as session:
        logged = session.scalars(select(WebhookDelivery)).all()
        states = [m.state for m in session.scalars(select(WebhookMessage))]
    assert [(d.endpoint_id, d.status) for d in logged] == [(kept_id, "success")]
    assert states == ["delivered"]


def test_an_echo_is_marked_in_its_event(store, settings, feed_server, house, clock):
    """A channel re-exporting calsync's own block ("Not available", same dates): booking.created with echo true."""
    product_id, calendar_id = house
    with store.write() as session:
        booking_service.add(
            session, WriteContext(now=NOW, cause=TEST_CAUSE),
            [booking_service.NewBooking(product_id, NOW.replace(month=12, day=1, hour=0),
                                        NOW.replace(month=12, day=5, hour=0), all_day=True)],
        )  # fmt: skip
    with WebhookReceiver() as receiver:
        _, receiver.secret = add_endpoint(store, receiver.url, events=["booking.created"])
        feed_server.serve("/feed.ics", calendar(stay("e", "20261201", "20261205", "Not available")))
        run(store, settings, calendar_id, clock)
        deliver(store, settings, clock)
    [created] = receiver.events("booking.created")
    assert created["data"]["echo"] is True
    assert created["data"]["echo_of"] is not None
