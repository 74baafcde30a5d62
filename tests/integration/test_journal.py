"""The change journal: every booking change with its cause, in the transaction that made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from calsync.cli import app as cli_app
from calsync.errors import Conflict
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.services import bookings as booking_service
from calsync.services import history
from calsync.services.context import WriteContext
from calsync.store import products as stored_products
from calsync.store.models import BookingChange
from calsync.web.app import create_app
from calsync.web.auth import create_api_key
from conftest import NOW, REPRESENTATION, TEST_CAUSE, add_calendar, calendar, remove_calendar
from syncing import bookings, run, stay


def changes(store, **where) -> list[BookingChange]:
    with store.read() as session:
        query = select(BookingChange).order_by(BookingChange.changed_at, BookingChange.kind)
        for name, value in where.items():
            query = query.where(getattr(BookingChange, name) == value)
        return list(session.scalars(query))


@pytest.fixture
def house(store, feed_server):
    """A product with one calendar at /feed.ics: (product id, calendar id)."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
        cal = add_calendar(
            session, product_id=product.id, name="Airbnb", ical_url=feed_server.url("/feed.ics"),
            now=NOW,
        )  # fmt: skip
        return product.id, cal.id


def test_a_sync_journals_each_change_with_its_run(store, settings, feed_server, house, clock):
    """Inserts, a move, a new UID for the same stay and a vanished stay: one change each, naming the run."""
    _, calendar_id = house
    feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205"),
                                            stay("b", "20261210", "20261212"),
                                            stay("c", "20261220", "20261224"),
                                            stay("d", "20261226", "20261228")))  # fmt: skip
    first = run(store, settings, calendar_id, clock)
    assert [c.kind for c in changes(store)] == ["created"] * 4
    assert {c.sync_run_id for c in changes(store)} == {first.run_id}
    feed_server.serve("/feed.ics", calendar(stay("a", "20261202", "20261205"),
                                            stay("b2", "20261210", "20261212"),
                                            stay("c", "20261220", "20261224")))  # fmt: skip
    clock.now = NOW + timedelta(hours=1)
    second = run(store, settings, calendar_id, clock)
    later = {c.kind: c for c in changes(store, sync_run_id=second.run_id)}
    assert later.keys() == {"updated", "rekeyed", "deleted"}
    assert later["updated"].starts_at_before == NOW.replace(month=12, day=1, hour=0)
    assert later["updated"].starts_at_after == NOW.replace(month=12, day=2, hour=0)
    assert later["rekeyed"].source_key == "b2"
    assert later["deleted"].source_key == "d"
    assert (later["deleted"].status_before, later["deleted"].status_after) == ("confirmed", None)
    assert all(c.external_calendar_id == calendar_id and c.actor is None for c in later.values())


def test_a_held_deletion_and_its_confirmation_are_changes(
    store, settings, feed_server, house, clock
):
    """A feed that drops every stay holds them (held); the next fetch confirms it (released)."""
    _, calendar_id = house
    stays = [stay(k, f"202612{d:02d}", f"202612{d + 2:02d}") for k, d in (("a", 1), ("b", 5))]
    feed_server.serve("/feed.ics", calendar(*stays, stay("c", "20261210", "20261212")))
    run(store, settings, calendar_id, clock)
    feed_server.serve("/feed.ics", calendar(stay("c", "20261210", "20261212")))
    clock.now = NOW + timedelta(hours=1)
    held = run(store, settings, calendar_id, clock)
    assert held.outcome == "held"
    assert sorted(str(c.source_key) for c in changes(store, kind="held")) == ["a", "b"]
    clock.now = NOW + timedelta(hours=2)
    run(store, settings, calendar_id, clock)
    assert sorted(str(c.source_key) for c in changes(store, kind="released")) == ["a", "b"]
    assert bookings(store, calendar_id).keys() == {"c"}


def test_removing_a_calendar_journals_its_bookings_as_deleted(
    store, settings, feed_server, house, clock
):
    """A calendar's removal deletes its imports, each journaled with the actor who removed it."""
    _, calendar_id = house
    feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
    run(store, settings, calendar_id, clock)
    with store.write() as session:
        assert remove_calendar(session, calendar_id) == 1
    [deleted] = changes(store, kind="deleted")
    assert (deleted.source_key, deleted.actor, deleted.sync_run_id) == ("a", TEST_CAUSE.actor, None)


