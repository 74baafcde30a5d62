"""``GET /v1/availability`` and ``GET /v1/conflicts``.

Both take the product as the rest of the API filters it, ``product_id=eq.<uuid>``;
the plain ``product_id=<uuid>`` of earlier versions is kept as a deprecated alias.
Answers are negotiated like the resources' (:mod:`calsync.web.representation`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from calsync import reports
from calsync.errors import BadRequest, InvalidValue
from calsync.web.auth import require_api_key
from calsync.web.representation import Representation
from calsync.web.schema import COMMON_RESPONSES, ErrorBody, rows_content

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calsync.store.db import Store

_PRODUCT = (
    "The product: `eq.<uuid>`, as every filter of the API (the bare `<uuid>` is a deprecated "
    "alias)."
)
_PRODUCT_PATTERN = r"^(eq\.)?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$"
_NIGHT = {
    "type": "object",
    "properties": {
        "date": {"type": "string", "format": "date"},
        "units_booked": {"type": "integer"},
        "capacity": {"type": "integer"},
        "available": {"type": "boolean"},
        "bookings": {"type": "array", "items": {"type": "object"}},
    },
}
_CONFLICT = {
    "type": "object",
    "properties": {
        "product_id": {"type": "string", "format": "uuid"},
        "from": {"type": "string", "format": "date"},
        "until": {"type": "string", "format": "date"},
        "nights": {"type": "array", "items": {"type": "string", "format": "date"}},
        "units_booked": {"type": "integer"},
        "capacity": {"type": "integer"},
        "bookings": {"type": "array", "items": {"type": "object"}},
    },
}


def availability_router(*, store: Store, clock: Callable[[], datetime]) -> APIRouter:
    """The availability and conflict endpoints, behind an API key."""
    router = APIRouter(
        prefix="/v1",
        tags=["availability"],
        dependencies=[Depends(require_api_key(store=store, clock=clock))],
        responses=COMMON_RESPONSES,
    )

    @router.get(
        "/availability",
        response_class=Response,
        responses={200: {"description": "One row a night.", "content": rows_content(_NIGHT)},
                   404: {"model": ErrorBody, "description": "No product with this id."}},
    )  # fmt: skip
    async def availability(
        request: Request,
        product_id: Annotated[str, Query(description=_PRODUCT, pattern=_PRODUCT_PATTERN)],
        first: Annotated[str, Query(alias="from", description="First night, YYYY-MM-DD.")],
        until: Annotated[str, Query(description="Night after the last, YYYY-MM-DD.")],
    ) -> Response:
        """Per night: units booked, capacity, available, and the bookings that cause it."""
        representation = Representation.of(request.headers)
        product, start, end = (
            _product("product_id", product_id),
            _date("from", first),
            _date("until", until),
        )

        def read() -> list[dict[str, Any]]:
            with store.read() as session:
                return reports.availability(session, product, start, end)

        rows = await asyncio.to_thread(read)
        return representation.answer(rows, columns=tuple(_NIGHT["properties"]), status=200,
                                     headers={})  # fmt: skip

    @router.get(
        "/conflicts",
        response_class=Response,
        responses={200: {"description": "The conflicts.", "content": rows_content(_CONFLICT)}},
    )
    async def conflicts(
        request: Request,
        product_id: Annotated[
            str | None, Query(description=_PRODUCT + " Without: every product's.",
                              pattern=_PRODUCT_PATTERN)
        ] = None,
    ) -> Response:  # fmt: skip
        """Double bookings that arrived from channels anyway, from today on."""
        representation = Representation.of(request.headers)
        product = _product("product_id", product_id) if product_id is not None else None

        def read() -> list[dict[str, Any]]:
            with store.read() as session:
                return reports.conflicts(session, now=clock(), product_id=product)

        rows = await asyncio.to_thread(read)
        return representation.answer(rows, columns=tuple(_CONFLICT["properties"]), status=200,
                                     headers={})  # fmt: skip

    return router


def _product(field: str, text: str) -> uuid.UUID:
    """``eq.<uuid>`` (or, deprecated, the bare ``<uuid>``)."""
    try:
        return uuid.UUID(text.removeprefix("eq."))
    except ValueError as exc:
        msg = f"{field}: expected eq.<uuid> (or a bare UUID), got {text!r}"
        raise InvalidValue(msg, details={"field": field}) from exc


def _date(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        msg = f"{field}: not a date (YYYY-MM-DD): {text!r}"
        raise BadRequest(msg, details={"field": field}) from exc
