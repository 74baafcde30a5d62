"""Table tests of availability: nights, capacities and capacity group dependencies (DESIGN §6)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from calsync.core.availability import (
    Conflict,
    DependencyCycleError,
    Graph,
    Night,
    Occupancy,
    Occupant,
    ProductNode,
    blocked_ranges,
    check_link,
    nights_of,
)

FIRST = date(2027, 1, 10)
WINDOW = (date(2026, 1, 1), date(2028, 1, 1))  # the nights every table test's Occupancy covers
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUSE = {"house": ("room1", "room2")}
# building → floor1 (room1a, room1b), floor2 (room2a)
CHAIN = {
    "building": ("floor1", "floor2"),
    "floor1": ("room1a", "room1b"),
    "floor2": ("room2a",),
}


def pid(name: str) -> uuid.UUID:
    """The product called ``name``."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"product:{name}")


def bid(name: str) -> uuid.UUID:
    """The booking called ``name``."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"booking:{name}")


def cid(name: str) -> uuid.UUID:
    """The external calendar called ``name``."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"calendar:{name}")


def d(n: int) -> date:
    """Night ``n`` counted from :data:`FIRST`."""
    return FIRST + timedelta(days=n)


def stay(
    name: str,
    product: str,
    first: int,
    nights: int = 1,
    *,
    units: int = 1,
    calendar: str | None = None,
) -> Occupant:
    """An all-day booking of ``nights`` nights from night ``first`` (midnight UTC, as stored)."""
    return Occupant(
        id=bid(name),
        product_id=pid(product),
        starts_at=datetime.combine(d(first), time(), tzinfo=UTC),
        ends_at=datetime.combine(d(first + nights), time(), tzinfo=UTC),
        all_day=True,
        units=units,
        external_calendar_id=cid(calendar) if calendar else None,
    )


def timed(name: str, product: str, starts_at: datetime, ends_at: datetime) -> Occupant:
    """A timed booking, stored in UTC."""
    return Occupant(
        id=bid(name),
        product_id=pid(product),
        starts_at=starts_at.astimezone(UTC),
        ends_at=ends_at.astimezone(UTC),
        all_day=False,
    )


def occupancy(
    capacities: dict[str, int],
    bookings: list[Occupant],
    groups: Mapping[str, tuple[str, ...]] | None = None,
    *,
    timezone: str = "UTC",
    calendar_units: Mapping[uuid.UUID, int] | None = None,
) -> Occupancy:
    """Products with these capacities, grouped as ``accumulator: elements``."""
    links = [
        (pid(accumulator), pid(element))
        for accumulator, elements in (groups or {}).items()
        for element in elements
    ]
    return Occupancy.of(
        [ProductNode(pid(name), capacity, timezone) for name, capacity in capacities.items()],
        bookings,
        Graph.of(links),
        first=WINDOW[0],
        last=WINDOW[1],
        calendar_units=calendar_units,
    )


def availability(occupied: Occupancy, names: list[str], night: date) -> dict[str, bool]:
    """Whether one more unit fits on each named product that night."""
    return {name: occupied.night(pid(name), night).available for name in names}


def unavailable(occupied: Occupancy, name: str, first: date, last: date) -> list[date]:
    """The unavailable nights of a product from ``first`` up to ``last``."""
    return [n.night for n in occupied.nights(pid(name), first, last) if not n.available]


# --- a single unit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("night", "available"),
    [(-1, True), (0, False), (1, False), (2, False), (3, True)],
    ids=["day-before", "check-in-night", "middle-night", "last-night", "check-out-day"],
)
def test_all_day_stay_blocks_its_nights_but_not_the_check_out_day(night, available):
    """A 3-night all-day booking makes exactly its three nights unavailable."""
    occupied = occupancy({"cabin": 1}, [stay("a", "cabin", 0, 3)])
    assert available == occupied.night(pid("cabin"), d(night)).available


def test_back_to_back_stays_do_not_overlap():
    """One guest checks out the day the next checks in: one unit each night, no conflict."""
    occupied = occupancy({"cabin": 1}, [stay("a", "cabin", 0, 3), stay("b", "cabin", 3, 2)])
    assert [1, 1, 1, 1, 1] == [n.units_booked for n in occupied.nights(pid("cabin"), d(0), d(5))]
    assert [] == occupied.conflicts()


