"""The OpenAPI description of the ``/v1`` resources' operations (the routes: :mod:`.routes`).

Every operation of a resource is described from its field policy
(:class:`~calsync.web.resources.Resource`): the JSON schema of each field, with
the services' rules as its constraints, so the document and the checks cannot
disagree; the filters, paging and ``Prefer`` parameters; and every answer,
errors included (:class:`~calsync.web.schema.ErrorBody`; the parts every
operation shares are :mod:`calsync.web.schema`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from calsync.store.models import INT_MAX
from calsync.web.filters import INSTANT_PATTERN, python_type
from calsync.web.resources import Bookings, ExternalCalendars
from calsync.web.schema import (
    ACCEPT_HELP,
    CONFLICT,
    FILTER_HELP,
    FILTER_PATTERN,
    PREFER_CREATE,
    PREFER_READ,
    PREFER_WRITE,
    ROWS_HEADERS,
    ErrorBody,
    prefer,
    rows_content,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from calsync.web.policy import Resource

DELETED_BOOKINGS_HEADER = "Calsync-Deleted-Bookings"
"""On a DELETE of external calendars: how many imported bookings went with them."""


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
        """A ``col=operator.value`` filter for every shown field, and the logic trees."""
        columns = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": FILTER_PATTERN},
                "description": f"Filter on `{name}`: `operator.value`, e.g. "
                f"`{name}={_example_filter(self.resource, name)}`.",
            }
            for name in self.resource.columns
        ]
        trees = [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": r"^\(.+\)$"},
                "description": f"Conditions combined with {name.upper().replace('.', ' ')}: "
                "`(col.op.value,…)`, nested with `or(…)`, `and(…)`, `not.or(…)`.",
            }
            for name in ("or", "and", "not.or", "not.and")
        ]
        return [*columns, *trees]

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
            prefer(PREFER_READ),
            *self.filter_parameters(),
        ]

    def write_parameters(
        self, *, filters: bool, flags: bool = True, creating: bool = False, body: bool = True
    ) -> list[dict[str, Any]]:
        """A write's parameters: select, Prefer, columns (with a ``body``), flags, filters."""
        parameters = [
            self.select_parameter(),
            prefer(PREFER_WRITE + (PREFER_CREATE if creating else "")),
        ]
        if body:
            parameters.append(
                {
                    "name": "columns",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The body's keys to use, comma-separated (the others are "
                    "ignored); the PostgREST clients send it with every array.",
                }
            )
        if creating:
            keys = " or ".join(f"`{','.join(key)}`" for key in self.resource.unique_keys)
            parameters.append(
                {
                    "name": "on_conflict",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": f"The unique key an upsert matches rows on: {keys} "
                    "(default `id`).",
                }
            )
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
            f"The {self.resource.name} the filters match, at most `api.max_rows` a page. "
            f"{FILTER_HELP} The answer carries `Content-Range: first-last/total` (the total "
            "with `Prefer: count=exact`, else `*`) and is 206 when a count shows it is a part "
            "of the matching rows (`limit`, `offset` or `Range`). HEAD answers the same "
            f"headers without the rows.{ACCEPT_HELP}"
        )

    def create_description(self) -> str:
        """What a POST does."""
        required = ", ".join(f"`{name}`" for name in sorted(self.resource.required))
        text = f"Create one {self.resource.kind} (a JSON object) or several (an array) in one "
        text += (
            f"transaction. Required: {required}. Answers 201 without a body unless "
            "`Prefer: return=representation`, when the body holds the created rows (as GET "
            "answers them; 200 when an upsert only merged). An error about an item of an array "
            "names it: `details.index` (400) or `details.item` (409)."
        )
        if isinstance(self.resource, Bookings):
            text += (
                " A booking that would overfill, on any of its nights, its product or any "
                "product above it (capacity group dependencies; siblings count) is refused "
                "with 409 `conflict` listing the nights and the bookings in the way, unless "
                "`force=true`. The bookings of an array share a new `group_id` unless they "
                "name one. A `reference` another booking of the product has is refused with "
                "409 `23505` naming it (`details.existing_id`)."
            )
        return text + ACCEPT_HELP

    def update_description(self) -> str:
        """What a PATCH does."""
        return (
            f"Apply the body's fields to every {self.resource.kind} the filters match, in one "
            "transaction; a filter is required (400 `filter_required` otherwise). Answers 204 "
            f"unless `Prefer: return=representation`. {FILTER_HELP}{ACCEPT_HELP}"
        )

    def delete_description(self) -> str:
        """What a DELETE does."""
        text = (
            f"Delete every {self.resource.kind} the filters match; a filter is required "
            "(400 `filter_required` otherwise). Answers 204 unless `Prefer: "
            f"return=representation`. {FILTER_HELP}{ACCEPT_HELP}"
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
        content = rows_content(self.row_schema())
        return {
            200: {"description": "Every matching row (or a page, without a count).",
                  "content": content, "headers": ROWS_HEADERS},
            206: {"description": "A part of the matching rows (with Prefer: count).",
                  "content": content, "headers": ROWS_HEADERS},
            416: {"model": ErrorBody, "description": "The range starts past the last row "
                  "(with Prefer: count), or ends before it starts (PGRST103)."},
        }  # fmt: skip

    def create_responses(self) -> dict[int | str, dict[str, Any]]:
        """A POST's answers: 201 (200 for an upsert that only merged), with a body on request.

        The created rows are not described as the 201's content: without ``Prefer:
        return=representation`` (PostgREST's default) the answer has no body.
        """
        headers = {
            **ROWS_HEADERS,
            "Location": {
                "description": "With Prefer: return=headers-only, the created row (one).",
                "schema": {"type": "string"},
            },
        }
        return {
            201: {"description": "Created. With Prefer: return=representation the body holds "
                  "the rows (as GET answers them); without, there is none.", "headers": headers},
            200: {"description": "An upsert that only merged rows (merge-duplicates).",
                  "headers": headers},
            409: CONFLICT,
        }  # fmt: skip

    def delete_responses(self) -> dict[int | str, dict[str, Any]]:
        """A DELETE's answers."""
        responses = self.write_responses(200, "The deleted rows (Prefer: return=representation).")
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
            responses[200]["content"] = rows_content(row)
            responses[200]["headers"] = {**ROWS_HEADERS, **header}
            responses[204]["headers"] = {**ROWS_HEADERS, **header}
        return responses

    def write_responses(self, status: int, description: str) -> dict[int | str, dict[str, Any]]:
        """A PATCH's or DELETE's answers: ``status`` with the rows, 204 without."""
        return {
            status: {
                "description": description,
                "content": rows_content(self.row_schema()),
                "headers": ROWS_HEADERS,
            },
            204: {"description": "Done (without Prefer: return=representation).",
                  "headers": ROWS_HEADERS},
            409: CONFLICT,
        }  # fmt: skip


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
            return {"type": "string", "pattern": INSTANT_PATTERN}
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
