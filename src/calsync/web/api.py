"""The REST API at ``/v1``: Bookingmood's resources with PostgREST conventions (DESIGN §7).

``GET /v1/{resource}`` takes filters on any column (``col=op.value``, see
:mod:`calsync.web.query`), ``select``, ``order``, ``limit``/``offset`` and a
``Range`` header; ``POST`` takes one object or an array; ``PATCH`` and
``DELETE`` act on the rows their filters match and refuse to run without one;
a ``DELETE`` of external calendars says how many imported bookings went with
them (:data:`DELETED_BOOKINGS_HEADER`, and ``deleted_bookings`` on each row).
``sync_runs`` and ``product_calendar_logs`` are read-only. Every route needs an
API key (:mod:`calsync.web.auth`). Bodies are read as plain JSON and checked
here, so every mistake is a 400 naming the field, never a 422 or a 500. A POST
makes at most ``api.max_rows_per_write`` rows (413 beyond); bodies are bounded by
:class:`~calsync.web.limits.BodyLimit`; direct bookings lie within
:class:`~calsync.web.resources.BookingBounds`.

Database work runs in a worker thread; ``wake`` is called on the event loop
after a write that made a calendar due has committed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from calsync.config import ApiSettings
from calsync.core.text import PLAIN_TEXT_PATTERN
from calsync.errors import BadRequest, Conflict, FilterRequired, MethodNotAllowed, PayloadTooLarge
from calsync.store import repo
from calsync.web.auth import require_api_key
from calsync.web.query import (
    INT_MAX,
    OPERATORS,
    RESERVED,
    answer_status,
    content_range,
    parse_filters,
    parse_query,
    parse_range,
    parse_select,
    python_type,
)
from calsync.web.resources import (
    RESOURCES,
    BookingBounds,
    Bookings,
    ExternalCalendars,
    Resource,
    WriteContext,
    json_value,
    serialize,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from calsync.store.db import Store
    from calsync.store.models import Base


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


def api_router(
    *,
    store: Store,
    clock: Callable[[], datetime],
    wake: Callable[[], None],
    default_timezone: str = "UTC",
    default_transparent_events: str = "block",
    extra_fields: Mapping[str, Callable[[Sequence[Any]], Callable[[Any], dict[str, Any]]]]
    | None = None,
    extra_schema: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
    limits: ApiSettings | None = None,
    window_past_days: int = 30,
) -> APIRouter:
    """The ``/v1`` routes, every one behind an API key.

    ``extra_fields`` maps a resource name to a factory, called once per answer
    with its rows, of a function of a row giving computed, read-only fields merged
    into the answer (``export_url``); the factory may look up what the rows share
    at once. It is not called when ``select`` names none of the computed fields.
    ``extra_schema`` names those fields (resource → field → JSON schema) for the
    OpenAPI document and for ``select``; without it they are answered only when
    ``select`` is absent or ``*``. ``limits`` are the ``[api]`` settings;
    ``window_past_days`` (``sync.past_days``) is how far back a direct booking may start.
    """
    api = _Api(
        store=store,
        clock=clock,
        wake=wake,
        default_timezone=default_timezone,
        default_transparent_events=default_transparent_events,
        extra_fields=dict(extra_fields or {}),
        extra_schema={name: dict(fields) for name, fields in (extra_schema or {}).items()},
        limits=limits or ApiSettings(),
        window_past_days=window_past_days,
    )
    router = APIRouter(
        prefix="/v1",
        dependencies=[Depends(require_api_key(store=store, clock=clock))],
        responses={
            400: {"model": ErrorBody, "description": "Invalid input; the message names it."},
            401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key."},
            413: {
                "model": ErrorBody,
                "description": "The body is larger than api.max_body_bytes, or a POST has more "
                "rows than api.max_rows_per_write.",
            },
            503: {"model": ErrorBody, "description": "The database is unavailable."},
        },
    )
    for resource in RESOURCES:
        _add_resource_routes(router, api, resource)
    _add_sync_route(router, api)
    return router


@dataclass(frozen=True)
class _Api:
    store: Store
    clock: Callable[[], datetime]
    wake: Callable[[], None]
    default_timezone: str
    default_transparent_events: str
    extra_fields: dict[str, Callable[[Sequence[Any]], Callable[[Any], dict[str, Any]]]]
    extra_schema: dict[str, dict[str, dict[str, Any]]]
    limits: ApiSettings
    window_past_days: int

    def _context(self, *, force: bool = False) -> WriteContext:
        now = self.clock()
        return WriteContext(
            now=now,
            default_timezone=self.default_timezone,
            default_transparent_events=self.default_transparent_events,
            force=force,
            booking_bounds=BookingBounds.around(
                now,
                past_days=self.window_past_days,
                horizon_years=self.limits.booking_horizon_years,
            ),
        )

    def _extra_names(self, resource: Resource) -> tuple[str, ...]:
        return tuple(self.extra_schema.get(resource.name, {}))

    def _serializer(
        self, resource: Resource, select_text: str | None
    ) -> Callable[[Sequence[Base]], list[dict[str, Any]]]:
        """The rows of one answer as JSON-ready dicts; computed fields only if selected."""
        extra_names = self._extra_names(resource)
        columns = parse_select(select_text, resource.columns, extra=extra_names)
        all_extra = select_text is None or "*" in (name.strip() for name in select_text.split(","))
        factory = self.extra_fields.get(resource.name)
        if not (all_extra or any(name in extra_names for name in columns)):
            factory = None

        def show(rows: Sequence[Base]) -> list[dict[str, Any]]:
            extra = factory(rows) if factory is not None else None
            return [serialize(resource, row, columns, extra, all_extra=all_extra) for row in rows]

        return show

    async def list_rows(self, resource: Resource, request: Request) -> Response:
        query = parse_query(
            resource.model,
            request.query_params.multi_items(),
            columns=resource.columns,
            extra=self._extra_names(resource),
        ).within(parse_range(request.headers.get("range"), request.headers.get("range-unit")))
        show = self._serializer(resource, request.query_params.get("select"))

        def read() -> tuple[list[dict[str, Any]], int]:
            with self.store.read() as session:
                total = int(session.scalar(query.count_statement()) or 0)
                answer_status(query.offset, 0, total)  # 416 before reading rows
                rows = session.scalars(query.statement()).all()
                return show(rows), total

        rows, total = await asyncio.to_thread(read)
        return JSONResponse(
            rows,
            status_code=answer_status(query.offset, len(rows), total),
            headers={
                "Content-Range": content_range(query.offset, len(rows), total),
                "Range-Unit": "items",
            },
        )

    async def create_rows(self, resource: Resource, request: Request) -> Response:
        params = _single_params(request, allowed={"select", *_write_flags(resource)})
        show = self._serializer(resource, params.get("select"))
        force = _flag(params.get("force"), "force")
        body = await _json_body(request)
        items = body if isinstance(body, list) else [body]
        limit = self.limits.max_rows_per_write
        if len(items) > limit:
            raise PayloadTooLarge(
                f"a POST creates at most {limit} rows (api.max_rows_per_write); "
                f"this one has {len(items)}",
                details={"limit": limit, "rows": len(items), "setting": "api.max_rows_per_write"},
            )
        values = [
            resource.fields(item, creating=True, index=i if isinstance(body, list) else None)
            for i, item in enumerate(items)
        ]
        minimal = _prefers_minimal(request)
        ctx = self._context(force=force)

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                resource.lock(session, values)
                rows = [resource.create(session, item, ctx) for item in values]
                session.flush()
                return [] if minimal else show(rows)

        answer = await asyncio.to_thread(write)
        if ctx.wake:
            self.wake()
        if minimal:
            return Response(status_code=201)
        return JSONResponse(answer, status_code=201)

    async def update_rows(self, resource: Resource, request: Request) -> Response:
        filters, params = self._write_filters(resource, request)
        show = self._serializer(resource, params.get("select"))
        force = _flag(params.get("force"), "force")
        body = await _json_body(request)
        if isinstance(body, list):
            raise BadRequest(
                f"PATCH takes one JSON object with the fields to change of every matching "
                f"{resource.kind}, not an array"
            )
        values = resource.fields(body, creating=False)
        minimal = _prefers_minimal(request)
        ctx = self._context(force=force)

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                rows = session.scalars(_matching(resource, filters)).all()
                resource.update(session, rows, values, ctx)
                session.flush()
                return [] if minimal else show(rows)

        answer = await asyncio.to_thread(write)
        if ctx.wake:
            self.wake()
        return Response(status_code=204) if minimal else JSONResponse(answer)

    async def delete_rows(self, resource: Resource, request: Request) -> Response:
        filters, params = self._write_filters(resource, request, flags=False)
        show = self._serializer(resource, params.get("select"))
        minimal = _prefers_minimal(request)
        ctx = self._context()

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                rows = session.scalars(_matching(resource, filters)).all()
                answer = [] if minimal else show(rows)
                ids = [row.id for row in rows]
                resource.delete(session, rows, ctx)
                if isinstance(resource, ExternalCalendars):
                    for item, row_id in zip(answer, ids, strict=False):
                        item["deleted_bookings"] = ctx.deleted_bookings[row_id]
                return answer

        answer = await asyncio.to_thread(write)
        headers = {}
        if isinstance(resource, ExternalCalendars):
            headers[DELETED_BOOKINGS_HEADER] = str(sum(ctx.deleted_bookings.values()))
        if minimal:
            return Response(status_code=204, headers=headers)
        return JSONResponse(answer, headers=headers)

    def _write_filters(
        self, resource: Resource, request: Request, *, flags: bool = True
    ) -> tuple[tuple[Any, ...], dict[str, str]]:
        pairs = request.query_params.multi_items()
        allowed = {"select", *(_write_flags(resource) if flags else ())}
        for name, _ in pairs:
            if name in RESERVED - allowed:
                raise BadRequest(f"{name} applies to GET only", details={"parameter": name})
        params = _single_params(request, allowed=allowed, others_allowed=True)
        filters = parse_filters(resource.model, pairs, resource.columns, reserved=allowed)
        if not filters:
            raise FilterRequired(
                f"{request.method} needs at least one filter (like ?id=eq.<uuid>), so that no "
                "request changes or deletes every row by accident",
                details={
                    "example": f"/v1/{resource.name}?id=eq.00000000-0000-0000-0000-000000000000"
                },
            )
        return filters, params

    async def request_sync(self, request: Request) -> Response:
        raw = request.path_params["calendar_id"]
        try:
            calendar_id = uuid.UUID(raw)
        except ValueError as exc:
            raise BadRequest(
                f"id: not a UUID: {raw!r:.80}", details={"field": "id", "value": raw}
            ) from exc

        def write() -> dict[str, Any]:
            with self.store.write() as session:
                calendar = repo.request_sync(session, calendar_id, now=self.clock())
                return {
                    "id": str(calendar.id),
                    "sync_requested_at": json_value(calendar.sync_requested_at),
                }

        answer = await asyncio.to_thread(write)
        self.wake()
        return JSONResponse(answer, status_code=202)


def _write_flags(resource: Resource) -> tuple[str, ...]:
    return ("force",) if isinstance(resource, Bookings) else ()


def _matching(resource: Resource, filters: Sequence[Any]) -> Any:  # noqa: ANN401 - a Select
    model = resource.model
    return select(model).where(*filters).order_by(model.created_at, model.id).with_for_update()


@contextmanager
def _conflicts() -> Iterator[None]:
    """Turn a constraint violation the checks did not foresee (a race) into a 409."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(
            "the change conflicts with stored data (a duplicate, or a row that was "
            "deleted meanwhile)"
        ) from exc