def test_a_refused_write_journals_nothing(store, house):
    """A direct booking refused for capacity (409) rolls back with its journal rows."""
    product_id, _ = house
    new = booking_service.NewBooking(product_id, NOW + timedelta(days=5), NOW + timedelta(days=7))
    with store.write() as session:
        booking_service.add(session, WriteContext(now=NOW, cause=TEST_CAUSE), [new])
    with pytest.raises(Conflict), store.write() as session:
        booking_service.add(session, WriteContext(now=NOW, cause=TEST_CAUSE), [new])
    assert [c.kind for c in changes(store)] == ["created"]


def test_api_writes_name_their_key_and_are_listed(store, settings):
    """Bookings made and cancelled through the API are journaled as api_key:<id>, read at /v1/booking_changes."""
    with store.write() as session:
        product = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
        key, secret = create_api_key(session, name="site", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=lambda: NOW,
    )  # fmt: skip
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    made = client.post(
        "/v1/bookings",
        json={"product_id": str(product.id), "starts_at": "2026-12-01", "ends_at": "2026-12-03",
              "all_day": True},
        headers=REPRESENTATION,
    )  # fmt: skip
    assert made.status_code == 201
    booking_id = made.json()[0]["id"]
    cancelled = client.patch(f"/v1/bookings?id=eq.{booking_id}", json={"status": "cancelled"})
    assert cancelled.status_code == 204
    listed = client.get(f"/v1/booking_changes?booking_id=eq.{booking_id}&order=changed_at,kind")
    assert listed.status_code == 200
    assert [(c["kind"], c["actor"]) for c in listed.json()] == [
        ("cancelled", f"api_key:{key.id}"),
        ("created", f"api_key:{key.id}"),
    ]
    assert client.post("/v1/booking_changes", json={}).status_code == 405


def test_cli_history_shows_a_bookings_changes(store, settings, tmp_path, monkeypatch):
    """``calsync history --booking`` lists the add and the cancel, each by cli:<user@host>."""
    database = settings.database.url
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database)
    runner = CliRunner()
    with store.write() as session:
        product = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
    added = runner.invoke(
        cli_app,
        ["bookings", "add", str(product.id), "--from", "2027-01-01", "--until", "2027-01-03",
         "--json"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    booking_id = changes(store)[0].booking_id
    assert runner.invoke(cli_app, ["bookings", "cancel", str(booking_id)]).exit_code == 0
    shown = runner.invoke(cli_app, ["history", "--booking", str(booking_id), "--json"])
    assert shown.exit_code == 0, shown.output
    import json

    rows = json.loads(shown.stdout)
    assert [row["kind"] for row in rows] == ["cancelled", "created"]
    assert all(row["actor"].startswith("cli:") and "@" in row["actor"] for row in rows)


def test_changes_of_a_calendars_last_runs(store, settings, feed_server, house, clock):
    """What each sync run changed: at most per_run, by the stay's start, with the run's total."""
    _, calendar_id = house
    feed_server.serve("/feed.ics", calendar(stay("c", "20261210", "20261212"),
                                            stay("a", "20261201", "20261205"),
                                            stay("b", "20261206", "20261208")))  # fmt: skip
    first = run(store, settings, calendar_id, clock)
    feed_server.serve("/feed.ics", calendar(stay("c", "20261210", "20261212"),
                                            stay("a", "20261202", "20261205"),
                                            stay("b", "20261206", "20261208")))  # fmt: skip
    clock.now = NOW + timedelta(hours=1)
    second = run(store, settings, calendar_id, clock)
    clock.now = NOW + timedelta(hours=2)
    third = run(store, settings, calendar_id, clock)
    first_id, second_id, third_id = (r.run_id for r in (first, second, third))
    assert first_id is not None
    assert second_id is not None
    assert third_id is not None
    with store.read() as session:
        found = history.changes_of_runs(session, [first_id, second_id, third_id], per_run=2)
    assert [c.change.kind for c in found[second_id].shown] == ["updated"]
    assert [c.change.source_key for c in found[first_id].shown] == ["a", "b"]
    assert (found[first_id].total, found[first_id].more) == (3, 1)
    assert all(c.all_day and not c.echo for c in found[first_id].shown)
    assert third_id not in found


def test_old_changes_are_pruned_with_the_sync_runs(store, settings, feed_server, house, clock):
    """Changes older than the cut-off go with the sync runs; newer ones stay."""
    _, calendar_id = house
    feed_server.serve("/feed.ics", calendar(stay("a", "20261201", "20261205")))
    run(store, settings, calendar_id, clock)
    with store.write() as session:
        pruned = history.prune(session, before=NOW + timedelta(seconds=1))
    assert (pruned.sync_runs, pruned.booking_changes) == (1, 1)
    assert changes(store) == []
