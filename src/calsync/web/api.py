"""The REST API at ``/v1``: Bookingmood's resources with PostgREST conventions (DESIGN §7).

``GET`` (and ``HEAD``) ``/v1/{resource}`` takes filters on any column and logic
trees (:mod:`calsync.web.filters`), ``select``, ``order``, ``limit``/``offset``
and a ``Range`` header (:mod:`calsync.web.query`), at most ``api.max_rows`` rows
a page; ``POST`` takes one object or an array (``columns=`` picks the keys to
use; ``Prefer: resolution=…`` makes it an upsert, :mod:`calsync.web.upsert`);
``PATCH`` and ``DELETE`` act on the rows their filters match and refuse to run
without one. Writes answer ``201`` (POST) or ``204`` without a body unless
``Prefer: return=representation`` (:mod:`calsync.web.prefer`); ``Prefer:
count=exact`` puts the total in ``Content-Range``. Answers are JSON, one object
or CSV as ``Accept`` asks (:mod:`calsync.web.representation`); a singular answer
that is not one row is a 406 and a write that made it is rolled back. ``OPTIONS``
answers the methods in ``Allow``. A ``DELETE`` of external calendars says how
many imported bookings went with them (:data:`~calsync.web.openapi.DELETED_BOOKINGS_HEADER`,
and ``deleted_bookings`` on each row). Actions on one row: ``POST
/v1/external_calendars/{id}/sync`` and ``…/release``, ``POST
/v1/products/{id}/rotate_feed_token``; ``GET /v1/booking_statuses`` lists what a
booking's status means. ``sync_runs`` and ``product_calendar_logs`` are
read-only. Every route needs an API key (:mod:`calsync.web.auth`).

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from calsync.config import ApiSettings
from calsync.errors import BadRequest, FilterRequired, MethodNotAllowed, PayloadTooLarge
from calsync.services import bookings, calendars, products
from calsync.services.context import BookingBounds, Cause, WriteContext
from calsync.services.views import json_value, serialize
from calsync.web.auth import require_api_key
from calsync.web.filters import parse_filters
from calsync.web.inputs import conflicts, flag, json_body, path_id, single_params
from calsync.web.openapi import DELETED_BOOKINGS_HEADER
from calsync.web.prefer import APPLIED_HEADER, Preferences
from calsync.web.query import (
    RESERVED,
    answer_status,
    content_range,
    matching,
    parse_columns,
    parse_query,
    parse_range,
    parse_select,
)
from calsync.web.representation import Representation
from calsync.web.resources import RESOURCES, ExternalCalendars, resource_named
from calsync.web.routes import actions, add_resource_routes, add_statuses_route
from calsync.web.schema import COMMON_RESPONSES
from calsync.web.upsert import Upserted, conflict_key, upsert

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.store.db import Store
    from calsync.store.models import Base
    from calsync.web.policy import Resource

    ComputedFields = Callable[[Sequence[Any]], Callable[[Any], dict[str, Any]]]
    Serializer = Callable[[Sequence[Base]], list[dict[str, Any]]]

READ_METHODS = "OPTIONS,GET,HEAD"
WRITE_METHODS = "OPTIONS,GET,HEAD,POST,PATCH,DELETE"


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
        responses=COMMON_RESPONSES,
    )
    for resource in RESOURCES:
        _add_resource_routes(router, api, resource)
    described = actions({r.name: r for r in RESOURCES}, api.extra_schema)
    described["sync"].add(router, api.request_sync)
    described["release"].add(router, api.release)
    described["rotate_feed_token"].add(router, api.rotate_feed_token)
    add_statuses_route(router, api.booking_statuses)
    return router


def _add_resource_routes(router: APIRouter, api: _Api, resource: Resource) -> None:
    allow = WRITE_METHODS if resource.writable else READ_METHODS

    async def list_rows(request: Request) -> Response:
        return await api.list_rows(resource, request)

    async def head_rows(request: Request) -> Response:
        return await api.list_rows(resource, request, body=False)

    async def options(request: Request) -> Response:  # noqa: ARG001
        return Response(status_code=200, headers={"Allow": allow})

    async def create_rows(request: Request) -> Response:
        return await api.create_rows(resource, request)

    async def update_rows(request: Request) -> Response:
        return await api.update_rows(resource, request)

    async def delete_rows(request: Request) -> Response:
        return await api.delete_rows(resource, request)

    async def read_only(request: Request) -> Response:  # noqa: ARG001
        raise MethodNotAllowed(f"{resource.name} is read-only", headers={"Allow": READ_METHODS})

    add_resource_routes(
        router, resource, extra=api.extra_schema.get(resource.name, {}),
        list_rows=list_rows, head_rows=head_rows, options=options, create_rows=create_rows,
        update_rows=update_rows, delete_rows=delete_rows, read_only=read_only,
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
    ) -> tuple[Serializer, tuple[str, ...]]:
        """The rows of one answer as JSON-ready dicts, and the names of the fields answered.

        Computed fields are computed only if selected.
        """
        extra_names = self._extra_names(resource)
        columns = parse_select(select_text, resource.columns, extra=extra_names)
        all_extra = select_text is None or "*" in (name.strip() for name in select_text.split(","))
        factory = self.extra_fields.get(resource.name)
        if not (all_extra or any(name in extra_names for name in columns)):
            factory = None
        names = (*columns, *(n for n in extra_names if n not in columns)) if all_extra else columns

        def show(rows: Sequence[Base]) -> list[dict[str, Any]]:
            extra = factory(rows) if factory is not None else None
            return [serialize(row, columns, extra, all_extra=all_extra) for row in rows]

        return show, names

    async def list_rows(
        self, resource: Resource, request: Request, *, body: bool = True
    ) -> Response:
        representation = Representation.of(request.headers)
        preferences = Preferences.parse(request.headers.getlist("prefer"))
        query = (
            parse_query(
                resource.model,
                request.query_params.multi_items(),
                columns=resource.columns,
                extra=self._extra_names(resource),
            )
            .within(parse_range(request.headers.get("range"), request.headers.get("range-unit")))
            .capped(self.limits.max_rows)
        )
        show, names = self._serializer(resource, request.query_params.get("select"))

        def read() -> tuple[list[dict[str, Any]], int | None]:
            with self.store.read() as session:
                total = None
                if preferences.count:
                    total = int(session.scalar(query.count_statement()) or 0)
                    answer_status(query.offset, 0, total)  # 416 before reading rows
                rows = session.scalars(query.statement()).all()
                return show(rows), total

        rows, total = await asyncio.to_thread(read)
        headers = {
            "Content-Range": content_range(query.offset, len(rows), total),
            "Range-Unit": "items",
        }
        _applied(headers, preferences.applied(writing=False))
        status = answer_status(query.offset, len(rows), total)
        return representation.answer(rows, columns=names, status=status, headers=headers,
                                     body=body)  # fmt: skip

    async def create_rows(self, resource: Resource, request: Request) -> Response:
        representation = Representation.of(request.headers)
        preferences = Preferences.parse(request.headers.getlist("prefer"))
        params = single_params(
            request, allowed={"select", "columns", "on_conflict", *resource.flags}
        )
        show, names = self._serializer(resource, params.get("select"))
        force = flag(params.get("force"), "force")
        columns = parse_columns(params.get("columns"), resource.body_fields())
        key = conflict_key(resource, params.get("on_conflict")) if preferences.resolution else None
        body = await json_body(request)
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
            resource.fields(item, creating=True, index=i if array else None, columns=columns,
                            with_id=key is not None)
            for i, item in enumerate(items)
        ]  # fmt: skip
        ctx = self._context(request, force=force)

        def write() -> tuple[list[dict[str, Any]], list[uuid.UUID], int]:
            with self.store.write() as session, conflicts():
                if key is None:
                    indexes = range(len(values)) if array else None
                    made = resource.create(session, values, ctx, indexes=indexes)
                    done = Upserted(made, len(made))
                else:
                    ignore = preferences.resolution == "ignore-duplicates"
                    done = upsert(resource, session, values, ctx, key=key, ignore=ignore,
                                  array=array)  # fmt: skip
                session.flush()
                representation.check_rows(len(done.rows))
                answer = show(done.rows) if preferences.representation else []
                return answer, [row.id for row in done.rows], done.inserted

        answer, ids, inserted = await asyncio.to_thread(write)
        self._wake_if(ctx)
        merged_only = preferences.resolution == "merge-duplicates" and inserted == 0
        status = 200 if merged_only else 201
        headers = {"Content-Range": f"*/{len(ids) if preferences.count else '*'}"}
        if preferences.return_ == "headers-only" and len(ids) == 1:
            headers["Location"] = f"/v1/{resource.name}?id=eq.{ids[0]}"
        _applied(headers, preferences.applied(writing=True, upsert=key is not None))
        return _written(representation, preferences, answer, names, headers, status, status)

    async def update_rows(self, resource: Resource, request: Request) -> Response:
        representation = Representation.of(request.headers)
        preferences = Preferences.parse(request.headers.getlist("prefer"))
        filters, params = self._write_filters(resource, request, extra=("columns",))
        show, names = self._serializer(resource, params.get("select"))
        force = flag(params.get("force"), "force")
        columns = parse_columns(params.get("columns"), resource.body_fields())
        body = await json_body(request)
        if isinstance(body, list):
            raise BadRequest(
                f"PATCH takes one JSON object with the fields to change of every matching "
                f"{resource.kind}, not an array"
            )
        values = resource.fields(body, creating=False, columns=columns)
        ctx = self._context(request, force=force)

        def write() -> tuple[list[dict[str, Any]], int]:
            with self.store.write() as session, conflicts():
                rows = session.scalars(matching(resource.model, filters)).all()
                preferences.check_affected(len(rows))
                representation.check_rows(len(rows))
                resource.update(session, rows, values, ctx)
                session.flush()
                return (show(rows) if preferences.representation else []), len(rows)

        answer, affected = await asyncio.to_thread(write)
        self._wake_if(ctx)
        headers = {
            "Content-Range": content_range(0, affected, affected if preferences.count else None)
        }
        _applied(headers, preferences.applied(writing=True))
        return _written(representation, preferences, answer, names, headers, 200, 204)

    async def delete_rows(self, resource: Resource, request: Request) -> Response:
        representation = Representation.of(request.headers)
        preferences = Preferences.parse(request.headers.getlist("prefer"))
        filters, params = self._write_filters(resource, request, flags=False)
        show, names = self._serializer(resource, params.get("select"))
        ctx = self._context(request)

        def write() -> tuple[list[dict[str, Any]], int]:
            with self.store.write() as session, conflicts():
                rows = session.scalars(matching(resource.model, filters)).all()
                preferences.check_affected(len(rows))
                representation.check_rows(len(rows))
                answer = show(rows) if preferences.representation else []
                ids = [row.id for row in rows]
                resource.delete(session, rows, ctx)
                if isinstance(resource, ExternalCalendars):
                    for item, row_id in zip(answer, ids, strict=False):
                        item["deleted_bookings"] = ctx.deleted_bookings[row_id]
                return answer, len(ids)

        answer, affected = await asyncio.to_thread(write)
        headers = {"Content-Range": f"*/{affected if preferences.count else '*'}"}
        if isinstance(resource, ExternalCalendars):
            headers[DELETED_BOOKINGS_HEADER] = str(sum(ctx.deleted_bookings.values()))
            names = (*names, "deleted_bookings")
        _applied(headers, preferences.applied(writing=True))
        return _written(representation, preferences, answer, names, headers, 200, 204)

    def _write_filters(
        self,
        resource: Resource,
        request: Request,
        *,
        flags: bool = True,
        extra: Sequence[str] = (),
    ) -> tuple[tuple[Any, ...], dict[str, str]]:
        pairs = request.query_params.multi_items()
        allowed = {"select", *extra, *(resource.flags if flags else ())}
        for name, _ in pairs:
            if name in RESERVED - allowed:
                raise BadRequest(f"{name} applies to GET only", details={"parameter": name})
        params = single_params(request, allowed=allowed, others_allowed=True)
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
        self,
        request: Request,
        status: int,
        kind: str,
        act: Callable[[Session, WriteContext, uuid.UUID], Any],
    ) -> Response:
        """Run an action on the path's ``kind`` row in a transaction; answer it, woken if asked."""
        row_id = path_id(request, kind)
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

        return await self._act(request, 202, "external calendar", act)

    async def release(self, request: Request) -> Response:
        show, _ = self._serializer(resource_named("external_calendars"), None)

        def act(session: Session, ctx: WriteContext, calendar_id: uuid.UUID) -> dict[str, Any]:
            released, calendar = calendars.release(session, ctx, calendar_id)
            session.flush()
            return {"released": released, "external_calendar": show([calendar])[0]}

        return await self._act(request, 200, "external calendar", act)

    async def rotate_feed_token(self, request: Request) -> Response:
        show, _ = self._serializer(resource_named("products"), None)

        def act(session: Session, ctx: WriteContext, product_id: uuid.UUID) -> dict[str, Any]:
            product = products.rotate_feed_token(session, ctx, product_id)
            session.flush()
            return show([product])[0]

        return await self._act(request, 200, "product", act)

    async def booking_statuses(self, request: Request) -> Response:
        """The booking statuses and what each means for availability; ``select`` only."""
        representation = Representation.of(request.headers)
        rows = bookings.statuses()
        params = single_params(request, allowed={"select"})
        names = parse_select(params.get("select"), tuple(rows[0]))
        shown = [{name: row[name] for name in names} for row in rows]
        headers = {"Content-Range": content_range(0, len(shown), None)}
        return representation.answer(shown, columns=names, status=200, headers=headers)


def _written(
    representation: Representation,
    preferences: Preferences,
    answer: list[dict[str, Any]],
    names: Sequence[str],
    headers: dict[str, str],
    status: int,
    empty_status: int,
) -> Response:
    """A write's answer: the rows with ``return=representation``, else no body."""
    if preferences.representation:
        return representation.answer(answer, columns=names, status=status, headers=headers)
    return Response(status_code=empty_status, headers=headers)


def _applied(headers: dict[str, str], applied: str | None) -> None:
    if applied is not None:
        headers[APPLIED_HEADER] = applied
