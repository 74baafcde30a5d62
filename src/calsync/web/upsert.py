"""Upserts: a POST with ``Prefer: resolution=merge-duplicates`` or ``ignore-duplicates``.

As in PostgREST, each item is matched on ``on_conflict`` (the ``id`` by default;
a resource's other unique keys, like a booking's ``product_id,reference``, may be
named): an item whose key matches a row is merged into it (its fields applied as
a PATCH would, through the same service) or left out (``ignore-duplicates``);
the others are created, with the ``id`` they give if they give one. A field that
only a creation sets (a booking's ``product_id``) must not differ from the row's.
Everything happens in the caller's one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calsync.errors import BadRequest, InvalidConflictTarget
from calsync.services.fields import at_index
from calsync.web.query import keyed, split_names

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import Base
    from calsync.web.policy import Resource


def conflict_key(resource: Resource, on_conflict: str | None) -> tuple[str, ...]:
    """The unique key ``on_conflict`` names (the ``id`` without it), or a 400 listing them."""
    names = split_names(on_conflict, parameter="on_conflict") if on_conflict else ["id"]
    for key in resource.unique_keys:
        if set(key) == set(names):
            return key
    choices = " or ".join(",".join(key) for key in resource.unique_keys)
    raise InvalidConflictTarget(
        f"on_conflict: {resource.name} are unique on {choices}, not {','.join(names)!r}",
        details={"parameter": "on_conflict", "keys": [list(key) for key in resource.unique_keys]},
    )


@dataclass(frozen=True, slots=True)
class Upserted:
    """The rows an upsert answers with (merged and created, in order); how many are new."""

    rows: list[Base]
    inserted: int


def upsert(
    resource: Resource,
    session: Session,
    items: Sequence[dict[str, Any]],
    ctx: WriteContext,
    *,
    key: tuple[str, ...],
    ignore: bool,
    array: bool,
) -> Upserted:
    """Merge each item into the row its ``key`` matches (or skip it, ``ignore``); create others."""
    found = _matches(resource, session, items, key)
    answered: dict[int, Base] = {}
    for index, (item, row) in enumerate(zip(items, found, strict=True)):
        if row is None or ignore:
            continue
        with at_index(index if array else None):
            changes = _changes(resource, row, item, key)
            if changes:
                resource.update(session, [row], changes, ctx)
        answered[index] = row
    new = [index for index, row in enumerate(found) if row is None]
    created = resource.create(
        session, [items[index] for index in new], ctx, indexes=new if array else None
    )
    answered |= dict(zip(new, created, strict=True))
    return Upserted([answered[index] for index in sorted(answered)], len(created))


def _matches(
    resource: Resource, session: Session, items: Sequence[dict[str, Any]], key: tuple[str, ...]
) -> list[Base | None]:
    """The row each item's key matches (None: no key, or no such row); a key given twice: 400."""
    seen: dict[tuple[object, ...], int] = {}
    found: list[Base | None] = []
    for index, item in enumerate(items):
        values = tuple(item.get(name) for name in key)
        if any(value is None for value in values):
            found.append(None)
            continue
        if values in seen:
            raise BadRequest(
                f"[{index}] has the same {','.join(key)} as [{seen[values]}]: an upsert "
                "changes a row once",
                details={"index": index, "fields": list(key), "same_as": seen[values]},
            )
        seen[values] = index
        found.append(
            session.scalars(keyed(resource.model, dict(zip(key, values, strict=True)))).first()
        )
    return found


def _changes(
    resource: Resource, row: Base, item: dict[str, Any], key: tuple[str, ...]
) -> dict[str, Any]:
    """The item's fields a PATCH may change; a create-only field must equal the row's."""
    changes: dict[str, Any] = {}
    for name, value in item.items():
        if name in key:
            continue
        if name in resource.update_fields:
            changes[name] = value
        elif getattr(row, name) != value:
            raise BadRequest(
                f"{name}: set only when a {resource.kind} is created; it cannot change in an "
                f"upsert (the {resource.kind} matched on {','.join(key)} has another)",
                details={"field": name},
            )
    return changes
