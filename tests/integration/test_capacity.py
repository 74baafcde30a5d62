"""Capacity, linked products, availability and conflicts through the real app, store and CLI."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

import conftest
from calsync.cli import app as cli_app
from calsync.core.ical_in import parse_feed
from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.services.keys import create_api_key
from calsync.store import products as stored_products
from calsync.store.models import Booking
from calsync.sync import SyncResult, anonymous_summary, sync_calendar
from calsync.web.app import create_app
from conftest import NOW, REPRESENTATION, calendar, link_products, parse_options


@pytest.fixture
def world(store, settings, clock):
    """A house (capacity 2) made of two rooms (capacity 1), an API client with a key."""
    with store.write() as session:
        house = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=2, now=NOW
        )
        rooms = [
            stored_products.add_product(
                session, name=f"Room {n}", timezone="UTC", capacity=1, now=NOW
            )
            for n in (1, 2)
        ]
        for room in rooms:
            link_products(session, house.id, room.id, now=NOW)
        _, key = create_api_key(session, name="tests", now=NOW)
    service = FeedService(store, settings.feeds, clock=clock)
    app = create_app(
        store=store,
        metrics=Metrics(),
        feed_service=service,
        read_log=FeedReadLog(store),
        settings=settings,
        clock=clock,
    )
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield {
            "house": house,
            "room1": rooms[0],
            "room2": rooms[1],
            "client": client,
            "service": service,
        }


def sync(store, settings, calendar_id, clock) -> SyncResult:
    async def go() -> SyncResult:
        async with FeedFetcher(settings.fetch) as fetcher:
            return await sync_calendar(
                calendar_id, store=store, fetcher=fetcher, settings=settings, clock=clock
            )

    return asyncio.run(go())


def add_calendar(store, product_id, url, units: int = 1) -> uuid.UUID:
    with store.write() as session:
        cal = conftest.add_calendar(
            session,
            product_id=product_id,
            name="c",
            ical_url=url,
            time_offset=0,
            active=True,
            now=NOW,
        )
        cal.units = units
        return cal.id


def blocked(service: FeedService, token: str) -> list[tuple[str, str]]:
    feed = service.feed(token)
    assert feed is not None
    blocks = parse_feed(feed.body, parse_options(timezone="UTC")).blocks
    return [(b.starts_at.date().isoformat(), b.ends_at.date().isoformat()) for b in blocks]


STAY = "UID:stay-1\nDTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261212\nSUMMARY:Reserved"


def test_a_room_booked_on_a_channel_blocks_the_house_and_a_house_booking_then_gets_409(
    store, settings, feed_server, world, clock
):
    """End to end: an imported room stay shows on the house's export, not the other room's; booking the house is 409."""
    feed_server.serve("/room1.ics", calendar(STAY))
    calendar_id = add_calendar(store, world["room1"].id, feed_server.url("/room1.ics"))
    assert sync(store, settings, calendar_id, clock).inserted == 1
    assert blocked(world["service"], world["house"].feed_token) == [("2026-12-10", "2026-12-12")]
    assert blocked(world["service"], world["room2"].feed_token) == []
    answer = world["client"].post(
        "/v1/bookings",
        json={
            "product_id": str(world["house"].id),
            "starts_at": "2026-12-11",
            "ends_at": "2026-12-13",
            "all_day": True,
        },
    )
    assert answer.status_code == 409
    assert answer.json()["details"]["nights"] == ["2026-12-11"]
    assert (
        world["client"]
        .post(
            "/v1/bookings",
            json={
                "product_id": str(world["room2"].id),
                "starts_at": "2026-12-11",
                "ends_at": "2026-12-13",
                "all_day": True,
            },
        )
        .status_code
        == 201
    )


def test_a_house_booking_blocks_every_room(world):
    """A direct booking on the house blocks both rooms' exports and their availability."""
    client = world["client"]
    assert (
        client.post(
            "/v1/bookings",
            json={
                "product_id": str(world["house"].id),
                "starts_at": "2026-12-20",
                "ends_at": "2026-12-22",
                "all_day": True,
            },
        ).status_code
        == 201
    )
    for room in ("room1", "room2"):
        assert blocked(world["service"], world[room].feed_token) == [("2026-12-20", "2026-12-22")]
    rows = client.get(
        "/v1/availability",
        params={"product_id": str(world["room1"].id), "from": "2026-12-19", "until": "2026-12-23"},
    ).json()
    assert [(r["date"], r["available"]) for r in rows] == [
        ("2026-12-19", True),
        ("2026-12-20", False),
        ("2026-12-21", False),
        ("2026-12-22", True),
    ]
    assert rows[1]["bookings"][0]["product_id"] == str(world["house"].id)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"product_id": "nope", "from": "2026-12-01", "until": "2026-12-02"}, 400),
        ({"product_id": str(uuid.uuid4()), "from": "2026-12-01", "until": "2026-12-02"}, 404),
        ({"from": "2026-12-01", "until": "2026-12-02"}, 400),
        ({"product_id": "PRODUCT", "from": "2026-13-01", "until": "2026-12-02"}, 400),
        ({"product_id": "PRODUCT", "from": "2026-12-05", "until": "2026-12-02"}, 400),
        ({"product_id": "PRODUCT", "from": "2026-01-01", "until": "2029-01-01"}, 400),
    ],
)
def test_bad_availability_requests_are_4xx(world, params, status):
    """Malformed ids and dates, unknown products, inverted or huge ranges: 4xx with a message."""
    params = {k: (str(world["house"].id) if v == "PRODUCT" else v) for k, v in params.items()}
    answer = world["client"].get("/v1/availability", params=params)
    assert answer.status_code == status
    assert answer.json()["message"]


