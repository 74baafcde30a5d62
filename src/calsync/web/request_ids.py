"""A request id for every answer: the ``X-Request-Id`` header, and in every error body.

:class:`RequestIds` takes the id a proxy sent (``X-Request-Id`` of up to 64
letters, digits, ``.``, ``_`` or ``-``) or makes one, keeps it in the request's
state, binds it to the log context of everything the request logs, and puts it
on the answer. An error body carries it as ``request_id``, so what a client
reports can be found in the log, which alone has the internals.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import structlog
from starlette.datastructures import MutableHeaders

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_VALID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class RequestIds:
    """ASGI middleware: the request id of every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the request id in its state, its log context and its answer."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault(HEADER, request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self._app(scope, receive, send_with_id)


def request_id_of(request: Request) -> str:
    """The request's id (a new one if the middleware did not run, as in some tests)."""
    request_id = getattr(request.state, "request_id", None)
    if not isinstance(request_id, str):
        request_id = uuid.uuid4().hex
        request.state.request_id = request_id
    return request_id


def _incoming(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _VALID.fullmatch(value):
            return bytes(value).decode()
    return None