# --- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("booked", "available"), [(1, True), (2, True), (3, False)])
def test_units_are_available_until_capacity_is_reached(booked, available):
    """Three units: one or two booked leaves room, three do not; booked and capacity are reported."""
    bookings = [stay(f"b{i}", "dorm", 0) for i in range(booked)]
    night = occupancy({"dorm": 3}, bookings).night(pid("dorm"), d(0))
    assert (booked, 3, available) == (night.units_booked, night.capacity, night.available)


@pytest.mark.parametrize(
    ("bookings", "booked", "available"),
    [
        ([stay("pair", "dorm", 0, units=2)], 2, True),
        ([stay("pair", "dorm", 0, units=2), stay("one", "dorm", 0)], 3, False),
    ],
    ids=["two-unit-booking", "two-unit-booking-and-one-more"],
)
def test_multi_unit_booking_counts_its_units(bookings, booked, available):
    """A 2-unit booking counts 2 of the dorm's 3 units."""
    night = occupancy({"dorm": 3}, bookings).night(pid("dorm"), d(0))
    assert (booked, available) == (night.units_booked, night.available)


# --- a house and its rooms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("booked", "house_capacity", "expected"),
    [
        ([], 2, {"house": True, "room1": True, "room2": True}),
        (["room1"], 2, {"house": False, "room1": False, "room2": True}),
        (["room1", "room2"], 2, {"house": False, "room1": False, "room2": False}),
        (["house"], 2, {"house": False, "room1": False, "room2": False}),
        (["room1"], 1, {"house": False, "room1": False, "room2": False}),
    ],
    ids=["nothing-booked", "room1-booked", "both-rooms-booked", "house-booked", "house-capacity-1"],
)
def test_house_and_rooms(booked, house_capacity, expected):
    """A booked room occupies the house; a booked house occupies every room; the house caps the sum."""
    bookings = [stay(f"on-{name}", name, 0) for name in booked]
    occupied = occupancy({"house": house_capacity, "room1": 1, "room2": 1}, bookings, HOUSE)
    assert expected == availability(occupied, list(expected), d(0))


# --- a three-level chain ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacities", "expected"),
    [
        (
            {"building": 1, "floor1": 1, "floor2": 1},
            {"room1a": False, "room1b": False, "floor1": False, "building": False},
        ),
        (
            {"building": 3, "floor1": 2, "floor2": 1},
            {"room1a": False, "room1b": True, "floor1": False, "building": False},
        ),
    ],
    ids=["capacities-1", "capacities-sum-of-rooms"],
)
def test_room_booking_occupies_its_floor_and_building(capacities, expected):
    """A booked room makes its floor and building unavailable; its sibling stays free if capacities allow."""
    rooms = {"room1a": 1, "room1b": 1, "room2a": 1}
    occupied = occupancy(capacities | rooms, [stay("guest", "room1a", 0)], CHAIN)
    assert expected == availability(occupied, list(expected), d(0))


@pytest.mark.parametrize(
    ("capacities", "expected"),
    [
        ({"building": 1, "floor1": 1, "floor2": 1}, {"floor2": False, "room2a": False}),
        ({"building": 3, "floor1": 2, "floor2": 1}, {"floor2": True, "room2a": True}),
    ],
    ids=["capacities-1", "capacities-sum-of-rooms"],
)
def test_room_booking_leaves_the_other_floor_to_the_building_capacity(capacities, expected):
    """The other floor is free only while the building has a unit to spare."""
    rooms = {"room1a": 1, "room1b": 1, "room2a": 1}
    occupied = occupancy(capacities | rooms, [stay("guest", "room1a", 0)], CHAIN)
    assert expected == availability(occupied, list(expected), d(0))


@pytest.mark.parametrize("building_capacity", [1, 3])
def test_building_booking_blocks_every_floor_and_room(building_capacity):
    """A booked building takes every floor and every room of every floor."""
    capacities = {"building": building_capacity, "floor1": 2, "floor2": 1}
    capacities |= {"room1a": 1, "room1b": 1, "room2a": 1}
    occupied = occupancy(capacities, [stay("everyone", "building", 0)], CHAIN)
    below = ["floor1", "floor2", "room1a", "room1b", "room2a"]
    assert dict.fromkeys(below, False) == availability(occupied, below, d(0))