def test_availability_needs_a_key(world):
    """Without an API key the availability endpoint is 401."""
    answer = world["client"].get(
        "/v1/availability",
        params={"product_id": str(world["house"].id), "from": "2026-12-01", "until": "2026-12-02"},
        headers={"Authorization": ""},
    )
    assert answer.status_code == 401


def test_double_booking_from_two_channels_is_reported(store, settings, feed_server, world, clock):
    """Two channels sold room 2 for the same nights: /v1/conflicts, the calendar status and the CLI say so."""
    feed_server.serve("/a.ics", calendar(STAY))
    feed_server.serve(
        "/b.ics", calendar(STAY.replace("stay-1", "other").replace("20261212", "20261213"))
    )
    a = add_calendar(store, world["room2"].id, feed_server.url("/a.ics"))
    b = add_calendar(store, world["room2"].id, feed_server.url("/b.ics"))
    sync(store, settings, a, clock)
    sync(store, settings, b, clock)
    conflicts = world["client"].get("/v1/conflicts").json()
    room = [c for c in conflicts if c["product_id"] == str(world["room2"].id)]
    assert [(c["from"], c["until"], c["units_booked"], c["capacity"]) for c in room] == [
        ("2026-12-10", "2026-12-12", 2, 1)
    ]
    assert {b["external_calendar_id"] for b in room[0]["bookings"]} == {str(a), str(b)}
    calendars = world["client"].get("/v1/external_calendars", params={"id": f"eq.{a}"}).json()
    assert [c["from"] for c in calendars[0]["conflicts"]] == ["2026-12-10"]


def test_one_calendar_repeating_a_stay_counts_its_units_once(
    store, settings, feed_server, world, clock
):
    """Smoobu lists a stay three times: with units 1 the calendar holds one unit, no conflict."""
    events = [
        f"UID:s{n}\nDTSTART;VALUE=DATE:20261210\nDTEND;VALUE=DATE:20261212\nSUMMARY:Jansen"
        for n in range(3)
    ]
    feed_server.serve("/smoobu.ics", calendar(*events))
    calendar_id = add_calendar(store, world["room1"].id, feed_server.url("/smoobu.ics"))
    sync(store, settings, calendar_id, clock)
    assert world["client"].get("/v1/conflicts").json() == []


