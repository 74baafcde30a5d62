"""The FastAPI app of ``calsync run``: health, readiness, metrics, feeds and the REST API.

The app knows nothing of the dispatcher: it is given ``wake`` (a write made a
calendar due) and ``is_running`` (for ``/readyz``) as callables. ``/docs``
(Swagger UI) and ``/redoc`` work offline: their scripts and styles are served by
calsync from the ``fastapi-offline`` package, never from a CDN. CORS, for the
REST API only, follows ``server.cors_origins`` (:mod:`calsync.web.cors`).

Errors are presented in one place, :func:`_error_response`: JSON
``{"code", "message", "details", "hint", "request_id"}`` with a 4xx status for
anything a client sent; ``request_id`` is also the ``X-Request-Id`` header. A
method no route of the path takes is a 405 whose ``Allow`` lists the methods of
every route of the path. A
database failure (503) or a bug (500) is answered with a fixed message: the SQL,
its parameters, the traceback and the library's message go to the log only,
under the same request id.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from calsync import __version__, reports
from calsync.clock import utc_now
from calsync.config import Settings  # noqa: TC001 - a run-time dependency of create_app
from calsync.errors import ApiError, CalsyncError, NotFound, StoreError, UnsupportedMethod
from calsync.metrics import Metrics  # noqa: TC001 - a run-time dependency of create_app
from calsync.services.views import COMPUTED_SCHEMA, Views
from calsync.store.db import Store  # noqa: TC001
from calsync.web.api import api_router
from calsync.web.availability import availability_router
from calsync.web.cors import ApiCors
from calsync.web.feeds import feeds_router
from calsync.web.limits import BodyLimit
from calsync.web.request_ids import HEADER, RequestIds, request_id_of
from calsync.web.ui import ui_routes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime

    from fastapi import FastAPI, Request

    from calsync.feeds import FeedReadLog, FeedService


log = structlog.get_logger("calsync.web")


def create_app(
    *,
    store: Store,
    metrics: Metrics,
    feed_service: FeedService,
    read_log: FeedReadLog,
    settings: Settings,
    clock: Callable[[], datetime] = utc_now,
    conflicts: reports.ConflictCache | None = None,
    wake: Callable[[], None] | None = None,
    is_running: Callable[[], bool] | None = None,
) -> FastAPI:
    """The app; ``wake`` and ``is_running`` are the dispatcher's, when one runs in this process.

    Without one, a manual trigger waits for the daemon's next tick, and ``/readyz``
    says the scheduler does not run. ``conflicts`` is shared with the daemon's
    conflict check, when there is one.
    """
    app = FastAPIOffline(
        title="calsync",
        version=__version__,
        swagger_ui_parameters={"validatorUrl": None},  # no badge from swagger.io
    )
    conflicts = conflicts or reports.ConflictCache()
    app.include_router(feeds_router(feed_service, read_log, clock=clock))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Readiness: the database answers and takes writes, and the scheduler runs."""
        checks = {
            "database": await asyncio.to_thread(store.readable),
            "database_writable": await asyncio.to_thread(store.writable),
            "scheduler": is_running is not None and is_running(),
        }
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {
                "description": "The metrics in Prometheus' text format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def prometheus_metrics() -> Response:
        """Prometheus metrics."""
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    wake = wake or _no_dispatcher
    app.include_router(
        api_router(
            store=store,
            clock=clock,
            wake=wake,
            default_timezone=settings.products.default_timezone,
            default_transparent_events=settings.sync.transparent_events,
            extra_fields=Views.of(store, settings, clock=clock, conflicts=conflicts).computed(),
            extra_schema=COMPUTED_SCHEMA,
            limits=settings.api,
            window_past_days=settings.sync.past_days,
        )
    )
    app.include_router(availability_router(store=store, clock=clock))
    app.router.routes.extend(
        ui_routes(store=store, settings=settings, clock=clock, conflicts=conflicts, wake=wake)
    )
    for handled in (CalsyncError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(handled, _error_response)
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(RequestIds)
    if settings.server.cors_origins:
        app.add_middleware(ApiCors, origins=settings.server.cors_origins)
    return app


def _no_dispatcher() -> None:
    """Without a scheduler in this process a manual trigger waits for the daemon's tick."""


_STORE_UNAVAILABLE = (
    "the database is unavailable or refused the operation; try again, or report the request id"
)
_INTERNAL_ERROR = "an internal error; report the request id"


async def _error_response(request: Request, exc: Exception) -> JSONResponse:
    """Every error as JSON ``{"code", "message", "details", "hint", "request_id"}``."""
    request_id = request_id_of(request)
    details: dict[str, Any]
    message: str | None = None
    if isinstance(exc, HTTPException) and exc.status_code == 405:  # noqa: PLR2004
        allow = _allowed_methods(request)
        exc = UnsupportedMethod(
            f"{request.method} is not a method of {request.url.path}; use {allow}",
            details={"method": request.method, "allow": allow.split(",")},
            headers={"Allow": allow},
        )
    if isinstance(exc, NotFound):
        status, code, details = 404, "not_found", {"kind": exc.kind, "id": exc.ident}
    elif isinstance(exc, RequestValidationError):
        status, code = 400, "invalid_request"
        details = {"errors": [_validation_detail(error) for error in exc.errors()]}
    elif isinstance(exc, ApiError):
        status, code, details = exc.status, exc.code, exc.details
    elif isinstance(exc, HTTPException):
        status, code, details = exc.status_code, "http_error", {}
    elif isinstance(exc, StoreError):
        status, code, details, message = 503, "store_unavailable", {}, _STORE_UNAVAILABLE
        log.error("api.store_error", request_id=request_id, exc_info=exc)
    elif isinstance(exc, CalsyncError):
        status, code, details = 400, "bad_request", {}
    else:
        status, code, details, message = 500, "internal_error", {}, _INTERNAL_ERROR
        log.error("api.internal_error", request_id=request_id, exc_info=exc)
    if message is None:
        message = exc.detail if isinstance(exc, HTTPException) else _message(exc)
    headers = dict(exc.headers or {}) if isinstance(exc, ApiError | HTTPException) else {}
    headers[HEADER] = request_id
    body = {
        "code": code,
        "message": message,
        "details": details,
        "hint": None,
        "request_id": request_id,
    }
    return JSONResponse(body, status_code=status, headers=headers)


_METHOD_ORDER = ("OPTIONS", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """The methods of every route whose path matches the request's: a true ``Allow``."""
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    ordered = sorted(methods, key=lambda m: (*_METHOD_ORDER, m).index(m))
    return ",".join(ordered)


def _routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too (their paths carry the routers' prefixes)."""
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _validation_detail(error: Any) -> dict[str, Any]:  # noqa: ANN401 - pydantic's error dict
    return {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}


def _message(exc: Exception) -> str:
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or "request"
        return f"invalid {field}: {first['msg']}"
    return str(exc)
