"""Products: add, change, remove, and rotate the secret of their feed URL.

A product's name is one line of plain text (1 to 200 characters), its timezone
an IANA name (``products.default_timezone`` when not given), its capacity at
least one unit. A change of any of them changes what its outbound feed shows
(the calendar's name, the nights), so it moves the feed version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from calsync.errors import Conflict
from calsync.services import issues
from calsync.services.calendars import journal_removals
from calsync.services.fields import NAME, TIMEZONE, UNITS
from calsync.services.journal import Journal
from calsync.store import products as store
from calsync.store.bookings import booking_states
from calsync.store.history import FeedReader, feed_readers

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import Product


class ProductChanges(TypedDict, total=False):
    """The fields of a product a write may set."""

    name: str
    timezone: str
    capacity: int


_RULES: dict[str, Any] = {"name": NAME, "timezone": TIMEZONE, "capacity": UNITS}


def check(changes: ProductChanges) -> ProductChanges:
    """The values, checked (a 400 naming the first field that is wrong)."""
    for name, value in changes.items():
        _RULES[name].check(name, value)
    return changes


def add(
    session: Session,
    ctx: WriteContext,
    *,
    name: str,
    timezone: str | None = None,
    capacity: int = 1,
    row_id: uuid.UUID | None = None,
) -> Product:
    """A new product with a new feed token (and a new id unless ``row_id`` is given)."""
    values = check({"name": name, "timezone": timezone or ctx.default_timezone,
                    "capacity": capacity})  # fmt: skip
    return store.add_product(
        session,
        product_id=row_id,
        name=values["name"],
        timezone=values["timezone"],
        capacity=values["capacity"],
        now=ctx.now,
    )


def update(
    session: Session, ctx: WriteContext, products: Sequence[Product], changes: ProductChanges
) -> None:
    """Rename, move to another timezone, change the capacity; the feeds follow."""
    check(changes)
    changed: set[uuid.UUID] = set()
    for product in products:
        for name, value in changes.items():
            if getattr(product, name) != value:
                setattr(product, name, value)
                changed.add(product.id)
        product.updated_at = ctx.now
    session.flush()
    store.touch_feed_version(session, changed, ctx.now)
    if "capacity" in changes:
        issues.after_bookings_changed(session, changed, now=ctx.now)


@dataclass(frozen=True, slots=True)
class Removed:
    """What went (or would go) with a removed product."""

    calendars: int
    bookings: int

    def __str__(self) -> str:
        """``1 external calendar and 3 bookings``."""
        return (
            f"{_count(self.calendars, 'external calendar')} and {_count(self.bookings, 'booking')}"
        )


def remove(
    session: Session, ctx: WriteContext, products: Sequence[Product], *, force: bool
) -> Removed:
    """Delete products with their calendars and bookings; linked products' feeds follow.

    Without ``force`` a product that still has calendars or bookings is refused
    (409), saying what removing it would delete.
    """
    calendars = bookings = 0
    for product in products:
        held = store.contents(session, product.id)
        if any(held) and not force:
            raise Conflict(
                f"product {product.name!r} has {Removed(*held)}: removing it deletes them too; "
                "add --force to remove it with them",
                details={"product_id": str(product.id), "external_calendars": held[0],
                         "bookings": held[1]},
            )  # fmt: skip
        calendars, bookings = calendars + held[0], bookings + held[1]
    ids = [product.id for product in products]
    journal = Journal(session, ctx.cause, ctx.now)
    journal_removals(journal, booking_states(session, product_ids=ids))
    store.delete_products(session, products, now=ctx.now)
    journal.write()
    issues.after_bookings_changed(session, ids, now=ctx.now)
    return Removed(calendars, bookings)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def rotate_feed_token(session: Session, ctx: WriteContext, product_id: uuid.UUID) -> Product:
    """A new feed token: the product's old feed and export URLs answer 404 from now on."""
    del ctx  # the same signature as every write; the token is all that changes
    return store.rotate_feed_token(store.get_product(session, product_id))


def get(session: Session, product_id: uuid.UUID) -> Product:
    """The product with this id, or :class:`~calsync.errors.NotFound`."""
    return store.get_product(session, product_id)


def listed(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return store.list_products(session)


def readers(session: Session, product_id: uuid.UUID) -> list[FeedReader]:
    """Who reads the product's feed: per channel and export URL, newest first."""
    store.get_product(session, product_id)
    return feed_readers(session, product_id=product_id)
