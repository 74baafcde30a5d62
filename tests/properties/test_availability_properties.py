"""Availability, the 409 check, conflicts and feeds against a brute-force oracle (DESIGN §6).

The oracle reads the rule straight from its definitions, over every booking of
the world (siblings included) and nothing cleverer: a product's load is the units
booked on it or on anything below it; a booking above it takes it whole. The pure
core is checked against it on any acyclic graph; the real store (SQLite and
PostgreSQL), through the same calls the API, the CLI and the feeds make, on
random groups of up to three levels.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NoReturn

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from calsync import reports
from calsync.config import FeedSettings
from calsync.core.availability import (
    Graph,
    Occupancy,
    Occupant,
    ProductNode,
    blocked_ranges,
)
from calsync.core.ical_in import parse_feed
from calsync.errors import Conflict
from calsync.feeds import FeedService
from calsync.services import bookings
from calsync.services.context import WriteContext
from calsync.store import products as stored_products
from calsync.store.models import Booking, CapacityGroupDependency, Product
from conftest import NOW, TEST_CAUSE, parse_options

SPAN = 10  # nights 0..9 are checked; a stay starts in them and may run past the end
LONGEST = 4
NIGHTS = SPAN + LONGEST  # every night a stay can reach
FIRST = date(2027, 1, 1)
PRODUCTS = [uuid.uuid5(uuid.NAMESPACE_OID, f"product {i}") for i in range(7)]


@dataclass(frozen=True)
class Stay:
    """An all-day booking of ``units`` on product number ``product``, nights [first, first+length)."""

    product: int
    first: int
    length: int
    units: int

    def covers(self, night: int) -> bool:
        return self.first <= night < self.first + self.length


@dataclass(frozen=True)
class World:
    """Products by number, their capacities, and (accumulator, element) links (acyclic)."""

    capacities: tuple[int, ...]
    links: frozenset[tuple[int, int]]

    def below(self, product: int) -> set[int]:
        """Everything ``product`` is made of: its elements, their elements, and so on."""
        found: set[int] = set()
        frontier = {product}
        while frontier:
            frontier = {e for a, e in self.links if a in frontier} - found
            found |= frontier
        return found

    def above(self, product: int) -> set[int]:
        """Everything ``product`` is part of: its accumulators, theirs, and so on."""
        return {other for other in range(len(self.capacities)) if product in self.below(other)}


def load(world: World, stays: list[Stay], product: int, night: int) -> int:
    """The units of every booking on ``product`` or anything it is made of (each booking once)."""
    members = {product} | world.below(product)
    return sum(s.units for s in stays if s.covers(night) and s.product in members)


def holds(world: World, stays: list[Stay], product: int, night: int) -> bool:
    """Whether ``product`` holds no more than it can on ``night``, straight from DESIGN §6.

    * Its load may not exceed its capacity: siblings count, through every product above.
    * A booking on anything it is part of takes it *whole*: then nothing else may use it, so
      its load must be 0 and that booking must be the only one taking it whole.
    """
    wholes = [s for s in stays if s.covers(night) and s.product in world.above(product)]
    if wholes:
        return load(world, stays, product, night) == 0 and len(wholes) == 1
    return load(world, stays, product, night) <= world.capacities[product]


def fits(world: World, stays: list[Stay], new: Stay) -> bool:
    """Whether ``new`` can join ``stays``: each product it lands on still holds, every night.

    It lands on its own product, on what that is made of (taken whole) and on what that is
    part of (more units). Products unrelated to it keep whatever trouble they already had.
    """
    after = [*stays, new]
    related = {new.product} | world.below(new.product) | world.above(new.product)
    nights = range(new.first, new.first + new.length)
    return all(holds(world, after, product, night) for product in related for night in nights)


def available(world: World, stays: list[Stay], product: int, night: int) -> bool:
    """Whether one more unit of ``product`` fits on ``night``."""
    return fits(world, stays, Stay(product, night, 1, 1))


def day(night: int) -> date:
    return FIRST + timedelta(days=night)


def midnight(night: int) -> datetime:
    return datetime.combine(day(night), time(), tzinfo=UTC)


def occupancy(world: World, stays: list[Stay]) -> Occupancy:
    """The core's view of the same world."""
    products = [ProductNode(PRODUCTS[i], c) for i, c in enumerate(world.capacities)]
    occupants = [
        Occupant(
            id=uuid.uuid5(uuid.NAMESPACE_OID, f"booking {n}"),
            product_id=PRODUCTS[s.product],
            starts_at=midnight(s.first),
            ends_at=midnight(s.first + s.length),
            all_day=True,
            units=s.units,
        )
        for n, s in enumerate(stays)
    ]
    graph = Graph.of((PRODUCTS[a], PRODUCTS[e]) for a, e in world.links)
    return Occupancy.of(products, occupants, graph, first=day(0), last=day(NIGHTS))


