"""Occupancy per night, capacities and capacity group dependencies (DESIGN §6). Pure.

The rule, written once here; the 409 check of a direct booking, availability, the
conflict report and every outbound feed all call it. For a product p and a night n:

* **own(p, n)**: the units booked on p itself that night. The imports of one
  external calendar never count for more than that calendar's ``units`` (Smoobu
  lists a stay three times), and echoes (``echo_of`` set: a channel re-exporting
  what calsync sent it) are not occupants at all.
* **occupancy(p, n)** = own(p, n) + Σ own(q, n) over every q below p: its elements,
  their elements, and so on, each product once (a diamond counts a booking once).
  So an accumulator's capacity caps the sum over *all* its elements: the rooms
  of a hotel of capacity 2 are siblings, and two of them booked fill it.
* A booking on an accumulator takes every product below it **whole**.
* p is **full** for u more units when occupancy(p, n) + u > capacity(p), or when
  a product above p is booked that night (p is taken whole).
* **Available**: a night is available for u units of p when neither p nor any
  product above p is full for u units, and, when p is an accumulator, nothing
  below p is *taken* (booked, or taken whole by another accumulator of it): the
  new booking would take them whole. A room's night is therefore unavailable when
  its hotel is full, whichever rooms filled it.
* **The 409 check**: a direct booking of u units fits when each of its nights is
  available for u units; otherwise it is refused, naming the nights and the
  bookings in the way. Imports are never refused: a channel's booking is a fact.
* **A conflict** is a night on which a product holds more than it can: more than
  its capacity with nothing above it booked; or, taken whole, anything else on
  it too (its own occupancy, or a second whole booking).
* **The outbound feed** of a product blocks exactly its unavailable nights.

Whether a night is available depends on every product connected to p through
capacity group dependencies, up and down (siblings, and the other accumulators
of those), so an :class:`Occupancy` is built from the bookings of whole connected
groups (:meth:`Graph.group`).

Only the nights asked for are looked at: an :class:`Occupancy` covers a window
of nights, and each booking is clipped to it, so a booking that spans centuries
costs the nights of the window, not its own.

A timed booking occupies each night it overlaps in the product's timezone: a
check-in at 15:00 and a check-out at 11:00 two days later occupy the two nights
between; a booking within one day occupies that day's night.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable, Iterator, Mapping, Sequence


class DependencyCycleError(ValueError):
    """Linking these products would make a product an element of itself."""


@dataclass(frozen=True, slots=True)
class ProductNode:
    """A product as availability sees it."""

    id: uuid.UUID
    capacity: int
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Occupant:
    """A booking as availability sees it."""

    id: uuid.UUID
    product_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    units: int = 1
    external_calendar_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Night:
    """One night of one product: what is booked, and whether one more unit fits."""

    product_id: uuid.UUID
    night: date
    units_booked: int
    capacity: int
    available: bool
    booking_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    """A night on which a product holds more than it can: a double booking that happened."""

    product_id: uuid.UUID
    night: date
    units_booked: int
    capacity: int
    booking_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class Graph:
    """The capacity group dependencies: accumulator → elements, and the way back."""

    elements: Mapping[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)
    accumulators: Mapping[uuid.UUID, frozenset[uuid.UUID]] = field(default_factory=dict)
    _closures: dict[tuple[str, uuid.UUID], frozenset[uuid.UUID]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def of(cls, links: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> Graph:
        """Build from (accumulator, element) pairs; raise on a cycle."""
        elements: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        accumulators: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        for accumulator, element in links:
            elements[accumulator].add(element)
            accumulators[element].add(accumulator)
        graph = cls(
            {k: frozenset(v) for k, v in elements.items()},
            {k: frozenset(v) for k, v in accumulators.items()},
        )
        for product in elements:
            if product in graph.descendants(product):
                msg = f"product {product} would be an element of itself"
                raise DependencyCycleError(msg)
        return graph

    def descendants(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """Every element of ``product``, transitively: the products below it."""
        return self._closure("down", product, (self.elements,))

    def ancestors(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """Every accumulator ``product`` belongs to, transitively: the products above it."""
        return self._closure("up", product, (self.accumulators,))

    def related(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """The product, the products below it and those above it (not its siblings)."""
        return self.descendants(product) | self.ancestors(product) | {product}

    def group(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """The connected group of ``product``: every product reachable through links, up and down.

        Siblings, their other accumulators, and so on: every product whose bookings
        can change whether a night of ``product`` is available.
        """
        return self._closure("group", product, (self.elements, self.accumulators)) | {product}

    def groups(self, products: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
        """The union of the connected groups of ``products``."""
        return frozenset().union(*(self.group(product) for product in products))

    def _closure(
        self,
        direction: str,
        start: uuid.UUID,
        edges: Sequence[Mapping[uuid.UUID, frozenset[uuid.UUID]]],
    ) -> frozenset[uuid.UUID]:
        key = (direction, start)
        found = self._closures.get(key)
        if found is None:
            found = self._closures[key] = _closure(start, edges)
        return found


def _closure(
    start: uuid.UUID, edges: Sequence[Mapping[uuid.UUID, frozenset[uuid.UUID]]]
) -> frozenset[uuid.UUID]:
    """Every node reachable from ``start`` (``start`` itself only through a cycle)."""
    seen: set[uuid.UUID] = set()
    stack = [node for edge in edges for node in edge.get(start, ())]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(other for edge in edges for other in edge.get(node, ()))
    return frozenset(seen)


def check_link(
    links: Iterable[tuple[uuid.UUID, uuid.UUID]], accumulator: uuid.UUID, element: uuid.UUID
) -> None:
    """Raise :class:`DependencyCycleError` if linking would make a cycle (a self-link too)."""
    if accumulator == element:
        msg = f"product {accumulator} cannot be an element of itself"
        raise DependencyCycleError(msg)
    Graph.of([*links, (accumulator, element)])


def nights_of(
    occupant: Occupant, timezone: str, *, first: date = date.min, last: date = date.max
) -> Iterator[date]:
    """The nights a booking occupies (see the module docstring), only those in [first, last)."""
    if occupant.all_day:
        start, end = occupant.starts_at.date(), occupant.ends_at.date()
    else:
        zone = ZoneInfo(timezone)
        start = occupant.starts_at.astimezone(zone).date()
        end = max(occupant.ends_at.astimezone(zone).date(), start + timedelta(days=1))
    day, end = max(start, first), min(end, last)
    while day < end:
        yield day
        day += timedelta(days=1)


@dataclass(frozen=True)
class Occupancy:
    """Who occupies which product on which night of a window, with calendar caps and echoes applied.

    It answers for the nights in [first, last) only, and for the products it was
    given: give it whole connected groups (:meth:`Graph.group`).
    """

    products: Mapping[uuid.UUID, ProductNode]
    graph: Graph
    first: date
    last: date
    # (product, night) → {calendar or booking key: (units, booking ids)}
    _own: Mapping[tuple[uuid.UUID, date], Mapping[object, tuple[int, tuple[uuid.UUID, ...]]]]

    @classmethod
    def of(
        cls,
        products: Iterable[ProductNode],
        occupants: Iterable[Occupant],
        graph: Graph,
        *,
        first: date,
        last: date,
        calendar_units: Mapping[uuid.UUID, int] | None = None,
    ) -> Occupancy:
        """Index the occupants by product and night, for the nights in [first, last)."""
        nodes = {product.id: product for product in products}
        caps = calendar_units or {}
        own: dict[tuple[uuid.UUID, date], dict[object, tuple[int, tuple[uuid.UUID, ...]]]] = (
            defaultdict(dict)
        )
        for occupant in occupants:
            node = nodes.get(occupant.product_id)
            if node is None:
                continue
            source: object = occupant.external_calendar_id or occupant.id
            for night in nights_of(occupant, node.timezone, first=first, last=last):
                slot = own[(occupant.product_id, night)]
                units, ids = slot.get(source, (0, ()))
                units += occupant.units
                if occupant.external_calendar_id is not None:
                    units = min(units, caps.get(occupant.external_calendar_id, units))
                slot[source] = (units, (*ids, occupant.id))
        return cls(nodes, graph, first, last, own)

    def own(self, product: uuid.UUID, night: date) -> tuple[int, tuple[uuid.UUID, ...]]:
        """Units booked on the product itself that night (own(p, n)), and by which bookings."""
        slot = self._own.get((product, night), {})
        units = sum(u for u, _ in slot.values())
        return units, tuple(i for _, ids in slot.values() for i in ids)

    def consumed(self, product: uuid.UUID, night: date) -> tuple[int, tuple[uuid.UUID, ...]]:
        """Units booked on the product and everything below it, each once (occupancy)."""
        units = 0
        ids: list[uuid.UUID] = []
        for member in (product, *self.graph.descendants(product)):
            own_units, own_ids = self.own(member, night)
            units += own_units
            ids.extend(own_ids)
        return units, tuple(ids)

    def night(self, product: uuid.UUID, night: date, units: int = 1) -> Night:
        """The product's night: units booked, capacity, whether ``units`` more fit, and why not.

        ``booking_ids`` are the bookings on the product and below it, and, when the
        night is unavailable, those that make it so: a booked product above it, the
        bookings that fill a full product above it, those that take a product below
        it whole.
        """
        if not self.first <= night < self.last:
            msg = f"night {night} is outside the nights loaded, {self.first} to {self.last}"
            raise ValueError(msg)
        node = self.products[product]
        consumed, ids = self.consumed(product, night)
        causes = list(ids)
        available = consumed + units <= node.capacity
        for above in self.graph.ancestors(product):
            booked, booked_ids = self.own(above, night)
            if booked > 0:  # takes the product whole
                available = False
                causes.extend(booked_ids)
            elif above in self.products:
                filled, filled_ids = self.consumed(above, night)
                if filled + units > self.products[above].capacity:
                    available = False
                    causes.extend(filled_ids)
        for below in self.graph.descendants(product):
            if self._taken(below, night):  # the new booking would take it whole
                available = False
                causes.extend(i for a in self.graph.ancestors(below) for i in self.own(a, night)[1])
        return Night(
            product, night, consumed, node.capacity, available, tuple(dict.fromkeys(causes))
        )

    def _wholes(self, product: uuid.UUID, night: date) -> int:
        """Bookings (one per calendar) on products above ``product`` that night: each takes it."""
        return sum(
            1
            for a in self.graph.ancestors(product)
            for units, _ in self._own.get((a, night), {}).values()
            if units > 0
        )

    def _taken(self, product: uuid.UUID, night: date) -> bool:
        """Whether anything occupies the product: its own bookings, or a booked accumulator."""
        return self.consumed(product, night)[0] > 0 or self._wholes(product, night) > 0

    def nights(self, product: uuid.UUID, first: date, last: date) -> list[Night]:
        """Every night from ``first`` up to (not including) ``last``."""
        days = (last - first).days
        return [self.night(product, first + timedelta(days=n)) for n in range(max(days, 0))]

    def occupied_nights(self) -> set[date]:
        """Every night on which anything is booked (the nights worth looking at)."""
        return {night for _, night in self._own}

    def conflicts(self) -> list[Conflict]:
        """Nights a product holds more than it can: over capacity, or under a booked whole."""
        found: list[Conflict] = []
        for night in sorted(self.occupied_nights()):
            for product, node in self.products.items():
                consumed, ids = self.consumed(product, night)
                whole = self._wholes(product, night)
                if whole == 0 and consumed <= node.capacity:
                    continue
                if whole == 1 and consumed == 0:
                    continue
                booked_above = [
                    a for a in self.graph.ancestors(product) if self.own(a, night)[0] > 0
                ]
                above = tuple(i for a in booked_above for i in self.own(a, night)[1])
                total = consumed + sum(self.own(a, night)[0] for a in booked_above)
                found.append(Conflict(product, night, total, node.capacity, ids + above))
        return found


def blocked_ranges(nights: Sequence[Night]) -> list[tuple[date, date]]:
    """Unavailable nights merged into as few [first, check-out) date ranges as possible."""
    ranges: list[tuple[date, date]] = []
    for item in sorted(nights, key=lambda n: n.night):
        if item.available:
            continue
        if ranges and ranges[-1][1] == item.night:
            ranges[-1] = (ranges[-1][0], item.night + timedelta(days=1))
        else:
            ranges.append((item.night, item.night + timedelta(days=1)))
    return ranges
