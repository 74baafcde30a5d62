"""The ``/v1`` routes of each resource and the actions on one row, with their OpenAPI description.

Each is described from the resource's field policy
(:class:`~calsync.web.openapi.ResourceDocs`); the handlers are
:mod:`calsync.web.api`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

from calsync.services.bookings import STATUS
from calsync.web.openapi import ResourceDocs
from calsync.web.schema import SELECT_ONLY, ErrorBody, rows_responses

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from fastapi import APIRouter, Request

    from calsync.web.policy import Resource

    Handler = Callable[[Request], Awaitable[Response]]


def add_resource_routes(
    router: APIRouter,
    resource: Resource,
    *,
    extra: Mapping[str, dict[str, Any]],
    list_rows: Handler,
    head_rows: Handler,
    options: Handler,
    create_rows: Handler,
    update_rows: Handler,
    delete_rows: Handler,
    read_only: Handler,
) -> None:
    """GET, POST, PATCH and DELETE of ``resource``, described (writes to a read-only one: 405).

    HEAD (a GET without its body) and OPTIONS (the methods, in ``Allow``) are
    answered but not described as operations of their own. ``extra`` names the
    resource's computed fields with their JSON schema.
    """
    path = f"/{resource.name}"
    tags: list[str | Any] = [resource.name]
    docs = ResourceDocs(resource, extra)
    router.add_api_route(
        path,
        list_rows,
        methods=["GET"],
        tags=tags,
        response_class=Response,
        operation_id=f"list_{resource.name}",
        summary=f"List {resource.name}",
        description=docs.list_description(),
        responses=docs.list_responses(),
        openapi_extra={"parameters": docs.list_parameters()},
    )
    router.add_api_route(path, head_rows, methods=["HEAD"], include_in_schema=False)
    router.add_api_route(path, options, methods=["OPTIONS"], include_in_schema=False)
    if not resource.writable:
        router.add_api_route(
            path, read_only, methods=["POST", "PATCH", "DELETE"], include_in_schema=False
        )
        return
    router.add_api_route(
        path,
        create_rows,
        methods=["POST"],
        status_code=201,
        tags=tags,
        response_class=Response,
        operation_id=f"create_{resource.name}",
        summary=f"Create {resource.name}",
        description=docs.create_description(),
        responses=docs.create_responses(),
        openapi_extra={
            "parameters": docs.write_parameters(filters=False, creating=True),
            "requestBody": docs.create_body(),
        },
    )
    router.add_api_route(
        path,
        update_rows,
        methods=["PATCH"],
        tags=tags,
        response_class=Response,
        operation_id=f"update_{resource.name}",
        summary=f"Change the {resource.name} the filters match",
        description=docs.update_description(),
        responses=docs.write_responses(200, "The changed rows (Prefer: return=representation)."),
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
        response_class=Response,
        operation_id=f"delete_{resource.name}",
        summary=f"Delete the {resource.name} the filters match",
        description=docs.delete_description(),
        responses=docs.delete_responses(),
        openapi_extra={"parameters": docs.write_parameters(filters=True, flags=False, body=False)},
    )


@dataclass(frozen=True)
class Action:
    """A POST on one row of a resource (``/external_calendars/{id}/sync``), described."""

    resource: Resource
    name: str
    param: str
    """The path parameter naming the row: ``calendar_id``, ``product_id``."""
    status: int
    summary: str
    description: str
    answer: str
    """What the answer is, for the document."""
    answer_schema: dict[str, Any]

    def add(self, router: APIRouter, endpoint: Handler) -> None:
        """Add the route of the action, answered by ``endpoint``."""
        kind = self.resource.kind
        router.add_api_route(
            f"/{self.resource.name}/{{{self.param}}}/{self.name}",
            endpoint,
            methods=["POST"],
            status_code=self.status,
            tags=[self.resource.name],
            response_class=Response,
            operation_id=f"{self.name}_{self.resource.name}",
            summary=self.summary,
            description=self.description,
            responses={
                self.status: {
                    "description": self.answer,
                    "content": {"application/json": {"schema": self.answer_schema}},
                },
                404: {"model": ErrorBody, "description": f"No {kind} with this id."},
            },
            openapi_extra={
                "parameters": [
                    {
                        "name": self.param,
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                        "description": f"The {kind}'s id.",
                    }
                ]
            },
        )


def add_statuses_route(router: APIRouter, endpoint: Handler) -> None:
    """``GET /booking_statuses``: what each status of a booking means for availability."""
    row = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(STATUS.options)},
            "blocks_availability": {"type": "boolean"},
            "description": {"type": "string"},
        },
    }
    router.add_api_route(
        "/booking_statuses",
        endpoint,
        methods=["GET"],
        tags=["bookings"],
        response_class=Response,
        operation_id="list_booking_statuses",
        summary="List the booking statuses",
        description="Each status a booking can have, whether it blocks availability "
        "(confirmed and tentative do, cancelled does not) and what it means. Takes `select`.",
        responses=rows_responses(row),
        openapi_extra={"parameters": [SELECT_ONLY]},
    )


def actions(
    resources: Mapping[str, Resource], extra: Mapping[str, Mapping[str, Any]]
) -> dict[str, Action]:
    """The actions on rows: sync and release a calendar, rotate a product's feed token."""
    calendars, products = resources["external_calendars"], resources["products"]
    calendar = ResourceDocs(calendars, extra.get(calendars.name, {})).row_schema()
    product = ResourceDocs(products, extra.get(products.name, {})).row_schema()
    return {
        "sync": Action(
            calendars,
            "sync",
            "calendar_id",
            202,
            "Sync an external calendar now",
            "Sets `sync_requested_at` to now and wakes the dispatcher: the calendar is synced "
            "at once instead of at its next scheduled time.",
            "The sync was requested.",
            {
                "type": "object",
                "required": ["id", "sync_requested_at"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "sync_requested_at": {"type": "string", "format": "date-time"},
                },
            },
        ),
        "release": Action(
            calendars,
            "release",
            "calendar_id",
            200,
            "Apply an external calendar's held deletions now",
            "The deletions the deletion guard holds (see `held_since` and `error`) are applied "
            "now instead of when the next fetch confirms them: `released` counts the bookings "
            "deleted.",
            "How many bookings were deleted, and the calendar.",
            {
                "type": "object",
                "required": ["released", "external_calendar"],
                "properties": {
                    "released": {"type": "integer", "minimum": 0},
                    "external_calendar": calendar,
                },
            },
        ),
        "rotate_feed_token": Action(
            products,
            "rotate_feed_token",
            "product_id",
            200,
            "Give a product a new feed URL",
            "A new `feed_token`: the product's old feed URL and every export URL made from it "
            "answer 404 from now on. Paste the new ones (`feed_url`, each calendar's "
            "`export_url`) into every channel.",
            "The product with its new `feed_token` and `feed_url`.",
            product,
        ),
    }