# --- timed bookings and timezones ------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "nights"),
    [
        (
            datetime(2027, 3, 27, 15, tzinfo=AMSTERDAM),
            datetime(2027, 3, 29, 11, tzinfo=AMSTERDAM),
            [date(2027, 3, 27), date(2027, 3, 28)],
        ),
        (
            datetime(2027, 10, 30, 15, tzinfo=AMSTERDAM),
            datetime(2027, 11, 1, 11, tzinfo=AMSTERDAM),
            [date(2027, 10, 30), date(2027, 10, 31)],
        ),
        (
            datetime(2027, 3, 28, 10, tzinfo=AMSTERDAM),
            datetime(2027, 3, 28, 14, tzinfo=AMSTERDAM),
            [date(2027, 3, 28)],
        ),
        (
            datetime(2027, 3, 27, 0, 30, tzinfo=AMSTERDAM),
            datetime(2027, 3, 27, 10, tzinfo=AMSTERDAM),
            [date(2027, 3, 27)],
        ),
    ],
    ids=["over-spring-change", "over-autumn-change", "within-one-day", "just-after-midnight"],
)
def test_timed_booking_occupies_the_local_nights_it_overlaps(starts_at, ends_at, nights):
    """Check-in 15:00, check-out 11:00 two days later: the two nights between, whatever DST does."""
    occupied = occupancy(
        {"flat": 1}, [timed("a", "flat", starts_at, ends_at)], timezone="Europe/Amsterdam"
    )
    first = starts_at.date() - timedelta(days=2)
    assert nights == unavailable(occupied, "flat", first, first + timedelta(days=7))


@pytest.mark.parametrize(
    ("timezone", "nights"),
    [("Pacific/Auckland", [date(2026, 12, 2)]), ("UTC", [date(2026, 12, 1)])],
)
def test_timed_booking_lands_on_the_products_local_dates(timezone, nights):
    """2026-12-01T23:30Z..2026-12-02T09:00Z is 12:30–22:00 on 2 December in Auckland."""
    booking = timed(
        "a", "bach", datetime(2026, 12, 1, 23, 30, tzinfo=UTC), datetime(2026, 12, 2, 9, tzinfo=UTC)
    )
    assert nights == list(nights_of(booking, timezone))
    occupied = occupancy({"bach": 1}, [booking], timezone=timezone)
    assert nights == unavailable(occupied, "bach", date(2026, 11, 29), date(2026, 12, 5))


# --- external calendar units -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar_units", "booked", "available"),
    [({cid("smoobu"): 1}, 1, True), (None, 3, False)],
    ids=["capped-at-1", "uncapped"],
)
def test_calendar_units_cap_repeated_imports(calendar_units, booked, available):
    """Smoobu lists one stay three times: capped at the calendar's 1 unit, a 2-unit product stays open."""
    bookings = [stay(f"copy{i}", "apartment", 0, 3, calendar="smoobu") for i in range(3)]
    occupied = occupancy({"apartment": 2}, bookings, calendar_units=calendar_units)
    night = occupied.night(pid("apartment"), d(1))
    assert (booked, available) == (night.units_booked, night.available)
    assert sorted(bid(f"copy{i}") for i in range(3)) == sorted(night.booking_ids)


# --- which bookings a night is made of -------------------------------------------------------


@pytest.mark.parametrize(
    ("bookings", "product", "expected"),
    [
        ([stay("own", "room1", 0)], "room1", ["own"]),
        ([stay("r1", "room1", 0), stay("r2", "room2", 0)], "house", ["r1", "r2"]),
        ([stay("whole", "house", 0)], "room1", ["whole"]),
        ([stay("whole", "house", 0), stay("r1", "room1", 0)], "room1", ["r1", "whole"]),
        ([stay("r2", "room2", 0)], "room1", []),
    ],
    ids=["own", "elements", "booked-accumulator", "own-and-accumulator", "sibling-not-a-cause"],
)
def test_booking_ids_name_the_bookings_that_cause_the_night(bookings, product, expected):
    """A night lists its own bookings, its elements' and a booked accumulator's, each once."""
    occupied = occupancy({"house": 2, "room1": 1, "room2": 1}, bookings, HOUSE)
    night = occupied.night(pid(product), d(0))
    assert sorted(bid(name) for name in expected) == sorted(night.booking_ids)


