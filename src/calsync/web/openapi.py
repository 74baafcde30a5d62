"""The OpenAPI description of the ``/v1`` resources' operations (the routes: :mod:`.routes`).

Every operation of a resource is described from its field policy
(:class:`~calsync.web.resources.Resource`): the JSON schema of each field, with
the services' rules as its constraints, so the document and the checks cannot
disagree; the filters, paging and ``Prefer`` parameters; and every answer,
errors included (:class:`ErrorBody`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from calsync.store.models import INT_MAX
from calsync.web.query import OPERATORS, python_type
from calsync.web.resources import Bookings, ExternalCalendars, Resource

if TYPE_CHECKING:
    from collections.abc import Mapping

DELETED_BOOKINGS_HEADER = "Calsync-Deleted-Bookings"
"""On a DELETE of external calendars: how many imported bookings went with them."""


class ErrorBody(BaseModel):
    """Every error the API answers with."""

    code: str = Field(description="Machine-readable: bad_request, filter_required, unauthorized, "
                      "not_found, method_not_allowed, conflict, imported_booking, "
                      "range_not_satisfiable, invalid_request, payload_too_large, "
                      "store_unavailable, internal_error.")  # fmt: skip
    message: str = Field(description="What went wrong, for people.")
    details: dict[str, Any] = Field(description="Context: the field, the conflicting bookings…")
    hint: str | None = Field(description="Always null (PostgREST's shape).")
    request_id: str = Field(
        description="The request's id, also the `X-Request-Id` header: finds it in the log."
    )


_FILTER_PATTERN = rf"^(not\.)?({'|'.join(OPERATORS)})\."
_FILTER_HELP = (
    "Any column can be filtered with `column=operator.value`: `eq`, `neq`, `gt`, `gte`, "
    "`lt`, `lte`, `in.(a,b)`, `like.*part*` (case-sensitive, `*` is the wildcard), "
    "`ilike.*part*`, `is.null`, `is.not_null`, `is.true`, `is.false`, each negated by a "
    "`not.` prefix (`not.is.null`). Several filters are ANDed. Values take the column's "
    "type: UUIDs, integers, `true`/`false`, RFC 3339 instants (`2026-12-01T14:00:00Z`; "
    "write `+` as `%2B`) or dates (`2026-12-01`, midnight UTC)."
)


@dataclass(frozen=True)
class ResourceDocs:
    """The OpenAPI description of one resource's operations."""

    resource: Resource
    extra: Mapping[str, dict[str, Any]]

    # --- schemas --------------------------------------------------------------------

    def column_schema(self, name: str, *, write: bool) -> dict[str, Any]:
        """The JSON schema of one field, as shown (``write=False``) or as written."""
        column = self.resource.column(name)
        schema = _type_schema(column, write=write)
        if write:
            rule = self.resource.rules.get(name)
            if rule is not None:
                schema |= rule.schema()
        description = self.resource.descriptions.get(name)
        if description:
            schema["description"] = description
        if column.nullable and not write:
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def row_schema(self) -> dict[str, Any]:
        """A row as answered: every shown field and the computed ones."""
        properties = {name: self.column_schema(name, write=False) for name in self.resource.columns}
        return {
            "type": "object",
            "description": f"A {self.resource.kind}; `select` may leave fields out.",
            "properties": properties | dict(self.extra),
        }

    def rows_schema(self) -> dict[str, Any]:
        """An answer of rows."""
        return {"type": "array", "items": self.row_schema()}

    def body_schema(self, *, creating: bool) -> dict[str, Any]:
        """One object of a POST (``creating``) or a PATCH body."""
        properties: dict[str, Any] = {}
        for name in self.resource.writable_fields(creating=creating):
            if name == "sync_requested_at":
                properties[name] = {"description": self.resource.descriptions[name]}
            elif name == "external_calendar_id":
                properties[name] = {"type": "null", "description": "Always null here."}
            else:
                properties[name] = self.column_schema(name, write=True)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        if creating:
            schema["required"] = sorted(self.resource.required)
        return schema

    def create_body(self) -> dict[str, Any]:
        """A POST's body: one object or an array of them."""
        item = self.body_schema(creating=True)
        return {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [item, {"type": "array", "items": item}]}}
            },
        }

    def update_body(self) -> dict[str, Any]:
        """A PATCH's body."""
        return {
            "required": True,
            "content": {"application/json": {"schema": self.body_schema(creating=False)}},
        }

    # --- parameters -----------------------------------------------------------------

    def filter_parameters(self) -> list[dict[str, Any]]:
        """A ``col=operator.value`` filter for every shown field."""
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": _FILTER_PATTERN},
                "description": f"Filter on `{name}`: `operator.value`, e.g. "
                f"`{name}={_example_filter(self.resource, name)}`.",
            }
            for name in self.resource.columns
        ]

    def select_parameter(self) -> dict[str, Any]:
        """The ``select`` parameter, naming every field."""
        return {
            "name": "select",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Fields to answer with, comma-separated (default: all): "
            + ", ".join(f"`{name}`" for name in (*self.resource.columns, *self.extra)),
        }

    def list_parameters(self) -> list[dict[str, Any]]:
        """A GET's parameters: select, order, paging, Range and the filters."""
        count = {"type": "integer", "minimum": 0, "maximum": INT_MAX}
        return [
            self.select_parameter(),
            {
                "name": "order",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Sort order: `col.asc` or `col.desc`, optionally `.nullsfirst` "
                "or `.nullslast`, comma-separated (default `created_at.asc`; ties by `id`).",
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": count,
                "description": "At most this many rows.",
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "schema": count,
                "description": "Skip this many rows.",
            },
            {
                "name": "Range",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^(items=)?[0-9]{1,12}-[0-9]{0,12}$"},
                "description": "Rows first-last, 0-based and inclusive (`0-49`), or `10-`: "
                "answered with 206 and `Content-Range` when it is a part of the rows.",
            },
            {
                "name": "Range-Unit",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "enum": ["items"]},
                "description": "Always `items`.",
            },
            *self.filter_parameters(),
        ]

    def write_parameters(self, *, filters: bool, flags: bool = True) -> list[dict[str, Any]]:
        """A write's parameters: select, Prefer, the flags and maybe the filters."""
        parameters = [
            self.select_parameter(),
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "`return=representation` (default) answers with the rows; "
                "`return=minimal` answers without a body (POST 201, PATCH/DELETE 204).",
            },
        ]
        if flags and "force" in self.resource.flags:
            parameters.append(
                {
                    "name": "force",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean"},
                    "description": "Book even when the product's capacity would be exceeded.",
                }
            )
        if filters:
            parameters.extend(self.filter_parameters())
        return parameters

    # --- descriptions and responses --------------------------------------------------

    def list_description(self) -> str:
        """What a GET does."""
        return (
            f"The {self.resource.name} the filters match. {_FILTER_HELP} The answer carries "
            "`Content-Range: first-last/total` (`*/total` when empty) and is 206 when it is a "
            "part of the matching rows (`limit`, `offset` or `Range`)."
        )

    def create_description(self) -> str:
        """What a POST does."""
        required = ", ".join(f"`{name}`" for name in sorted(self.resource.required))
        text = f"Create one {self.resource.kind} (a JSON object) or several (an array) in one "
        text += f"transaction. Required: {required}."
        if isinstance(self.resource, Bookings):
            text += (
                " A booking that would overfill, on any of its nights, its product or any "
                "product above it (capacity group dependencies; siblings count) is refused "
                "with 409 `conflict` listing the nights and the bookings in the way, unless "
                "`force=true`."
            )
        return text

    def update_description(self) -> str:
        """What a PATCH does."""
        return (
            f"Apply the body's fields to every {self.resource.kind} the filters match; a "
            f"filter is required (400 `filter_required` otherwise). {_FILTER_HELP}"
        )

    def delete_description(self) -> str:
        """What a DELETE does."""
        text = (
            f"Delete every {self.resource.kind} the filters match; a filter is required "
            f"(400 `filter_required` otherwise). {_FILTER_HELP}"
        )
        if isinstance(self.resource, ExternalCalendars):
            text += (
                " The bookings imported from a calendar are deleted with it: the "
                f"`{DELETED_BOOKINGS_HEADER}` header counts them, and each calendar answered "
                "has `deleted_bookings`."
            )
        return text

    def list_responses(self) -> dict[int | str, dict[str, Any]]:
        """A GET's answers."""
        content = {"application/json": {"schema": self.rows_schema()}}
        headers = {
            "Content-Range": {
                "description": "`first-last/total`, or `*/total` when no row is answered.",
                "schema": {"type": "string"},
            }
        }
        return {
            200: {"description": "Every matching row.", "content": content, "headers": headers},
            206: {"description": "A part of the matching rows.", "content": content,
                  "headers": headers},
            416: {"model": ErrorBody, "description": "The range starts past the last row."},
        }  # fmt: skip

    def delete_responses(self) -> dict[int | str, dict[str, Any]]:
        """A DELETE's answers."""
        responses = self.write_responses(200, "The deleted rows.")
        if isinstance(self.resource, ExternalCalendars):
            header = {
                DELETED_BOOKINGS_HEADER: {
                    "description": "How many imported bookings were deleted with the calendars.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            }
            row = self.row_schema()
            row["properties"]["deleted_bookings"] = {
                "type": "integer",
                "minimum": 0,
                "description": "The bookings imported from this calendar, deleted with it.",
            }
            responses[200]["content"]["application/json"]["schema"] = {
                "type": "array",
                "items": row,
            }
            responses[200]["headers"] = responses[204]["headers"] = header
        return responses

    def write_responses(self, status: int, description: str) -> dict[int | str, dict[str, Any]]:
        """A write's answers, ``status`` with the rows."""
        responses: dict[int | str, dict[str, Any]] = {
            status: {
                "description": description,
                "content": {"application/json": {"schema": self.rows_schema()}},
            },
            409: {
                "model": ErrorBody,
                "description": "A conflict: an overlapping booking (`conflict`, with "
                "`details.conflicts`), an imported booking (`imported_booking`), a duplicate, "
                "self-link or cycle of capacity group dependencies.",
            },
        }
        if status == 200:  # noqa: PLR2004 - PATCH and DELETE
            responses[204] = {"description": "Done (Prefer: return=minimal)."}
        return responses


def _type_schema(column: Any, *, write: bool) -> dict[str, Any]:  # noqa: ANN401 - a Column
    kind = python_type(column)
    if kind is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    if kind is bool:
        return {"type": "boolean"}
    if kind is int:
        bounds = {"minimum": -INT_MAX - 1, "maximum": INT_MAX} if write else {}
        return {"type": "integer", **bounds}
    if kind is datetime:
        if write:
            return {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}
        return {"type": "string", "format": "date-time"}
    length = getattr(column.type, "length", None)
    return {"type": "string", "maxLength": length} if write and length else {"type": "string"}


def _example_filter(resource: Resource, name: str) -> str:
    kind = python_type(resource.column(name))
    if kind is uuid.UUID:
        return "eq.6c9a93dd-0000-4000-8000-000000000000"
    if kind is bool:
        return "is.true"
    if kind is int:
        return "gte.1"
    if kind is datetime:
        return "gte.2026-12-01"
    return "like.*text*"