@pytest.mark.parametrize(
    ("summary", "echo"),
    [("Airbnb (Not available)", True), ("Not available", True), ("Reserved - Jansen", False)],
)
def test_an_anonymous_block_equal_to_an_exported_booking_is_an_echo(
    store, settings, feed_server, world, clock, summary, echo
):
    """A channel's anonymous block with the dates of a direct booking is marked echo_of it; a named one is not."""
    client = world["client"]
    direct = client.post(
        "/v1/bookings",
        json={
            "product_id": str(world["room1"].id),
            "starts_at": "2026-12-24",
            "ends_at": "2026-12-27",
            "all_day": True,
        },
        headers=REPRESENTATION,
    ).json()[0]
    feed_server.serve(
        "/airbnb.ics",
        calendar(
            f"UID:x\nDTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261227\nSUMMARY:{summary}"
        ),
    )
    calendar_id = add_calendar(store, world["room1"].id, feed_server.url("/airbnb.ics"))
    sync(store, settings, calendar_id, clock)
    with store.read() as session:
        imported = session.scalars(
            select(Booking).where(Booking.external_calendar_id == calendar_id)
        ).one()
    assert (str(imported.echo_of) if imported.echo_of else None) == (direct["id"] if echo else None)
    assert (client.get("/v1/conflicts").json() == []) is echo


def test_anonymous_summaries():
    """Generic unavailability texts carry no reservation data; names and "Reserved" do."""
    anonymous = anonymous_summary("Not available")
    assert [
        anonymous(s)
        for s in ("", "Blocked", "CLOSED - Not available", "Airbnb (Not available)", "Unavailable")
    ] == [True] * 5
    assert [
        anonymous(s)
        for s in ("Reserved", "Jansen family", "Reserved - Jansen", "Not available - Smith")
    ] == [False] * 4


