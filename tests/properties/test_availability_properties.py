"""Availability against a brute-force oracle: a night is available iff one more unit fits."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.core.availability import (
    Graph,
    Occupancy,
    Occupant,
    ProductNode,
    blocked_ranges,
)

SPAN = 10  # nights 0..9 are checked; a stay starts in them and may run past the end
LONGEST = 4
FIRST = date(2027, 1, 1)
PRODUCTS = [uuid.uuid5(uuid.NAMESPACE_OID, f"product {i}") for i in range(6)]


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
    """Products by number, their capacities, and (accumulator, element) links with accumulator < element."""

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


def holds(world: World, stays: list[Stay], product: int, night: int) -> bool:
    """Whether ``product`` holds no more than it can on ``night``, straight from DESIGN §6.

    * Its load is the units of the bookings on it or on anything it is made of (each booking
      once, however many paths lead to it); the load may not exceed its capacity.
    * A booking on anything it is part of takes it *whole*: then nothing else may use it, so
      its load must be 0 and that booking must be the only one taking it whole.
    """
    tonight = [s for s in stays if s.covers(night)]
    members = {product} | world.below(product)
    load = sum(s.units for s in tonight if s.product in members)
    wholes = [s for s in tonight if s.product in world.above(product)]
    if wholes:
        return load == 0 and len(wholes) == 1
    return load <= world.capacities[product]


def fits(world: World, stays: list[Stay], new: Stay) -> bool:
    """Whether ``new`` can join ``stays``: each product it lands on still holds, every night.

    It lands on its own product, on what that is made of (taken whole) and on what that is
    part of (one more unit). Products unrelated to it keep whatever trouble they already had.
    """
    after = [*stays, new]
    related = {new.product} | world.below(new.product) | world.above(new.product)
    nights = range(new.first, new.first + new.length)
    return all(holds(world, after, product, night) for product in related for night in nights)


def day(night: int) -> date:
    return FIRST + timedelta(days=night)


def occupancy(world: World, stays: list[Stay]) -> Occupancy:
    """The module's view of the same world."""
    products = [ProductNode(PRODUCTS[i], c) for i, c in enumerate(world.capacities)]
    occupants = [
        Occupant(
            id=uuid.uuid5(uuid.NAMESPACE_OID, f"booking {n}"),
            product_id=PRODUCTS[s.product],
            starts_at=datetime.combine(day(s.first), time(), tzinfo=UTC),
            ends_at=datetime.combine(day(s.first + s.length), time(), tzinfo=UTC),
            all_day=True,
            units=s.units,
        )
        for n, s in enumerate(stays)
    ]
    graph = Graph.of((PRODUCTS[a], PRODUCTS[e]) for a, e in world.links)
    return Occupancy.of(products, occupants, graph)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """1–6 products of capacity 1–3, linked only from a lower number to a higher (so acyclic)."""
    count = draw(st.integers(1, len(PRODUCTS)))
    capacities = tuple(draw(st.lists(st.integers(1, 3), min_size=count, max_size=count)))
    pairs = [(a, e) for a in range(count) for e in range(a + 1, count)]
    chosen = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    return World(capacities, frozenset(p for p, keep in zip(pairs, chosen, strict=True) if keep))


@st.composite
def worlds_and_stays(draw: st.DrawFn) -> tuple[World, list[Stay]]:
    """A world and up to 8 random stays on it, overlapping or not."""
    world = draw(worlds())
    stay = st.builds(
        Stay,
        product=st.integers(0, len(world.capacities) - 1),
        first=st.integers(0, SPAN - 1),
        length=st.integers(1, LONGEST),
        units=st.integers(1, 2),
    )
    return world, draw(st.lists(stay, max_size=8))


@settings(max_examples=300, deadline=None)
@given(worlds_and_stays())
def test_available_iff_one_more_unit_fits(case: tuple[World, list[Stay]]):
    """For random bookings on a random acyclic graph, available == a 1-unit booking would fit."""
    world, stays = case
    occupied = occupancy(world, stays)
    for product in range(len(world.capacities)):
        for night in range(SPAN):
            expected = fits(world, stays, Stay(product, night, 1, 1))
            assert expected == occupied.night(PRODUCTS[product], day(night)).available, (
                f"product {product}, night {night}"
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
        for night in range(SPAN + LONGEST)
        if not holds(world, stays, product, night)
    }
    conflicts = occupancy(world, stays).conflicts()
    assert expected == {(c.product_id, c.night) for c in conflicts}
