"""Occupancy per night, capacities and capacity group dependencies (DESIGN §6). Pure.

The model:

* A booking of ``u`` units on product Q *consumes* ``u`` units of Q and of every
  product Q is (transitively) an element of: the accumulator's occupancy is the
  sum of its elements' (a booked room occupies the house).
* A booking on an accumulator occupies every (transitive) element *whole*: the
  booked house blocks each room.
* Product X is **available** on a night when one more unit booked on X would fit
  everywhere it lands: X and each of its accumulators keep ``consumed + 1 <=
  capacity``; no accumulator of X is booked that night; and no element of X is
  occupied that night (the new booking would take them whole).
* The imports of one external calendar never count for more than that
  calendar's ``units`` on a night (Smoobu lists a stay three times), and echoes
  (``echo_of`` set: a channel re-exporting what calsync sent it) count for nothing.

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
        """Every element of ``product``, transitively."""
        return _closure(product, self.elements)

    def ancestors(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """Every accumulator ``product`` belongs to, transitively."""
        return _closure(product, self.accumulators)

    def related(self, product: uuid.UUID) -> frozenset[uuid.UUID]:
        """The product, its elements and its accumulators: whose bookings affect it."""
        return self.descendants(product) | self.ancestors(product) | {product}


def _closure(
    start: uuid.UUID, edges: Mapping[uuid.UUID, frozenset[uuid.UUID]]
) -> frozenset[uuid.UUID]:
    seen: set[uuid.UUID] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return frozenset(seen)


def check_link(
    links: Iterable[tuple[uuid.UUID, uuid.UUID]], accumulator: uuid.UUID, element: uuid.UUID
) -> None:
    """Raise :class:`DependencyCycleError` if linking would make a cycle (a self-link too)."""
    if accumulator == element:
        msg = f"product {accumulator} cannot be an element of itself"
        raise DependencyCycleError(msg)
    Graph.of([*links, (accumulator, element)])


def nights_of(occupant: Occupant, timezone: str) -> Iterator[date]:
    """The nights a booking occupies (see the module docstring)."""
    if occupant.all_day:
        first, last = occupant.starts_at.date(), occupant.ends_at.date()
    else:
        zone = ZoneInfo(timezone)
        first = occupant.starts_at.astimezone(zone).date()
        last = max(occupant.ends_at.astimezone(zone).date(), first + timedelta(days=1))
    day = first
    while day < last:
        yield day
        day += timedelta(days=1)


@dataclass(frozen=True)
class Occupancy:
    """Who occupies which product on which night, with calendar caps and echoes applied."""

    products: Mapping[uuid.UUID, ProductNode]
    graph: Graph
    # (product, night) → {calendar or booking key: (units, booking ids)}
    _own: Mapping[tuple[uuid.UUID, date], Mapping[object, tuple[int, tuple[uuid.UUID, ...]]]]

    @classmethod
    def of(
        cls,
        products: Iterable[ProductNode],
        occupants: Iterable[Occupant],
        graph: Graph,
        *,
        calendar_units: Mapping[uuid.UUID, int] | None = None,
    ) -> Occupancy:
        """Index the occupants by product and night."""
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
            for night in nights_of(occupant, node.timezone):
                slot = own[(occupant.product_id, night)]
                units, ids = slot.get(source, (0, ()))
                units += occupant.units
                if occupant.external_calendar_id is not None:
                    units = min(units, caps.get(occupant.external_calendar_id, units))
                slot[source] = (units, (*ids, occupant.id))
        return cls(nodes, graph, own)

    def own(self, product: uuid.UUID, night: date) -> tuple[int, tuple[uuid.UUID, ...]]:
        """Units booked on the product itself that night, and by which bookings."""
        slot = self._own.get((product, night), {})
        units = sum(u for u, _ in slot.values())
        return units, tuple(i for _, ids in slot.values() for i in ids)

    def consumed(self, product: uuid.UUID, night: date) -> tuple[int, tuple[uuid.UUID, ...]]:
        """Units consumed on the product and its elements that night (each product once)."""
        units = 0
        ids: list[uuid.UUID] = []
        for member in (product, *self.graph.descendants(product)):
            own_units, own_ids = self.own(member, night)
            units += own_units
            ids.extend(own_ids)
        return units, tuple(ids)

    def night(self, product: uuid.UUID, night: date, units: int = 1) -> Night:
        """The product's night: units booked, capacity, and whether ``units`` more fit."""
        node = self.products[product]
        consumed, ids = self.consumed(product, night)
        booked_above = [a for a in self.graph.ancestors(product) if self.own(a, night)[0] > 0]
        available = (
            consumed + units <= node.capacity
            and not booked_above
            and not any(self._taken(d, night) for d in self.graph.descendants(product))
            and all(
                self.consumed(a, night)[0] + units <= self.products[a].capacity
                for a in self.graph.ancestors(product)
                if a in self.products
            )
        )
        above_ids = tuple(i for a in booked_above for i in self.own(a, night)[1])
        return Night(product, night, consumed, node.capacity, available, ids + above_ids)

    def _wholes(self, product: uuid.UUID, night: date) -> int:
        """Bookings (one per calendar) on accumulators of ``product`` that night: each takes it."""
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
                booked_above = [
                    a for a in self.graph.ancestors(product) if self.own(a, night)[0] > 0
                ]
                whole = self._wholes(product, night)
                over = consumed > node.capacity or (whole > 0 and consumed > 0) or whole > 1
                if over:
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
