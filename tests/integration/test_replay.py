"""Kept fetched bodies, ``calsync replay`` and ``preview --calendar``: the plan now, nothing written."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from calsync.cli import app as cli_app
from calsync.store import products as stored_products
from calsync.store.models import BookingChange, FetchedBody, SyncRun
from conftest import NOW, add_calendar, calendar, make_settings
from syncing import bookings, run, stay

STAYS = [stay("a", "20261201", "20261205"), stay("b", "20261210", "20261212")]


@pytest.fixture
def cli(database_url, monkeypatch) -> CliRunner:
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.setenv("CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
    return CliRunner()


@pytest.fixture
def calendar_id(store, feed_server):
    with store.write() as session:
        product = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=NOW
        )
        return add_calendar(
            session, product_id=product.id, name="Airbnb", ical_url=feed_server.url("/feed.ics"),
            now=NOW,
        ).id  # fmt: skip


def kept(store, calendar_id) -> list[FetchedBody]:
    with store.read() as session:
        query = select(FetchedBody).where(FetchedBody.external_calendar_id == calendar_id)
        return list(session.scalars(query.order_by(FetchedBody.fetched_at)))


def counts(store) -> tuple[int, int, int]:
    with store.read() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (SyncRun, BookingChange, FetchedBody)
        )


def test_bodies_that_changed_something_are_kept_compressed_and_pruned(
    store, database_url, feed_server, calendar_id, clock
):
    """Each changing fetch's body is kept (zlib, digest, status, headers), up to sync.keep_bodies."""
    settings = make_settings(database_url, sync={"keep_bodies": 2})
    bodies = [calendar(*STAYS[:n]) for n in (1, 2)] + [calendar(STAYS[1])]
    for minute, body in enumerate(bodies):
        feed_server.serve("/feed.ics", body)
        clock.now = NOW + timedelta(minutes=minute)
        run(store, settings, calendar_id, clock)
    found = kept(store, calendar_id)
    assert [zlib.decompress(b.body) for b in found] == bodies[1:]
    assert [b.outcome for b in found] == ["changed", "changed"]
    assert found[-1].digest == hashlib.sha256(bodies[-1]).hexdigest()
    assert found[-1].http_status == 200
    assert "content-type" in {name.lower() for name in json.loads(found[-1].headers)}


def test_only_the_last_good_body_that_changed_nothing_is_kept(
    store, settings, feed_server, calendar_id, clock
):
    """A body that parses to the same bookings (a new event outside the window) replaces the last such one."""
    feed_server.serve("/feed.ics", calendar(*STAYS))
    run(store, settings, calendar_id, clock)
    for minute, year in ((1, 2031), (2, 2032)):
        far = stay("far", f"{year}0101", f"{year}0103")
        feed_server.serve("/feed.ics", calendar(*STAYS, far))
        clock.now = NOW + timedelta(minutes=minute)
        assert run(store, settings, calendar_id, clock).outcome == "unchanged"
    assert [b.outcome for b in kept(store, calendar_id)] == ["changed", "unchanged"]
    assert b"20320101" in zlib.decompress(kept(store, calendar_id)[-1].body)


def test_replay_prints_the_plan_of_a_kept_body_and_writes_nothing(
    store, settings, feed_server, calendar_id, clock, cli
):
    """Replaying the first run's body after a stay vanished shows the insert it would make now."""
    feed_server.serve("/feed.ics", calendar(*STAYS))
    first = run(store, settings, calendar_id, clock)
    feed_server.serve("/feed.ics", calendar(STAYS[0]))
    clock.now = NOW + timedelta(hours=1)
    run(store, settings, calendar_id, clock)
    before = counts(store), bookings(store, calendar_id)
    shown = cli.invoke(cli_app, ["replay", str(calendar_id), "--run", str(first.run_id), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [(r["action"], r["key"], r["start"]) for r in rows] == [("insert", "b", "2026-12-10")]
    assert "1 to insert, 0 to update, 0 to delete, 0 to hold" in shown.stderr
    assert (counts(store), bookings(store, calendar_id)) == before


def test_replay_tries_another_time_offset(store, settings, feed_server, calendar_id, clock, cli):
    """``--time-offset 2`` replays the newest body as if the calendar had that offset: every timed stay moves."""
    timed = "UID:t\nDTSTART:20261201T150000Z\nDTEND:20261203T100000Z\nSUMMARY:Reserved"
    feed_server.serve("/feed.ics", calendar(timed))
    run(store, settings, calendar_id, clock)
    shown = cli.invoke(cli_app, ["replay", str(calendar_id), "--time-offset", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    [row] = json.loads(shown.stdout)
    assert (row["action"], row["start"], row["was"]) == (
        "update", "2026-12-01T17:00:00Z", "t 2026-12-01T15:00:00Z to 2026-12-03T10:00:00Z confirmed"
    )  # fmt: skip


def test_replay_of_an_unknown_run_is_a_clear_error(calendar_id, cli):
    """A run whose body is not kept: exit 1, naming it."""
    shown = cli.invoke(cli_app, ["replay", str(calendar_id), "--run", str(calendar_id)])
    assert shown.exit_code == 1
    assert f"no fetched body of sync run {calendar_id}" in shown.stderr


def test_preview_of_a_calendar_fetches_now_and_plans_against_its_bookings(
    store, settings, feed_server, calendar_id, clock, cli
):
    """``preview --calendar`` shows the delete the next sync would make, and makes none."""
    feed_server.serve("/feed.ics", calendar(*STAYS))
    run(store, settings, calendar_id, clock)
    feed_server.serve("/feed.ics", calendar(STAYS[0]))
    before = counts(store), bookings(store, calendar_id)
    shown = cli.invoke(cli_app, ["preview", "--calendar", str(calendar_id)])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[1].startswith("delete")
    assert " b " in shown.stdout
    assert (counts(store), bookings(store, calendar_id)) == before