# --- conflicts -------------------------------------------------------------------------------


def test_imports_from_two_calendars_on_one_unit_conflict_each_night():
    """Airbnb and Booking.com both sold the only unit for two nights: one Conflict per night."""
    bookings = [
        stay("airbnb", "cabin", 0, 2, calendar="airbnb"),
        stay("booking", "cabin", 0, 2, calendar="booking"),
    ]
    ids = (bid("airbnb"), bid("booking"))
    assert [
        Conflict(pid("cabin"), d(0), 2, 1, ids),
        Conflict(pid("cabin"), d(1), 2, 1, ids),
    ] == occupancy({"cabin": 1}, bookings).conflicts()


def test_room_booked_under_a_booked_house_conflicts_on_the_room():
    """The house was sold whole and a room of it too: the room holds two bookings."""
    bookings = [stay("whole", "house", 0), stay("r1", "room1", 0)]
    conflicts = occupancy({"house": 2, "room1": 1, "room2": 1}, bookings, HOUSE).conflicts()
    assert [Conflict(pid("room1"), d(0), 2, 1, (bid("r1"), bid("whole")))] == [
        c for c in conflicts if c.product_id == pid("room1")
    ]


# --- the dependency graph --------------------------------------------------------------------


def test_self_link_is_refused():
    """A product cannot be an element of itself; the message names it."""
    with pytest.raises(DependencyCycleError, match=str(pid("a"))):
        check_link([], pid("a"), pid("a"))
    with pytest.raises(DependencyCycleError, match=str(pid("a"))):
        Graph.of([(pid("a"), pid("a"))])


def test_cycle_is_refused():
    """A→B→C→A would make A an element of itself: refused when built and when linked."""
    a, b, c = pid("a"), pid("b"), pid("c")
    named = f"({a}|{b}|{c})"
    with pytest.raises(DependencyCycleError, match=named):
        Graph.of([(a, b), (b, c), (c, a)])
    with pytest.raises(DependencyCycleError, match=named):
        check_link([(a, b), (b, c)], c, a)


def test_diamond_is_allowed_and_counts_a_booking_once():
    """A→B, A→C, B→D, C→D is no cycle; a booking on D is one unit of A, not two."""
    diamond = {"a": ("b", "c"), "b": ("d",), "c": ("d",)}
    check_link(
        [(pid("a"), pid("b")), (pid("a"), pid("c")), (pid("b"), pid("d"))], pid("c"), pid("d")
    )
    occupied = occupancy({"a": 2, "b": 1, "c": 1, "d": 1}, [stay("x", "d", 0)], diamond)
    night = occupied.night(pid("a"), d(0))
    assert (1, (bid("x"),)) == (night.units_booked, night.booking_ids)


# --- blocked ranges for the outbound feed ----------------------------------------------------


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ("ooooo", []),
        ("xxx", [(0, 3)]),
        ("xoxx", [(0, 1), (2, 4)]),
        ("oxxoxo", [(1, 3), (4, 5)]),
        ("xxxxx", [(0, 5)]),
    ],
)
def test_blocked_ranges_merge_consecutive_unavailable_nights(available, expected):
    """Unavailable nights (x) merge into [first, check-out) ranges; an available night (o) splits them."""
    nights = [Night(pid("cabin"), d(i), 0, 1, mark == "o", ()) for i, mark in enumerate(available)]
    assert [(d(a), d(b)) for a, b in expected] == blocked_ranges(list(reversed(nights)))


def test_blocked_ranges_of_stays():
    """Two back-to-back stays and a later one: one range for the pair, one for the other."""
    bookings = [stay("a", "cabin", 1, 2), stay("b", "cabin", 3, 1), stay("c", "cabin", 6, 2)]
    occupied = occupancy({"cabin": 1}, bookings)
    assert [(d(1), d(4)), (d(6), d(8))] == blocked_ranges(
        occupied.nights(pid("cabin"), d(0), d(10))
    )


# --- bugs found while writing these tests ----------------------------------------------------


