"""Capacity group dependencies: make, change and remove links between products.

A link makes ``element`` a part of ``accumulator`` (a room of the house). A
self-link, a duplicate or a cycle is refused (409) naming the products. Every
change of links takes :func:`~calsync.store.products.lock_links` first, so it
lands before a booking's capacity check or after its commit, never in between;
both ends of a link get a new feed version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from calsync.core.availability import Graph
from calsync.errors import Conflict, NotFound
from calsync.services import issues
from calsync.services.fields import check_exists
from calsync.store import products as store

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import CapacityGroupDependency


class LinkChanges(TypedDict, total=False):
    """The fields of a link a write may set."""

    accumulator_id: uuid.UUID
    element_id: uuid.UUID


def link(
    session: Session,
    ctx: WriteContext,
    accumulator_id: uuid.UUID,
    element_id: uuid.UUID,
    *,
    row_id: uuid.UUID | None = None,
) -> CapacityGroupDependency:
    """Make ``element`` a part of ``accumulator``: each then blocks the other.

    The link gets a new id unless ``row_id`` is given.
    """
    _check_products({"accumulator_id": accumulator_id, "element_id": element_id}, session)
    store.lock_links(session)
    _check_link(session, accumulator_id, element_id)
    made = store.add_link(session, accumulator_id, element_id, now=ctx.now, link_id=row_id)
    store.touch_feed_version(session, [accumulator_id, element_id], ctx.now)
    issues.after_bookings_changed(session, [accumulator_id, element_id], now=ctx.now)
    return made


def update(
    session: Session,
    ctx: WriteContext,
    links: Sequence[CapacityGroupDependency],
    changes: LinkChanges,
) -> None:
    """Change links, each checked against the others."""
    _check_products(changes, session)
    store.lock_links(session)
    for row in links:
        _check_link(
            session,
            changes.get("accumulator_id", row.accumulator_id),
            changes.get("element_id", row.element_id),
            ignore_id=row.id,
        )
        before = (row.accumulator_id, row.element_id)
        for name, value in changes.items():
            setattr(row, name, value)
        row.updated_at = ctx.now
        session.flush()
        ends = {*before, row.accumulator_id, row.element_id}
        store.touch_feed_version(session, ends, ctx.now)
        issues.after_bookings_changed(session, ends, now=ctx.now)


def unlink(
    session: Session, ctx: WriteContext, accumulator_id: uuid.UUID, element_id: uuid.UUID
) -> None:
    """Remove the link between the two products, or :class:`NotFound`."""
    store.lock_links(session)
    found = store.find_link(session, accumulator_id, element_id)
    if found is None:
        raise NotFound(kind="capacity group dependency", ident=f"{accumulator_id} → {element_id}")
    delete(session, ctx, [found])


def delete(session: Session, ctx: WriteContext, links: Sequence[CapacityGroupDependency]) -> None:
    """Remove links; both ends of each get a new feed version."""
    store.lock_links(session)
    ends = {end for row in links for end in (row.accumulator_id, row.element_id)}
    store.delete_links(session, links)
    store.touch_feed_version(session, ends, ctx.now)
    issues.after_bookings_changed(session, ends, now=ctx.now)


def _check_products(ends: LinkChanges, session: Session) -> None:
    for field in ("accumulator_id", "element_id"):
        if field in ends:
            product_id = ends[field]
            check_exists(field, product_id, "product", lambda i: store.find_product(session, i))


def _check_link(
    session: Session,
    accumulator_id: uuid.UUID,
    element_id: uuid.UUID,
    *,
    ignore_id: uuid.UUID | None = None,
) -> None:
    """Refuse (409) a self-link, a duplicate or a cycle, naming the products.

    ``ignore_id`` is a link being changed, left out of the comparison.
    """
    names = store.product_names(session, [accumulator_id, element_id])
    details = {"accumulator_id": str(accumulator_id), "element_id": str(element_id)}
    accumulator = f"{names.get(accumulator_id, accumulator_id)!s}"
    element = f"{names.get(element_id, element_id)!s}"
    if accumulator_id == element_id:
        msg = f"product {accumulator!r} cannot be an element of itself"
        raise Conflict(msg, details=details)
    others = [ends for link_id, ends in store.links_by_id(session).items() if link_id != ignore_id]
    if (accumulator_id, element_id) in others:
        msg = f"product {element!r} is already an element of {accumulator!r}"
        raise Conflict(msg, details=details)
    if accumulator_id in Graph.of(others).descendants(element_id):
        msg = (
            f"linking {element!r} as an element of {accumulator!r} would make a cycle: "
            f"{accumulator!r} is already an element of {element!r}, directly or not"
        )
        raise Conflict(msg, details=details)
