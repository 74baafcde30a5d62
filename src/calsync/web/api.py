"""The REST API at ``/v1``: Bookingmood's resources with PostgREST conventions (DESIGN §7).

``GET /v1/{resource}`` takes filters on any column (``col=op.value``, see
:mod:`calsync.web.query`), ``select``, ``order``, ``limit``/``offset`` and a
``Range`` header; ``POST`` takes one object or an array; ``PATCH`` and
``DELETE`` act on the rows their filters match and refuse to run without one;
a ``DELETE`` of external calendars says how many imported bookings went with
them (:data:`~calsync.web.openapi.DELETED_BOOKINGS_HEADER`, and
``deleted_bookings`` on each row). Actions on one row: ``POST
/v1/external_calendars/{id}/sync`` and ``…/release``, ``POST
/v1/products/{id}/rotate_feed_token``. ``sync_runs`` and
``product_calendar_logs`` are read-only. Every route needs an API key
(:mod:`calsync.web.auth`).

Bodies are read as plain JSON into the fields' types here
(:mod:`calsync.web.resources`), so every mistake is a 400 naming the field,
never a 422 or a 500; what they may hold and what a write does is the
services' (:mod:`calsync.services`), shared with the CLI. A POST makes at most
``api.max_rows_per_write`` rows (413 beyond); bodies are bounded by
:class:`~calsync.web.limits.BodyLimit`; direct bookings lie within
:class:`~calsync.services.context.BookingBounds`.

Database work runs in a worker thread; ``wake`` is called on the event loop
after a write that made a calendar due has committed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError

from calsync.config import ApiSettings
from calsync.errors import BadRequest, Conflict, FilterRequired, MethodNotAllowed, PayloadTooLarge
from calsync.services import calendars, products
from calsync.services.context import BookingBounds, Cause, WriteContext
from calsync.services.views import json_value, serialize
from calsync.web.auth import require_api_key
from calsync.web.openapi import DELETED_BOOKINGS_HEADER, ErrorBody
from calsync.web.query import (
    RESERVED,
    answer_status,
    content_range,
    matching,
    parse_filters,
    parse_query,
    parse_range,
    parse_select,
)
from calsync.web.resources import RESOURCES, ExternalCalendars, Resource, resource_named
from calsync.web.routes import actions, add_resource_routes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.store.db import Store
    from calsync.store.models import Base

    ComputedFields = Callable[[Sequence[Any]], Callable[[Any], dict[str, Any]]]


def api_router(
    *,
    store: Store,
    clock: Callable[[], datetime],
    wake: Callable[[], None],
    default_timezone: str = "UTC",
    default_transparent_events: str = "block",
    extra_fields: Mapping[str, ComputedFields] | None = None,
    extra_schema: Mapping[str, Mapping[str, dict[str, Any]]] | None = None,
    limits: ApiSettings | None = None,
    window_past_days: int = 30,
) -> APIRouter:
    """The ``/v1`` routes, every one behind an API key.

    ``extra_fields`` maps a resource name to a factory, called once per answer
    with its rows, of a function of a row giving computed, read-only fields merged
    into the answer (``export_url``, see :class:`~calsync.services.views.Views`);
    the factory may look up what the rows share at once. It is not called when
    ``select`` names none of the computed fields. ``extra_schema`` names those
    fields (resource → field → JSON schema) for the OpenAPI document and for
    ``select``; without it they are answered only when ``select`` is absent or
    ``*``. ``limits`` are the ``[api]`` settings; ``window_past_days``
    (``sync.past_days``) is how far back a direct booking may start.
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
    described = actions({r.name: r for r in RESOURCES}, api.extra_schema)
    described["sync"].add(router, api.request_sync)
    described["release"].add(router, api.release)
    described["rotate_feed_token"].add(router, api.rotate_feed_token)
    return router


def _add_resource_routes(router: APIRouter, api: _Api, resource: Resource) -> None:
    async def list_rows(request: Request) -> Response:
        return await api.list_rows(resource, request)

    async def create_rows(request: Request) -> Response:
        return await api.create_rows(resource, request)

    async def update_rows(request: Request) -> Response:
        return await api.update_rows(resource, request)

    async def delete_rows(request: Request) -> Response:
        return await api.delete_rows(resource, request)

    async def read_only(request: Request) -> Response:  # noqa: ARG001
        raise MethodNotAllowed(f"{resource.name} is read-only", headers={"Allow": "GET"})

    add_resource_routes(
        router, resource, extra=api.extra_schema.get(resource.name, {}),
        list_rows=list_rows, create_rows=create_rows, update_rows=update_rows,
        delete_rows=delete_rows, read_only=read_only,
    )  # fmt: skip