def test_cli_link_availability_and_conflicts(database_url, monkeypatch, tmp_path):
    """Products link/unlink, a refused cycle naming the products, availability and conflicts."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli_app, list(args))

    house = run("products", "add", "House", "--capacity", "2", "--json").stdout
    room = run("products", "add", "Room", "--json").stdout
    house_id, room_id = json.loads(house)[0]["id"], json.loads(room)[0]["id"]
    assert run("products", "link", house_id, room_id).exit_code == 0
    cycle = run("products", "link", room_id, house_id)
    assert cycle.exit_code == 1
    assert "would make a cycle" in cycle.stderr
    assert "'House'" in cycle.stderr
    rows = json.loads(
        run(
            "availability", house_id, "--from", "2026-12-01", "--until", "2026-12-03", "--json"
        ).stdout
    )
    assert [r["available"] for r in rows] == [True, True]
    assert run("conflicts").stdout.strip() == "no conflicts"
    assert run("products", "unlink", house_id, room_id).exit_code == 0
    assert run("products", "unlink", house_id, room_id).exit_code == 1


def test_conflicts_across_many_products_are_each_reported_once(store):
    """Products are looked at a hundred at a time: every conflict is still found, once.

    The house and its room are in different hundreds, linked.
    """
    from datetime import timedelta

    from calsync import reports

    start = NOW + timedelta(days=10)
    with store.write() as session:
        products = [
            stored_products.add_product(session, name=f"p{n}", timezone="UTC", capacity=1, now=NOW)
            for n in range(230)
        ]
        by_id = sorted(products, key=lambda product: product.id)
        house, room = by_id[0], by_id[-1]
        link_products(session, house.id, room.id, now=NOW)
        double = by_id[150]
        for product, count in ((double, 2), (house, 1), (room, 1)):
            for _ in range(count):
                session.add(
                    Booking(
                        product_id=product.id, starts_at=start,
                        ends_at=start + timedelta(days=2), all_day=True, created_at=NOW,
                    )
                )  # fmt: skip

    with store.read() as session:
        found = reports.conflicts(session, now=NOW)

    assert sorted((c["product_id"], c["from"]) for c in found) == sorted(
        (str(product.id), start.date().isoformat()) for product in (double, house, room)
    )


def _stay(product_id: uuid.UUID, days: int = 10) -> Booking:
    from datetime import timedelta

    start = NOW + timedelta(days=days)
    return Booking(
        product_id=product_id, starts_at=start, ends_at=start + timedelta(days=2),
        all_day=True, created_at=NOW,
    )  # fmt: skip


def test_conflict_cache_answers_from_memory_until_a_product_it_depends_on_changes(store):
    """The cache computes again only a product whose bookings, capacity or links changed.

    A house (capacity 1) and its room, and a cottage alone: each change below
    must reach exactly the products whose conflicts it can change.
    """
    from datetime import timedelta

    from calsync import reports

    cache = reports.ConflictCache()
    with store.write() as session:
        house, room, cottage = (
            stored_products.add_product(session, name=name, timezone="UTC", capacity=1, now=NOW)
            for name in ("house", "room", "cottage")
        )
        ids = [house.id, room.id, cottage.id]
        session.add_all([_stay(house.id), _stay(cottage.id), _stay(cottage.id)])
        stored_products.touch_feed_version(session, [house.id, cottage.id], NOW)

    def look(now=NOW) -> dict[uuid.UUID, list[dict[str, object]]]:
        with store.read() as session:
            return cache.of_products(session, ids, now=now)

    first = look()
    assert [len(first[i]) for i in ids] == [0, 0, 1]
    again = look()
    assert all(again[i] is first[i] for i in ids), "nothing changed: every answer is cached"

    with store.write() as session:  # a booking on the room: the room alone changes
        session.add(_stay(room.id))
        stored_products.touch_feed_version(session, [room.id], NOW)
    after_booking = look()
    assert after_booking[room.id] is not first[room.id]
    assert after_booking[house.id] is first[house.id]
    assert after_booking[cottage.id] is first[cottage.id]

    with store.write() as session:  # the link: the house and the room double-book
        link_products(session, house.id, room.id, now=NOW)
    linked = look()
    assert [len(linked[i]) for i in ids] == [1, 1, 1]
    assert linked[cottage.id] is first[cottage.id]

    with store.write() as session:  # more room in the cottage: its conflict is gone
        stored_products.get_product(session, cottage.id).capacity = 2
    assert [len(answer) for answer in look().values()] == [1, 1, 0]

    later = look(now=NOW + timedelta(days=30))  # a new day: computed again, the stays are past
    assert [len(later[i]) for i in ids] == [0, 0, 0]


def test_conflict_cache_sees_changes_written_by_another_process(store, settings):
    """Keys are read from the store, so a change made elsewhere (another replica) is seen."""
    from calsync import reports
    from calsync.store.db import Store

    cache = reports.ConflictCache()
    with store.write() as session:
        product_id = stored_products.add_product(
            session, name="hut", timezone="UTC", capacity=1, now=NOW
        ).id
        session.add(_stay(product_id))
        stored_products.touch_feed_version(session, [product_id], NOW)
    with store.read() as session:
        assert cache.of_products(session, [product_id], now=NOW) == {product_id: []}
    other = Store.connect(settings.database)
    try:
        with other.write() as session:
            session.add(_stay(product_id))
            stored_products.touch_feed_version(session, [product_id], NOW)
    finally:
        other.close()
    with store.read() as session:
        assert len(cache.of_products(session, [product_id], now=NOW)[product_id]) == 1


# --- whole groups: siblings count ----------------------------------------------------------


def _book(client: TestClient, product_id: uuid.UUID, first: str, checkout: str, **query: str):
    """POST an all-day direct booking; the answer."""
    return client.post(
        "/v1/bookings",
        params=query,
        json={
            "product_id": str(product_id),
            "starts_at": first,
            "ends_at": checkout,
            "all_day": True,
        },
        headers=REPRESENTATION,
    )


@pytest.fixture
def hotel(store, settings, clock):
    """A hotel of capacity 2 with three rooms of capacity 1 linked as its elements, and a client."""
    with store.write() as session:
        hotel = stored_products.add_product(
            session, name="Hotel", timezone="UTC", capacity=2, now=NOW
        )
        rooms = [
            stored_products.add_product(
                session, name=f"Room {n}", timezone="UTC", capacity=1, now=NOW
            )
            for n in (1, 2, 3)
        ]
        for room in rooms:
            link_products(session, hotel.id, room.id, now=NOW)
        _, key = create_api_key(session, name="tests", now=NOW)
    service = FeedService(store, settings.feeds, clock=clock)
    app = create_app(
        store=store,
        metrics=Metrics(),
        feed_service=service,
        read_log=FeedReadLog(store),
        settings=settings,
        clock=clock,
    )
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield {"hotel": hotel, "rooms": rooms, "client": client, "service": service}


def test_the_third_room_of_a_hotel_of_capacity_2_is_refused(hotel):
    """Two rooms booked fill the hotel (capacity 2): the third room is 409, naming its siblings' bookings."""
    client, rooms = hotel["client"], hotel["rooms"]
    first, second = (_book(client, room.id, "2026-12-10", "2026-12-11") for room in rooms[:2])
    assert (201, 201) == (first.status_code, second.status_code)
    third = _book(client, rooms[2].id, "2026-12-10", "2026-12-11")
    assert 409 == third.status_code
    assert ["2026-12-10"] == third.json()["details"]["nights"]
    assert {first.json()[0]["id"], second.json()[0]["id"]} == {
        c["booking_id"] for c in third.json()["details"]["conflicts"]
    }