@st.composite
def worlds(draw: st.DrawFn, levels: int) -> World:
    """1–7 products of capacity 1–3 on up to ``levels`` levels, linked from a level to a lower one."""
    count = draw(st.integers(1, len(PRODUCTS)))
    capacities = tuple(draw(st.lists(st.integers(1, 3), min_size=count, max_size=count)))
    level = draw(st.lists(st.integers(0, levels - 1), min_size=count, max_size=count))
    pairs = [(a, e) for a in range(count) for e in range(count) if level[a] < level[e]]
    chosen = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    return World(capacities, frozenset(p for p, keep in zip(pairs, chosen, strict=True) if keep))


def stay_on(world: World) -> st.SearchStrategy[Stay]:
    """A random stay on one of the world's products."""
    return st.builds(
        Stay,
        product=st.integers(0, len(world.capacities) - 1),
        first=st.integers(0, SPAN - 1),
        length=st.integers(1, LONGEST),
        units=st.integers(1, 2),
    )


@st.composite
def worlds_and_stays(draw: st.DrawFn, levels: int = len(PRODUCTS)) -> tuple[World, list[Stay]]:
    """A world and up to 8 random stays on it."""
    world = draw(worlds(levels))
    return world, draw(st.lists(stay_on(world), max_size=8))


# --- the pure core ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays())
def test_available_iff_one_more_unit_fits(case: tuple[World, list[Stay]]):
    """For random bookings on a random acyclic graph, available == a 1-unit booking would fit."""
    world, stays = case
    occupied = occupancy(world, stays)
    for product in range(len(world.capacities)):
        for night in range(SPAN):
            expected = available(world, stays, product, night)
            assert expected == occupied.night(PRODUCTS[product], day(night)).available, (
                f"product {product}, night {night}"
            )


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays(), st.data())
def test_units_fit_iff_the_oracle_says_the_booking_fits(case: tuple[World, list[Stay]], data):
    """For a random booking of 1 or 2 units, every night is available for its units iff it fits."""
    world, stays = case
    new = data.draw(stay_on(world))
    occupied = occupancy(world, stays)
    nights = range(new.first, new.first + new.length)
    assert fits(world, stays, new) == all(
        occupied.night(PRODUCTS[new.product], day(n), new.units).available for n in nights
    )


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays())
def test_feed_blocks_exactly_the_unavailable_nights(case: tuple[World, list[Stay]]):
    """The blocked ranges cover the unavailable nights, no others, merged as far as they go."""
    world, stays = case
    occupied = occupancy(world, stays)
    for product in PRODUCTS[: len(world.capacities)]:
        ranges = blocked_ranges(occupied.nights(product, day(0), day(SPAN)))
        covered = [
            first + timedelta(days=n) for first, end in ranges for n in range((end - first).days)
        ]
        unavailable = [day(n) for n in range(SPAN) if not occupied.night(product, day(n)).available]
        assert unavailable == covered
        assert all(end < later for (_, end), (later, _) in itertools.pairwise(ranges))


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays())
def test_bookings_that_fit_never_conflict(case: tuple[World, list[Stay]]):
    """Added one by one, each only where the oracle says it fits, the bookings have no conflict."""
    world, candidates = case
    accepted: list[Stay] = []
    for stay in candidates:
        if fits(world, accepted, stay):
            accepted.append(stay)
    assert [] == occupancy(world, accepted).conflicts()


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays())
def test_conflicts_are_the_nights_a_product_does_not_hold(case: tuple[World, list[Stay]]):
    """A conflict is reported for exactly the (product, night) pairs the oracle says do not hold."""
    world, stays = case
    expected = {
        (PRODUCTS[product], day(night))
        for product in range(len(world.capacities))
        for night in range(NIGHTS)
        if not holds(world, stays, product, night)
    }
    conflicts = occupancy(world, stays).conflicts()
    assert expected == {(c.product_id, c.night) for c in conflicts}