@dataclass(frozen=True)
class _Api:
    store: Store
    clock: Callable[[], datetime]
    wake: Callable[[], None]
    default_timezone: str
    default_transparent_events: str
    extra_fields: dict[str, ComputedFields]
    extra_schema: dict[str, dict[str, dict[str, Any]]]
    limits: ApiSettings
    window_past_days: int

    def _context(self, request: Request, *, force: bool = False) -> WriteContext:
        now = self.clock()
        return WriteContext(
            now=now,
            cause=Cause.api_key(request.state.api_key.id),
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
            return [serialize(row, columns, extra, all_extra=all_extra) for row in rows]

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
        params = _single_params(request, allowed={"select", *resource.flags})
        show = self._serializer(resource, params.get("select"))
        force = _flag(params.get("force"), "force")
        body = await _json_body(request)
        array = isinstance(body, list)
        items = body if isinstance(body, list) else [body]
        limit = self.limits.max_rows_per_write
        if len(items) > limit:
            raise PayloadTooLarge(
                f"a POST creates at most {limit} rows (api.max_rows_per_write); "
                f"this one has {len(items)}",
                details={"limit": limit, "rows": len(items), "setting": "api.max_rows_per_write"},
            )
        values = [
            resource.fields(item, creating=True, index=i if array else None)
            for i, item in enumerate(items)
        ]
        minimal = _prefers_minimal(request)
        ctx = self._context(request, force=force)

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                rows = resource.create(session, values, ctx, array=array)
                session.flush()
                return [] if minimal else show(rows)

        answer = await asyncio.to_thread(write)
        self._wake_if(ctx)
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
        ctx = self._context(request, force=force)

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                rows = session.scalars(matching(resource.model, filters)).all()
                resource.update(session, rows, values, ctx)
                session.flush()
                return [] if minimal else show(rows)

        answer = await asyncio.to_thread(write)
        self._wake_if(ctx)
        return Response(status_code=204) if minimal else JSONResponse(answer)

    async def delete_rows(self, resource: Resource, request: Request) -> Response:
        filters, params = self._write_filters(resource, request, flags=False)
        show = self._serializer(resource, params.get("select"))
        minimal = _prefers_minimal(request)
        ctx = self._context(request)

        def write() -> list[dict[str, Any]]:
            with self.store.write() as session, _conflicts():
                rows = session.scalars(matching(resource.model, filters)).all()
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
        allowed = {"select", *(resource.flags if flags else ())}
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

    def _wake_if(self, ctx: WriteContext) -> None:
        if ctx.wake:
            self.wake()

    async def _act(
        self, request: Request, status: int, act: Callable[[Session, WriteContext, uuid.UUID], Any]
    ) -> Response:
        """Run a row's action in a write transaction; answer what it gives, woken if asked."""
        row_id = _path_id(request)
        ctx = self._context(request)

        def write() -> Any:  # noqa: ANN401 - the action's JSON answer
            with self.store.write() as session:
                return act(session, ctx, row_id)

        answer = await asyncio.to_thread(write)
        self._wake_if(ctx)
        return JSONResponse(answer, status_code=status)

    async def request_sync(self, request: Request) -> Response:
        def act(session: Session, ctx: WriteContext, calendar_id: uuid.UUID) -> dict[str, Any]:
            calendar = calendars.request_sync(session, ctx, calendar_id)
            return {"id": str(calendar.id), "sync_requested_at": json_value(ctx.now)}

        return await self._act(request, 202, act)

    async def release(self, request: Request) -> Response:
        show = self._serializer(resource_named("external_calendars"), None)

        def act(session: Session, ctx: WriteContext, calendar_id: uuid.UUID) -> dict[str, Any]:
            released, calendar = calendars.release(session, ctx, calendar_id)
            session.flush()
            return {"released": released, "external_calendar": show([calendar])[0]}

        return await self._act(request, 200, act)

    async def rotate_feed_token(self, request: Request) -> Response:
        show = self._serializer(resource_named("products"), None)

        def act(session: Session, ctx: WriteContext, product_id: uuid.UUID) -> dict[str, Any]:
            product = products.rotate_feed_token(session, ctx, product_id)
            session.flush()
            return show([product])[0]

        return await self._act(request, 200, act)


def _path_id(request: Request) -> uuid.UUID:
    [raw] = request.path_params.values()
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise BadRequest(
            f"id: not a UUID: {raw!r:.80}", details={"field": "id", "value": raw}
        ) from exc


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
