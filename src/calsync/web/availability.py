"""``GET /v1/availability`` and ``GET /v1/conflicts``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query

from calsync import reports
from calsync.errors import BadRequest
from calsync.web.auth import require_api_key

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from calsync.store.db import Store


def availability_router(*, store: Store, clock: Callable[[], datetime]) -> APIRouter:
    """The availability and conflict endpoints, behind an API key."""
    router = APIRouter(
        prefix="/v1",
        tags=["availability"],
        dependencies=[Depends(require_api_key(store=store, clock=clock))],
    )

    @router.get("/availability")
    async def availability(
        product_id: Annotated[str, Query(description="The product.")],
        first: Annotated[str, Query(alias="from", description="First night, YYYY-MM-DD.")],
        until: Annotated[str, Query(description="Night after the last, YYYY-MM-DD.")],
    ) -> list[dict[str, Any]]:
        """Per night: units booked, capacity, available, and the bookings that cause it."""
        product, start, end = (
            _uuid("product_id", product_id),
            _date("from", first),
            _date("until", until),
        )

        def read() -> list[dict[str, Any]]:
            with store.read() as session:
                return reports.availability(session, product, start, end)

        return await asyncio.to_thread(read)

    @router.get("/conflicts")
    async def conflicts(
        product_id: Annotated[str | None, Query(description="Only this product's.")] = None,
    ) -> list[dict[str, Any]]:
        """Double bookings that arrived from channels anyway, from today on."""
        product = _uuid("product_id", product_id) if product_id is not None else None

        def read() -> list[dict[str, Any]]:
            with store.read() as session:
                return reports.conflicts(session, now=clock(), product_id=product)

        return await asyncio.to_thread(read)

    return router


def _uuid(field: str, text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        msg = f"{field}: not a UUID: {text!r}"
        raise BadRequest(msg, details={"field": field}) from exc


def _date(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        msg = f"{field}: not a date (YYYY-MM-DD): {text!r}"
        raise BadRequest(msg, details={"field": field}) from exc
