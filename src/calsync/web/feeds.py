"""``GET /ical/{feed_token}.ics``: the outbound feed, with ETag / Last-Modified and 304s."""

from __future__ import annotations

import uuid
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from calsync.store.models import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calsync.feeds import FeedReadLog, FeedService, RenderedFeed

_CACHE_CONTROL = "private, max-age=0, must-revalidate"
_EXCLUDE_HELP = "Leave out the bookings imported from this external calendar (its own channel)."


def feeds_router(
    service: FeedService, read_log: FeedReadLog, *, clock: Callable[[], datetime] = utc_now
) -> APIRouter:
    """The feed endpoint; every read is noted in ``read_log``."""
    router = APIRouter(tags=["feeds"])

    @router.api_route(
        "/ical/{feed_token}.ics",
        methods=["GET", "HEAD"],
        response_class=Response,
        responses={
            200: {"content": {"text/calendar": {}}, "description": "The product's iCal feed."},
            304: {"description": "Not modified (If-None-Match / If-Modified-Since)."},
            404: {"description": "No such feed."},
        },
    )
    def feed(
        feed_token: str,
        request: Request,
        exclude: Annotated[
            str | None, Query(description="Leave out this calendar's imports.")
        ] = None,
        if_none_match: Annotated[str | None, Header()] = None,
        if_modified_since: Annotated[str | None, Header()] = None,
    ) -> Response:
        """A product's outbound feed: every blocked interval, neutral summaries, no guest data."""
        excluded = _uuid(exclude)
        if exclude is not None and excluded is None:
            return _not_found()
        rendered = service.feed(feed_token, excluded)
        if rendered is None:
            return _not_found()
        read_log.record(
            product_id=rendered.product_id,
            external_calendar_id=excluded,
            user_agent=request.headers.get("user-agent", ""),
            status="success",
            read_at=clock(),
        )
        headers = {
            "ETag": rendered.etag,
            "Last-Modified": format_datetime(rendered.last_modified, usegmt=True),
            "Cache-Control": _CACHE_CONTROL,
        }
        if _not_modified(rendered, if_none_match, if_modified_since):
            return Response(status_code=304, headers=headers)
        body = b"" if request.method == "HEAD" else rendered.body
        headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
        response = Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
        if request.method == "HEAD":
            response.headers["Content-Length"] = str(len(rendered.body))
        return response

    return router


def _not_found() -> Response:
    """The same answer for an unknown token and a foreign exclude: no hint what exists."""
    return Response("not found\n", status_code=404, media_type="text/plain")


def _uuid(text: str | None) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _not_modified(rendered: RenderedFeed, if_none_match: str | None, since: str | None) -> bool:
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or rendered.etag in tags
    if since is not None:
        try:
            return rendered.last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
