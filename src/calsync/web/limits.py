"""A bound on request bodies, enforced while they stream in (``api.max_body_bytes``).

:class:`BodyLimit` wraps the ASGI ``receive`` of every HTTP request: a body whose
``Content-Length`` says it is too large is refused at the first read, before a
byte of it is read; a body without one (chunked) is counted as it arrives and
refused as soon as it passes the limit, so at most the limit plus one chunk is
ever held. The refusal is :class:`~calsync.errors.PayloadTooLarge`, raised where
the route reads the body, so it is answered like every other error (413). Routes
that never read a body are not affected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from calsync.errors import PayloadTooLarge

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: request bodies of at most ``max_bytes`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with ``receive`` bounded."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        limit = self._max_bytes
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise _too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self._app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than {limit} bytes (api.max_body_bytes)",
        details={"limit": limit, "setting": "api.max_body_bytes"},
    )