def test_a_full_hotel_blocks_the_free_rooms_availability_and_feed(hotel):
    """Two of three rooms booked: the hotel is 2/2 and unavailable, the third room's feed blocks the night."""
    client, rooms = hotel["client"], hotel["rooms"]
    for room in rooms[:2]:
        assert 201 == _book(client, room.id, "2026-12-10", "2026-12-11").status_code
    params = {"from": "2026-12-10", "until": "2026-12-11"}
    (night,) = client.get(
        "/v1/availability", params={"product_id": str(hotel["hotel"].id), **params}
    ).json()
    assert (2, 2, False) == (night["units_booked"], night["capacity"], night["available"])
    (free,) = client.get(
        "/v1/availability", params={"product_id": str(rooms[2].id), **params}
    ).json()
    assert (0, False) == (free["units_booked"], free["available"])
    assert 2 == len(free["bookings"])
    assert [("2026-12-10", "2026-12-11")] == blocked(hotel["service"], rooms[2].feed_token)


def test_a_forced_third_room_shows_the_hotel_over_capacity(hotel):
    """Booked anyway (force=true), the third room puts the hotel at 3/2: availability and conflicts say so."""
    client, rooms = hotel["client"], hotel["rooms"]
    for room in rooms:
        assert 201 == _book(client, room.id, "2026-12-10", "2026-12-11", force="true").status_code
    (night,) = client.get(
        "/v1/availability",
        params={"product_id": str(hotel["hotel"].id), "from": "2026-12-10", "until": "2026-12-11"},
    ).json()
    assert (3, 2) == (night["units_booked"], night["capacity"])
    conflicts = client.get("/v1/conflicts").json()
    assert [(str(hotel["hotel"].id), "2026-12-10", 3, 2)] == [
        (c["product_id"], c["from"], c["units_booked"], c["capacity"]) for c in conflicts
    ]


def test_an_import_that_overfills_the_hotel_is_accepted_and_is_a_conflict_at_once(
    store, settings, feed_server, hotel, clock
):
    """Two rooms booked directly, the third imported from a channel: the import lands, the hotel conflicts."""
    client, rooms = hotel["client"], hotel["rooms"]
    for room in rooms[:2]:
        assert 201 == _book(client, room.id, "2026-12-10", "2026-12-12").status_code
    feed_server.serve("/room3.ics", calendar(STAY))
    calendar_id = add_calendar(store, rooms[2].id, feed_server.url("/room3.ics"))
    assert 1 == sync(store, settings, calendar_id, clock).inserted
    conflicts = client.get("/v1/conflicts").json()
    assert [(str(hotel["hotel"].id), "2026-12-10", "2026-12-12", 3)] == [
        (c["product_id"], c["from"], c["until"], c["units_booked"]) for c in conflicts
    ]
    [room_calendar] = client.get(f"/v1/external_calendars?id=eq.{calendar_id}").json()
    assert [(str(hotel["hotel"].id), "2026-12-10")] == [
        (c["product_id"], c["from"]) for c in room_calendar["conflicts"]
    ], "the room's calendar shows the conflict its import made on the hotel"


