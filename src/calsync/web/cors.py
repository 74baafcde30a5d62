"""CORS for browser apps on the REST API only (``server.cors_origins``).

Starlette's :class:`~starlette.middleware.cors.CORSMiddleware`, applied to the
paths under ``/v1`` and to nothing else (the feeds, health checks and metrics
never answer a browser's cross-origin request): a preflight ``OPTIONS`` from a
listed origin is answered with the methods and headers the API takes, and
answers expose ``Content-Range`` (and calsync's headers) to the page. Without
origins there is no middleware at all, so no CORS header is ever sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware.cors import CORSMiddleware

if TYPE_CHECKING:
    from collections.abc import Sequence

    from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")
HEADERS = (
    "Authorization",
    "Prefer",
    "Range",
    "Range-Unit",
    "Content-Type",
    "Accept",
    "Accept-Profile",  # the clients name the schema (public) when they are given one
    "Content-Profile",
    "X-Client-Info",  # postgrest-js and supabase-js send it with every request
    "X-Request-Id",
)
EXPOSED = (
    "Content-Range",
    "Preference-Applied",
    "Location",
    "X-Request-Id",
    "Calsync-Deleted-Bookings",
)
_PREFLIGHT_SECONDS = 86_400  # as PostgREST: browsers may keep a preflight's answer a day


class ApiCors:
    """ASGI middleware: CORS on ``prefix`` (``/v1``) for ``origins``; other paths pass as is."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str], prefix: str = "/v1") -> None:
        self._app = app
        self._prefix = prefix
        self._cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=list(METHODS),
            allow_headers=list(HEADERS),
            expose_headers=list(EXPOSED),
            max_age=_PREFLIGHT_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """CORS for API paths; the app alone for the rest."""
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path == self._prefix or path.startswith(self._prefix + "/"):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)