def _single_params(
    request: Request, *, allowed: set[str], others_allowed: bool = False
) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in allowed:
            if name in params:
                raise BadRequest(f"{name} given more than once", details={"parameter": name})
            params[name] = value
        elif not others_allowed:
            raise BadRequest(
                f"unknown query parameter {name!r} for {request.method}",
                details={"parameter": name},
            )
    return params


def _flag(text: str | None, name: str) -> bool:
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise BadRequest(
        f"{name}: expected true or false, got {text!r:.80}", details={"parameter": name}
    )


def _prefers_minimal(request: Request) -> bool:
    preferences = {
        item.strip().lower()
        for header in request.headers.getlist("prefer")
        for item in header.split(",")
    }
    return bool(preferences & {"return=minimal", "return=headers-only"})


async def _json_body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("a JSON body is required")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}"[:300]) from exc


# --- routes and their OpenAPI description ----------------------------------------------


def _add_resource_routes(router: APIRouter, api: _Api, resource: Resource) -> None:
    path = f"/{resource.name}"
    tags: list[str | Any] = [resource.name]
    docs = _Docs(resource, api.extra_schema.get(resource.name, {}))

    async def list_rows(request: Request) -> Response:
        return await api.list_rows(resource, request)

    router.add_api_route(
        path,
        list_rows,
        methods=["GET"],
        tags=tags,
        operation_id=f"list_{resource.name}",
        summary=f"List {resource.name}",
        description=docs.list_description(),
        responses=docs.list_responses(),
        openapi_extra={"parameters": docs.list_parameters()},
    )
    if not resource.writable:

        async def read_only(request: Request) -> Response:  # noqa: ARG001
            raise MethodNotAllowed(f"{resource.name} is read-only", headers={"Allow": "GET"})

        router.add_api_route(
            path, read_only, methods=["POST", "PATCH", "DELETE"], include_in_schema=False
        )
        return

    async def create_rows(request: Request) -> Response:
        return await api.create_rows(resource, request)

    async def update_rows(request: Request) -> Response:
        return await api.update_rows(resource, request)

    async def delete_rows(request: Request) -> Response:
        return await api.delete_rows(resource, request)

    router.add_api_route(
        path,
        create_rows,
        methods=["POST"],
        status_code=201,
        tags=tags,
        operation_id=f"create_{resource.name}",
        summary=f"Create {resource.name}",
        description=docs.create_description(),
        responses=docs.write_responses(
            201, "The created rows (empty with Prefer: return=minimal)."
        ),
        openapi_extra={
            "parameters": docs.write_parameters(filters=False),
            "requestBody": docs.create_body(),
        },
    )
    router.add_api_route(
        path,
        update_rows,
        methods=["PATCH"],
        tags=tags,
        operation_id=f"update_{resource.name}",
        summary=f"Change the {resource.name} the filters match",
        description=docs.update_description(),
        responses=docs.write_responses(200, "The changed rows."),
        openapi_extra={
            "parameters": docs.write_parameters(filters=True),
            "requestBody": docs.update_body(),
        },
    )
    router.add_api_route(
        path,
        delete_rows,
        methods=["DELETE"],
        tags=tags,
        operation_id=f"delete_{resource.name}",
        summary=f"Delete the {resource.name} the filters match",
        description=docs.delete_description(),
        responses=docs.delete_responses(),
        openapi_extra={"parameters": docs.write_parameters(filters=True, flags=False)},
    )