def test_a_building_of_capacity_1_above_a_wing_refuses_the_second_room(store, world):
    """Building (capacity 1) → wing (capacity 2) → two rooms: one room booked fills the building."""
    client = world["client"]
    with store.write() as session:
        building = stored_products.add_product(
            session, name="Building", timezone="UTC", capacity=1, now=NOW
        )
        wing = stored_products.add_product(
            session, name="Wing", timezone="UTC", capacity=2, now=NOW
        )
        rooms = [
            stored_products.add_product(
                session, name=f"Wing room {n}", timezone="UTC", capacity=1, now=NOW
            )
            for n in (1, 2)
        ]
        link_products(session, building.id, wing.id, now=NOW)
        for room in rooms:
            link_products(session, wing.id, room.id, now=NOW)
    assert 201 == _book(client, rooms[0].id, "2026-12-10", "2026-12-11").status_code
    assert 409 == _book(client, rooms[1].id, "2026-12-10", "2026-12-11").status_code
    assert [("2026-12-10", "2026-12-11")] == blocked(world["service"], rooms[1].feed_token)


def test_bulk_post_of_three_rooms_is_refused_as_a_whole(hotel):
    """One POST with all three rooms on one night: 409, and none of them is stored."""
    client, rooms = hotel["client"], hotel["rooms"]
    answer = client.post(
        "/v1/bookings",
        json=[
            {"product_id": str(room.id), "starts_at": "2026-12-10", "ends_at": "2026-12-11",
             "all_day": True}
            for room in rooms
        ],
    )  # fmt: skip
    assert 409 == answer.status_code
    assert [] == client.get("/v1/bookings").json()


# --- the nights asked for bound the work ---------------------------------------------------


def test_a_booking_spanning_millennia_costs_only_the_nights_asked_for(store, world, monkeypatch):
    """A stay from the year 1000 to 9000: a month's availability and the conflicts count only their nights."""
    from datetime import UTC, datetime

    from calsync import reports
    from calsync.core import availability as core

    counted = {"nights": 0}
    nights_of = core.nights_of

    def counting(*args, **kwargs):
        for night in nights_of(*args, **kwargs):
            counted["nights"] += 1
            if counted["nights"] > 10_000:
                msg = "more nights than asked for"
                raise AssertionError(msg)
            yield night

    monkeypatch.setattr(core, "nights_of", counting)
    room = world["room1"]
    with store.write() as session:
        for _ in range(2):  # twice: a conflict on every night from today on
            session.add(
                Booking(
                    product_id=room.id, starts_at=datetime(1000, 1, 1, tzinfo=UTC),
                    ends_at=datetime(9000, 1, 1, tzinfo=UTC), all_day=True, created_at=NOW,
                )
            )  # fmt: skip
    with store.read() as session:
        december = reports.availability(
            session, room.id, NOW.date().replace(day=1), NOW.date().replace(month=12, day=1)
        )
        assert [(2, False)] * 30 == [(n["units_booked"], n["available"]) for n in december]
        found = reports.conflicts(session, now=NOW)
    horizon = (NOW + reports.CONFLICT_HORIZON).date().isoformat()
    assert [(str(room.id), "2026-11-15", horizon, 2)] == [
        (c["product_id"], c["from"], c["until"], c["units_booked"]) for c in found
    ]
    assert counted["nights"] <= 2 * (30 + reports.CONFLICT_HORIZON.days)
