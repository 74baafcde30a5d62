"""Products, their capacity group dependencies (links), the group locks and the feed versions.

Every function takes the caller's session, so a write stays one transaction.

A product's outbound feed version (``bookings_changed_at``) moves by one
mechanism, :func:`touch_feed_version`, called by every writer that changes
what a product's feed shows. A commit of this process that touched a product
or removed one of its calendars is counted in :data:`local_feed_changes`, so
the feeds served from this process's memory are checked again at once.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from calsync.core.availability import Graph
from calsync.errors import NotFound
from calsync.store.models import Booking, CapacityGroupDependency, ExternalCalendar, Product

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

_FEED_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What :func:`new_feed_token` makes: 32 bytes in unpadded URL-safe base64."""


def new_feed_token() -> str:
    """32 random bytes, URL-safe: the secret in a product's outbound feed URL."""
    return secrets.token_urlsafe(32)


def is_feed_token(token: str) -> bool:
    """Whether ``token`` can be a feed token at all (no database needed to refuse it)."""
    return _FEED_TOKEN.fullmatch(token) is not None


# --- products --------------------------------------------------------------------------


def add_product(
    session: Session,
    *,
    name: str,
    timezone: str,
    capacity: int,
    now: datetime,
    product_id: uuid.UUID | None = None,
) -> Product:
    """Insert a product with a new feed token (and a new id unless ``product_id`` is given)."""
    product = Product(
        id=product_id or uuid.uuid4(),
        name=name,
        timezone=timezone,
        capacity=capacity,
        feed_token=new_feed_token(),
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.flush()
    return product


def get_product(session: Session, product_id: uuid.UUID) -> Product:
    """The product with this id, or :class:`NotFound`."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(kind="product", ident=str(product_id))
    return product


def find_product(session: Session, product_id: uuid.UUID) -> Product | None:
    """The product with this id, or None."""
    return session.get(Product, product_id)


def list_products(session: Session) -> Sequence[Product]:
    """Every product, oldest first."""
    return session.scalars(select(Product).order_by(Product.created_at, Product.id)).all()


def product_ids(session: Session) -> list[uuid.UUID]:
    """The id of every product."""
    return list(session.scalars(select(Product.id)))


def product_by_token(session: Session, token: str) -> Product | None:
    """The product whose feed token this is, or None."""
    return session.scalar(select(Product).where(Product.feed_token == token))


def product_names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The name of each of these products that exists."""
    rows = session.execute(select(Product.id, Product.name).where(Product.id.in_(list(ids))))
    return dict(rows.all())


def feed_tokens(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The feed token of each of these products."""
    rows = session.execute(select(Product.id, Product.feed_token).where(Product.id.in_(list(ids))))
    return dict(rows.all())


def product_versions(
    session: Session, ids: Iterable[uuid.UUID]
) -> list[tuple[uuid.UUID, datetime, int, str]]:
    """(id, feed version, capacity, timezone) of each of these products, by id.

    A product's version is its ``bookings_changed_at``, or its ``created_at``
    before anything changed.
    """
    rows = session.execute(
        select(
            Product.id,
            Product.bookings_changed_at,
            Product.created_at,
            Product.capacity,
            Product.timezone,
        )
        .where(Product.id.in_(list(ids)))
        .order_by(Product.id)
    )
    return [
        (pid, changed or created, capacity, zone) for pid, changed, created, capacity, zone in rows
    ]


def contents(session: Session, product_id: uuid.UUID) -> tuple[int, int]:
    """How many external calendars and bookings the product has: what removing it deletes."""
    calendars = session.scalar(
        select(func.count()).where(ExternalCalendar.product_id == product_id)
    )
    bookings = session.scalar(select(func.count()).where(Booking.product_id == product_id))
    return int(calendars or 0), int(bookings or 0)


def rotate_feed_token(product: Product) -> Product:
    """Give a product a new feed token: its old feed URLs answer 404 from now on."""
    product.feed_token = new_feed_token()
    return product


def delete_products(session: Session, products: Sequence[Product], *, now: datetime) -> None:
    """Delete products (the database cascades to calendars, bookings and links).

    The products linked to them get a new feed version: their groups changed.
    """
    deleted = {product.id for product in products}
    graph = Graph.of(dependency_links(session))
    linked = {other for product_id in deleted for other in graph.related(product_id)}
    touch_feed_version(session, linked - deleted, now)
    for product in products:
        session.delete(product)
    session.flush()


# --- feed versions ---------------------------------------------------------------------


def touch_feed_version(session: Session, ids: Iterable[uuid.UUID], now: datetime) -> None:
    """Move the outbound feed version (``bookings_changed_at``) of these products.

    Every writer that changes what a product's feed shows (a booking's nights or
    status, an echo mark, a capacity link, a calendar's units or removal, the
    product's name, timezone or capacity) calls this, once per transaction and
    product. The version moves strictly forward, to ``now`` or a microsecond past
    the last one (a new product's is its ``created_at``), so two changes never
    share a version whatever the clock says.
    """
    wanted = set(ids)
    if not wanted:
        return
    for product in session.scalars(select(Product).where(Product.id.in_(wanted))):
        last = product.bookings_changed_at or product.created_at  # the feeds' version
        product.bookings_changed_at = max(now, last + timedelta(microseconds=1))


class _LocalFeedChanges:
    """Counts the commits of this process that may change a feed (see the module docstring)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.count += 1


local_feed_changes = _LocalFeedChanges()
"""``count`` moves when a transaction of this process that may change a feed commits."""
_TOUCHED_FEEDS = "calsync_touched_feeds"


@event.listens_for(Session, "after_flush")
def _note_feed_changes(session: Session, _context: object) -> None:
    """Mark a transaction that changed a product (its bookings, its links) or deleted a calendar."""
    if any(isinstance(row, Product) for row in (*session.new, *session.dirty)) or any(
        isinstance(row, Product | ExternalCalendar) for row in session.deleted
    ):
        session.info[_TOUCHED_FEEDS] = True


@event.listens_for(Session, "after_commit")
def _count_feed_changes(session: Session) -> None:
    if session.info.pop(_TOUCHED_FEEDS, False):
        local_feed_changes.bump()


@event.listens_for(Session, "after_rollback")
def _forget_feed_changes(session: Session) -> None:
    session.info.pop(_TOUCHED_FEEDS, None)


# --- capacity group dependencies -------------------------------------------------------


def dependency_links(session: Session) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Every (accumulator, element) pair."""
    rows = session.execute(
        select(CapacityGroupDependency.accumulator_id, CapacityGroupDependency.element_id)
    )
    return [(accumulator, element) for accumulator, element in rows]


def links_by_id(session: Session) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]]:
    """Every link's (accumulator, element), by the link's id."""
    rows = session.execute(
        select(
            CapacityGroupDependency.id,
            CapacityGroupDependency.accumulator_id,
            CapacityGroupDependency.element_id,
        )
    )
    return {link_id: (accumulator, element) for link_id, accumulator, element in rows}


def add_link(
    session: Session,
    accumulator_id: uuid.UUID,
    element_id: uuid.UUID,
    *,
    now: datetime,
    link_id: uuid.UUID | None = None,
) -> CapacityGroupDependency:
    """Insert the link ``element`` → ``accumulator`` (checked by the caller)."""
    link = CapacityGroupDependency(
        id=link_id or uuid.uuid4(), accumulator_id=accumulator_id, element_id=element_id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(link)
    session.flush()
    return link


def find_link(
    session: Session, accumulator_id: uuid.UUID, element_id: uuid.UUID
) -> CapacityGroupDependency | None:
    """The link between the two products, or None."""
    return session.scalar(
        select(CapacityGroupDependency).where(
            CapacityGroupDependency.accumulator_id == accumulator_id,
            CapacityGroupDependency.element_id == element_id,
        )
    )


def delete_links(session: Session, links: Sequence[CapacityGroupDependency]) -> None:
    """Delete these links."""
    for link in links:
        session.delete(link)
    session.flush()


_LINKS_LOCK = 0x6C696E6B  # "link": PostgreSQL advisory lock over the capacity group dependencies


def lock_groups(session: Session, ids: Iterable[uuid.UUID]) -> Graph:
    """Serialize this transaction's writes with every other write to these products' groups.

    Call it before checking capacity, in the transaction that then writes the
    booking; it returns the links, read under the lock. On PostgreSQL:

    1. a transaction-level *shared* advisory lock on the links: many bookings hold
       it at once, but no link is made, changed or removed (:func:`lock_links`
       takes it exclusively) until this transaction ends, so the connected group
       read next stays the group until the booking commits;
    2. ``SELECT … FOR UPDATE`` of every product of the groups, in id order (a fixed
       order, so two bookings of overlapping groups cannot deadlock). A second
       booking of the group waits here until the first commits, and then reads its
       bookings (READ COMMITTED reads what is committed at each statement).

    A bulk write locks the groups of all its products with one call, before the
    first check, for the same reason. On SQLite every write transaction is
    serialized already (``BEGIN IMMEDIATE``, see :mod:`calsync.store.db`) and the
    locks are not needed.
    """
    wanted = set(ids)
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _LINKS_LOCK})
    graph = Graph.of(dependency_links(session))
    session.execute(
        select(Product.id)
        .where(Product.id.in_(graph.groups(wanted)))
        .order_by(Product.id)
        .with_for_update()
    )
    return graph


def lock_links(session: Session) -> None:
    """Wait until no write holds :func:`lock_groups`, and keep them out until this transaction ends.

    Every change of capacity group dependencies takes it first, so a link made or
    removed at the same time as a booking lands before the booking's check or
    after its commit, never in between. It also keeps two links made at once from
    closing a cycle that each alone would not.
    """
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LINKS_LOCK})


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