# --- the real store ------------------------------------------------------------------------


class _Undo(Exception):
    """Raised to roll back a booking that was made only to see whether it is refused."""


def _store_world(store, world: World, stays: list[Stay]) -> None:
    """Replace whatever the store holds with the world's products, links and bookings."""
    with store.write() as session:
        session.execute(delete(Product))  # cascades to links and bookings
    with store.write() as session:
        session.add_all(
            Product(id=PRODUCTS[i], name=f"p{i}", timezone="UTC", capacity=capacity,
                    feed_token=stored_products.new_feed_token(), created_at=NOW)
            for i, capacity in enumerate(world.capacities)
        )  # fmt: skip
        session.flush()
        session.add_all(
            CapacityGroupDependency(accumulator_id=PRODUCTS[a], element_id=PRODUCTS[e])
            for a, e in world.links
        )
        session.add_all(
            Booking(product_id=PRODUCTS[s.product], starts_at=midnight(s.first),
                    ends_at=midnight(s.first + s.length), all_day=True, units=s.units,
                    created_at=NOW)
            for s in stays
        )  # fmt: skip


def _book_and_undo(session, values: dict[str, object]) -> NoReturn:
    """Make the booking, then roll the transaction back (:class:`_Undo`) if it was not refused."""
    bookings.add(session, WriteContext(now=NOW, cause=TEST_CAUSE), [bookings.NewBooking(**values)])  # type: ignore[arg-type]
    raise _Undo


def _refused(store, new: Stay) -> bool:
    """Whether a direct booking of ``new`` through the bookings service is refused (409)."""
    values = {
        "product_id": PRODUCTS[new.product],
        "starts_at": midnight(new.first),
        "ends_at": midnight(new.first + new.length),
        "all_day": True,
        "units": new.units,
    }
    try:
        with store.write() as session:
            _book_and_undo(session, values)
    except Conflict:
        return True
    except _Undo:
        return False


def _feed_nights(service: FeedService, product: uuid.UUID) -> set[date]:
    """The nights the product's outbound feed blocks."""
    blocks = parse_feed(service.feed_of_product(product), parse_options(timezone="UTC")).blocks
    return {
        b.starts_at.date() + timedelta(days=n)
        for b in blocks
        for n in range((b.ends_at.date() - b.starts_at.date()).days)
    }


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the store is emptied each time
)
@given(worlds_and_stays(levels=3), st.data())
def test_the_store_agrees_with_the_oracle_over_whole_groups(
    store, case: tuple[World, list[Stay]], data
):
    """Random groups of up to 3 levels in the real store: 409s, availability, conflicts, feeds as the oracle says.

    Through the calls the API, the CLI and the feeds make, siblings included.
    """
    world, stays = case
    _store_world(store, world, stays)
    products = range(len(world.capacities))

    for new in data.draw(st.lists(stay_on(world), max_size=3), label="direct bookings tried"):
        assert (not fits(world, stays, new)) == _refused(store, new), new

    with store.read() as session:
        for product in products:
            rows = reports.availability(session, PRODUCTS[product], day(0), day(NIGHTS))
            assert [
                (load(world, stays, product, n), available(world, stays, product, n))
                for n in range(NIGHTS)
            ] == [(row["units_booked"], row["available"]) for row in rows], product
        found = reports.conflicts(session, now=NOW)
    assert {
        (str(PRODUCTS[product]), day(n).isoformat())
        for product in products
        for n in range(NIGHTS)
        if not holds(world, stays, product, n)
    } == {(c["product_id"], n) for c in found for n in c["nights"]}

    service = FeedService(store, FeedSettings(), clock=lambda: NOW)
    for product in products:
        assert {
            day(n) for n in range(NIGHTS) if not available(world, stays, product, n)
        } == _feed_nights(service, PRODUCTS[product]), product