def test_element_taken_whole_by_another_accumulator_is_occupied():
    """The house (room1, room2) is booked: the upper floor (room1) is not free, room1 is taken."""
    groups = {"house": ("room1", "room2"), "upper": ("room1",)}
    capacities = {"house": 1, "upper": 1, "room1": 1, "room2": 1}
    occupied = occupancy(capacities, [stay("whole", "house", 0)], groups)
    assert not occupied.night(pid("upper"), d(0)).available


def test_two_bookings_of_a_whole_conflict_on_its_elements():
    """The house (capacity 2, two rooms) sold whole twice: each room is taken twice, a conflict."""
    bookings = [stay("first", "house", 0), stay("second", "house", 0)]
    conflicts = occupancy({"house": 2, "room1": 1, "room2": 1}, bookings, HOUSE).conflicts()
    assert {pid("room1"), pid("room2")} <= {c.product_id for c in conflicts}


# --- whole groups ----------------------------------------------------------------------------

HOTEL = {"hotel": ("room1", "room2", "room3")}


def test_group_is_every_product_reachable_up_and_down():
    """A room's group holds its siblings and their other accumulators, not unlinked products."""
    graph = Graph.of(
        [(pid("hotel"), pid(r)) for r in ("room1", "room2", "room3")]
        + [(pid("suite"), pid("room3")), (pid("suite"), pid("annex"))]
    )
    expected = {pid(n) for n in ("hotel", "room1", "room2", "room3", "suite", "annex")}
    assert expected == graph.group(pid("room1"))
    assert {pid("room1"), pid("hotel")} == graph.related(pid("room1"))
    assert {pid("alone")} == graph.group(pid("alone"))


def test_a_room_of_a_full_hotel_is_unavailable_and_names_its_siblings_bookings():
    """Hotel capacity 2, two rooms booked: the third room's night is unavailable because of them."""
    bookings = [stay("r1", "room1", 0), stay("r2", "room2", 0)]
    occupied = occupancy({"hotel": 2, "room1": 1, "room2": 1, "room3": 1}, bookings, HOTEL)
    night = occupied.night(pid("room3"), d(0))
    assert (0, False) == (night.units_booked, night.available)
    assert {bid("r1"), bid("r2")} == set(night.booking_ids)


def test_an_element_taken_whole_by_another_accumulator_names_that_booking():
    """The upper floor (room1) is booked: the house (room1, room2) is unavailable, naming it."""
    groups = {"house": ("room1", "room2"), "upper": ("room1",)}
    capacities = {"house": 2, "upper": 1, "room1": 1, "room2": 1}
    night = occupancy(capacities, [stay("floor", "upper", 0)], groups).night(pid("house"), d(0))
    assert (False, (bid("floor"),)) == (night.available, night.booking_ids)


# --- the nights asked for bound the work -----------------------------------------------------


def test_a_booking_is_indexed_only_on_the_nights_of_the_window():
    """A stay from the year 1000 to 9000 in a window of three nights: three nights are looked at."""
    ages = Occupant(
        bid("ages"), pid("cabin"), datetime(1000, 1, 1, tzinfo=UTC),
        datetime(9000, 1, 1, tzinfo=UTC), all_day=True,
    )  # fmt: skip
    occupied = Occupancy.of([ProductNode(pid("cabin"), 1)], [ages], Graph(), first=d(0), last=d(3))
    assert {d(0), d(1), d(2)} == occupied.occupied_nights()
    assert [False] * 3 == [n.available for n in occupied.nights(pid("cabin"), d(0), d(3))]


@pytest.mark.parametrize("night", [-1, 3])
def test_a_night_outside_the_window_is_refused(night):
    """Asking for a night the Occupancy did not load is an error, not a silently free night."""
    occupied = Occupancy.of([ProductNode(pid("cabin"), 1)], [], Graph(), first=d(0), last=d(3))
    with pytest.raises(ValueError, match="outside the nights loaded"):
        occupied.night(pid("cabin"), d(night))


def test_nights_of_clips_to_the_window():
    """nights_of yields only the nights in [first, last), wherever the booking starts."""
    booking = stay("long", "cabin", -100, 1000)
    assert [d(0), d(1)] == list(nights_of(booking, "UTC", first=d(0), last=d(2)))
