"""``GET /ical/{feed_token}.ics``: the outbound feed, with ETag / Last-Modified and 304s.

A client that accepts gzip gets the body compressed once per rendering
(``Content-Encoding: gzip``, its own ETag, ``Vary: Accept-Encoding``).

Every channel polls every feed, so this is calsync's busiest route, and it is kept
lean: a plain Starlette route (no FastAPI parameter parsing; it is left out of the
OpenAPI document, which describes the REST API), the feed served from memory in
the event loop while its last check is fresh (:meth:`FeedService.cached`), the
thread pool used only when the store must be asked.
"""

from __future__ import annotations

import functools
import uuid
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from calsync.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calsync.feeds import FeedReadLog, FeedService, RenderedFeed

_CACHE_CONTROL = "private, max-age=0, must-revalidate"
_DISPOSITION = 'inline; filename="calendar.ics"'
_MEDIA_TYPE = "text/calendar; charset=utf-8"


def feeds_router(
    service: FeedService, read_log: FeedReadLog, *, clock: Callable[[], datetime] = utc_now
) -> APIRouter:
    """The feed endpoint; every read is noted in ``read_log``."""

    async def feed(request: Request) -> Response:
        """A product's outbound feed: every blocked interval, neutral summaries, no guest data."""
        token: str = request.path_params["feed_token"]
        exclude = request.query_params.get("exclude")
        excluded = _uuid(exclude)
        if exclude is not None and excluded is None:
            return _not_found()
        rendered = service.cached(token, excluded)
        if rendered is None:
            rendered = await run_in_threadpool(service.feed, token, excluded)
            if rendered is None:
                return _not_found()
        request_headers = request.headers
        read_log.record(
            product_id=rendered.product_id,
            external_calendar_id=rendered.excluded,
            user_agent=request_headers.get("user-agent", ""),
            status="success",
            read_at=clock(),
        )
        compressed = accepts_gzip(request_headers.get("accept-encoding"))
        headers = {
            "ETag": rendered.gzip_etag if compressed else rendered.etag,
            "Last-Modified": _http_date(rendered.last_modified),
            "Cache-Control": _CACHE_CONTROL,
            "Vary": "Accept-Encoding",
        }
        if _not_modified(
            rendered, request_headers.get("if-none-match"), request_headers.get("if-modified-since")
        ):
            return Response(status_code=304, headers=headers)
        headers["Content-Disposition"] = _DISPOSITION
        body = rendered.body
        if compressed:
            headers["Content-Encoding"] = "gzip"
            body = rendered.gzipped
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return Response(media_type=_MEDIA_TYPE, headers=headers)
        return Response(body, media_type=_MEDIA_TYPE, headers=headers)

    router = APIRouter()
    router.add_route(
        "/ical/{feed_token}.ics", feed, methods=["GET", "HEAD"], include_in_schema=False
    )
    return router


def _not_found() -> Response:
    """The same answer for an unknown token and a malformed exclude: no hint what exists."""
    return Response("not found\n", status_code=404, media_type="text/plain")


def _uuid(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _http_date(moment: datetime) -> str:
    """``Last-Modified``'s format; a feed's is formatted once, not on every read."""
    return format_datetime(moment, usegmt=True)


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether ``Accept-Encoding`` takes gzip (``gzip`` or ``*``, with a q-value above 0)."""
    if not accept_encoding:
        return False
    quality: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        q = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        quality[coding.strip().lower()] = q
    return quality.get("gzip", quality.get("x-gzip", quality.get("*", 0.0))) > 0


def _not_modified(rendered: RenderedFeed, if_none_match: str | None, since: str | None) -> bool:
    """Whether the client holds the current feed; either encoding's ETag means the same data."""
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or rendered.etag in tags or rendered.gzip_etag in tags
    if since is not None:
        try:
            return rendered.last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
