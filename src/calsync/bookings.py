"""Direct bookings: the overlap rule that keeps a product within its capacity.

A product has ``capacity`` units. A new or changed direct booking of ``units``
over ``[starts_at, ends_at)`` fits when, at every instant of that interval, the
units of the product's other *confirmed* and *tentative* bookings plus its own
stay within the capacity: the peak of concurrent units counts, not their sum, so
two one-unit stays that follow each other on a capacity-1 product do not
conflict. Cancelled bookings never conflict. (Capacity across linked products,
DESIGN §6, comes later and belongs in :func:`conflicting_bookings` too.)
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from sqlalchemy import select

from calsync.errors import NotFound
from calsync.store.models import Booking, Product

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.orm import Session

BLOCKING_STATUSES = ("confirmed", "tentative")
"""Statuses that occupy units; ``cancelled`` does not."""


def conflicting_bookings(
    session: Session,
    product_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    units: int,
    exclude_id: uuid.UUID | None = None,
) -> list[Booking]:
    """The bookings in the way of ``units`` more over ``[starts_at, ends_at)``, by start.

    Empty when the booking fits. When ``units`` alone exceed the capacity, every
    overlapping booking is in the way (and the list may be empty: the caller
    compares ``units`` with the capacity too). ``exclude_id`` is the booking
    being changed. The product's row is locked (``FOR UPDATE`` on PostgreSQL;
    SQLite's write transactions are serialised anyway), so two concurrent
    requests cannot both take the last unit.
    """
    product = session.scalar(select(Product).where(Product.id == product_id).with_for_update())
    if product is None:
        raise NotFound(kind="product", ident=str(product_id))
    query = (
        select(Booking)
        .where(
            Booking.product_id == product_id,
            Booking.status.in_(BLOCKING_STATUSES),
            Booking.starts_at < ends_at,
            Booking.ends_at > starts_at,
        )
        .order_by(Booking.starts_at, Booking.id)
    )
    if exclude_id is not None:
        query = query.where(Booking.id != exclude_id)
    overlapping = list(session.scalars(query))
    boundaries = sorted(
        {starts_at, ends_at}
        | {b.starts_at for b in overlapping if starts_at < b.starts_at < ends_at}
        | {b.ends_at for b in overlapping if starts_at < b.ends_at < ends_at}
    )
    in_the_way: set[uuid.UUID] = set()
    for segment_start, segment_end in pairwise(boundaries):
        present = [
            b for b in overlapping if b.starts_at < segment_end and b.ends_at > segment_start
        ]
        if sum(b.units for b in present) + units > product.capacity:
            in_the_way.update(b.id for b in present)
    return [b for b in overlapping if b.id in in_the_way]