def _add_sync_route(router: APIRouter, api: _Api) -> None:
    async def request_sync(request: Request) -> Response:
        return await api.request_sync(request)

    router.add_api_route(
        "/external_calendars/{calendar_id}/sync",
        request_sync,
        methods=["POST"],
        status_code=202,
        tags=["external_calendars"],
        operation_id="sync_external_calendar",
        summary="Sync an external calendar now",
        description="Sets `sync_requested_at` to now and wakes the dispatcher: the calendar "
        "is synced at once instead of at its next scheduled time.",
        responses={
            202: {
                "description": "The sync was requested.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id", "sync_requested_at"],
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "sync_requested_at": {"type": "string", "format": "date-time"},
                            },
                        }
                    }
                },
            },
            404: {"model": ErrorBody, "description": "No external calendar with this id."},
        },
        openapi_extra={
            "parameters": [
                {
                    "name": "calendar_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                    "description": "The external calendar's id.",
                }
            ]
        },
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
class _Docs:
    """The OpenAPI description of one resource's operations."""

    resource: Resource
    extra: Mapping[str, dict[str, Any]]

    # --- schemas --------------------------------------------------------------------

    def column_schema(self, name: str, *, write: bool) -> dict[str, Any]:
        column = self.resource.column(name)
        schema = _type_schema(column, write=write)
        if write:
            schema |= self.resource.constraints.get(name, {})
            if name in self.resource.plain_text:
                schema["pattern"] = PLAIN_TEXT_PATTERN
        description = self.resource.descriptions.get(name)
        if description:
            schema["description"] = description
        if column.nullable and not write:
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def row_schema(self) -> dict[str, Any]:
        properties = {name: self.column_schema(name, write=False) for name in self.resource.columns}
        return {
            "type": "object",
            "description": f"A {self.resource.kind}; `select` may leave fields out.",
            "properties": properties | dict(self.extra),
        }

    def rows_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.row_schema()}

    def body_schema(self, *, creating: bool) -> dict[str, Any]:
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
        item = self.body_schema(creating=True)
        return {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [item, {"type": "array", "items": item}]}}
            },
        }

    def update_body(self) -> dict[str, Any]:
        return {
            "required": True,
            "content": {"application/json": {"schema": self.body_schema(creating=False)}},
        }

    # --- parameters -----------------------------------------------------------------

    def filter_parameters(self) -> list[dict[str, Any]]:
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
        return {
            "name": "select",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Fields to answer with, comma-separated (default: all): "
            + ", ".join(f"`{name}`" for name in (*self.resource.columns, *self.extra)),
        }

    def list_parameters(self) -> list[dict[str, Any]]:
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
        if flags and isinstance(self.resource, Bookings):
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
        return (
            f"The {self.resource.name} the filters match. {_FILTER_HELP} The answer carries "
            "`Content-Range: first-last/total` (`*/total` when empty) and is 206 when it is a "
            "part of the matching rows (`limit`, `offset` or `Range`)."
        )

    def create_description(self) -> str:
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
        return (
            f"Apply the body's fields to every {self.resource.kind} the filters match; a "
            f"filter is required (400 `filter_required` otherwise). {_FILTER_HELP}"
        )

    def delete_description(self) -> str:
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
