"""Direct bookings: the rule that stops double bookings at the door.

A new or changed direct booking of ``units`` fits when every night it occupies
(in the product's timezone) is available for that many units, after capacity
group dependencies (:mod:`calsync.core.availability`): the same availability
the outbound feeds publish, over the bookings of the product's whole connected
group. Cancelled bookings and echoes never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from calsync.core.availability import Night, Occupant, nights_of
from calsync.errors import NotFound
from calsync.store import repo
from calsync.store.models import BLOCKING_STATUSES, Booking, Product

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from sqlalchemy.orm import Session

__all__ = ["BLOCKING_STATUSES", "Collision", "collision"]


@dataclass(frozen=True, slots=True)
class Collision:
    """Why a booking does not fit: the unavailable nights and the bookings in the way."""

    nights: tuple[Night, ...]
    bookings: tuple[Booking, ...]


def collision(
    session: Session,
    product_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    all_day: bool,
    units: int,
    exclude_id: uuid.UUID | None = None,
) -> Collision | None:
    """None when the booking fits; else the nights it cannot have and who holds them.

    ``exclude_id`` is the booking being changed. The product's whole connected
    group is locked first (:func:`calsync.store.repo.lock_groups`), so two
    concurrent bookings of linked products cannot both take the last unit.
    """
    graph = repo.lock_groups(session, [product_id])
    timezone = session.scalar(select(Product.timezone).where(Product.id == product_id))
    if timezone is None:
        raise NotFound(kind="product", ident=str(product_id))
    wanted = Occupant(product_id, product_id, starts_at, ends_at, all_day, units)
    days = list(nights_of(wanted, timezone))
    if not days:
        return None
    occupancy = repo.load_occupancy(
        session,
        [product_id],
        first=days[0],
        last=days[-1] + timedelta(days=1),
        graph=graph,
        exclude_booking=exclude_id,
    )
    full = tuple(
        night for day in days if not (night := occupancy.night(product_id, day, units)).available
    )
    if not full:
        return None
    ids = {booking_id for night in full for booking_id in night.booking_ids}
    in_the_way = session.scalars(
        select(Booking).where(Booking.id.in_(ids)).order_by(Booking.starts_at, Booking.id)
    ).all()
    return Collision(full, tuple(in_the_way))
