"""The field policy of a REST resource: which fields it shows, takes and filters, and their types.

Each resource is a :class:`Resource` over one table (the resources themselves
are :mod:`calsync.web.resources`). Fields are the table's column names; the
shown ones are :func:`calsync.services.views.shown_columns` (internal sync
state is never shown, never written), and every shown field filters. A shown
field is written only when it is listed in ``create_fields`` (POST) or
``update_fields`` (PATCH), so a column added to a table later is read-only in
the API until someone decides otherwise.

A request body is read here into checked Python types (an unknown, read-only,
missing, null or mistyped field is a 400 naming it); what the values may be,
and what a write does, is the services' (:mod:`calsync.services`): a resource
only translates a body into a service call. The services' field rules are also
the JSON schema the OpenAPI document publishes. ``columns=`` names the body's
keys to use (the others are ignored); an upsert (:mod:`calsync.web.upsert`) may
also give the ``id``, and matches rows on one of the resource's ``unique_keys``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from calsync.errors import BadRequest, InvalidBody, InvalidValue, UnknownBodyColumn
from calsync.services.views import shown_columns
from calsync.web.filters import check_text, parse_instant, python_type

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.orm import Session
    from sqlalchemy.sql.elements import KeyedColumnElement

    from calsync.services.context import WriteContext
    from calsync.store.models import Base

ALWAYS_READ_ONLY = frozenset({"id", "created_at", "updated_at"})
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


@dataclass(frozen=True, slots=True)
class FieldPath:
    """Where in a request body a problem is, for messages: ``[2] ends_at``."""

    index: int | None
    name: str

    def __str__(self) -> str:
        return self.name if self.index is None else f"[{self.index}] {self.name}"

    def details(self) -> dict[str, Any]:
        """The error's JSON ``details``."""
        base: dict[str, Any] = {"field": self.name}
        if self.index is not None:
            base["index"] = self.index
        return base


@dataclass(frozen=True)
class Resource:
    """One REST resource over one table; writable ones translate bodies into service calls."""

    name: str
    model: type[Base]
    kind: str
    """The singular, for messages: ``product``, ``external calendar``."""
    create_fields: frozenset[str] = frozenset()
    update_fields: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    rules: Mapping[str, Any] = field(default_factory=dict)
    """The services' rule of each field that has one: its JSON schema is published."""
    descriptions: Mapping[str, str] = field(default_factory=dict)
    writable: bool = True
    unique_keys: tuple[tuple[str, ...], ...] = (("id",),)
    """The fields an upsert may match rows on (``on_conflict``): the id, and unique keys."""

    flags: ClassVar[tuple[str, ...]] = ()
    """Query flags a write takes (``force``)."""

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The fields shown: ``id``, the table's own, then ``created_at`` and ``updated_at``."""
        return shown_columns(self.model)

    def column(self, name: str) -> KeyedColumnElement[Any]:
        """The table column of a field."""
        return self.model.__table__.columns[name]

    def writable_fields(self, *, creating: bool) -> tuple[str, ...]:
        """The fields a POST (``creating``) or a PATCH may set."""
        allowed = (self.create_fields if creating else self.update_fields) - ALWAYS_READ_ONLY
        return tuple(name for name in self.columns if name in allowed)

    def fields(
        self,
        body: object,
        *,
        creating: bool,
        index: int | None = None,
        columns: frozenset[str] | None = None,
        with_id: bool = False,
    ) -> dict[str, Any]:
        """A JSON object of a request body as Python values of the columns' types, by field name.

        ``columns`` (``columns=``): only these keys are read. ``with_id``: the ``id``
        may be given (an upsert).
        """
        where = "" if index is None else f"[{index}] "
        if not isinstance(body, dict):
            raise InvalidBody(
                f"{where}expected a JSON object with the fields of a {self.kind}",
                details={} if index is None else {"index": index},
            )
        if columns is not None:
            body = {name: value for name, value in body.items() if name in columns}
        allowed = {*self.writable_fields(creating=creating), *(("id",) if with_id else ())}
        known = {c.key for c in self.model.__table__.columns}
        unknown = sorted(name for name in body if name not in known)
        if unknown:
            raise UnknownBodyColumn(
                f"{where}unknown field{'s' if len(unknown) > 1 else ''} of a {self.kind}: "
                + ", ".join(unknown),
                details=_indexed({"fields": unknown}, index),
            )
        for problem, names in (
            ("read-only", sorted(name for name in body if name not in allowed)),
            ("missing required", sorted(self.required - set(body)) if creating else []),
        ):
            if names:
                raise BadRequest(
                    f"{where}{problem} field{'s' if len(names) > 1 else ''} of a {self.kind}: "
                    + ", ".join(names),
                    details=_indexed({"fields": names}, index),
                )
        return {name: self.value(FieldPath(index, name), value) for name, value in body.items()}

    def body_fields(self) -> frozenset[str]:
        """Every field a body may name (``columns=`` checks against these)."""
        return frozenset(c.key for c in self.model.__table__.columns)

    def value(self, where: FieldPath, value: object) -> object:
        """One field's JSON value as the column's Python type (not null unless it may be)."""
        column = self.column(where.name)
        if value is None:
            if column.nullable:
                return None
            raise BadRequest(f"{where}: must not be null", details=where.details())
        return _convert(python_type(column), where, value)

    # --- writes: translated into service calls -----------------------------------------

    def create(
        self,
        session: Session,
        items: Sequence[dict[str, Any]],
        ctx: WriteContext,
        *,
        indexes: Sequence[int] | None,
    ) -> list[Base]:
        """Create one row per item; ``indexes``: their places in an array body, errors name them."""
        raise NotImplementedError

    def update(
        self, session: Session, rows: Sequence[Base], values: dict[str, Any], ctx: WriteContext
    ) -> None:
        """Apply ``values`` to every row."""
        raise NotImplementedError

    def delete(self, session: Session, rows: Sequence[Base], ctx: WriteContext) -> None:
        """Delete the rows."""
        raise NotImplementedError


def _indexed(details: dict[str, Any], index: int | None) -> dict[str, Any]:
    return details if index is None else {**details, "index": index}


def _convert(kind: type, where: FieldPath, value: object) -> object:
    if kind is str and isinstance(value, str):
        return check_text(value, field=str(where))
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            return value
    if kind is uuid.UUID and isinstance(value, str) and _UUID.match(value):
        return uuid.UUID(value)
    if kind is datetime and isinstance(value, str):
        return parse_instant(value, field=str(where))
    expected = {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        uuid.UUID: "a UUID string",
        datetime: "an RFC 3339 instant string",
    }.get(kind, str(kind))
    raise InvalidValue(f"{where}: expected {expected}, got {value!r:.80}", details=where.details())
