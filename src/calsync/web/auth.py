"""The API's authentication: ``Authorization: Bearer calsync_…`` checked against the store.

Keys are made, listed and revoked with :mod:`calsync.services.keys` (re-exported here);
:func:`require_api_key` builds the FastAPI dependency every ``/v1`` route uses.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from calsync.errors import Unauthorized
from calsync.services.keys import (
    KEY_PREFIX,
    TOUCH_INTERVAL,
    KeyUses,
    authenticate,
    create_api_key,
    find_api_key,
    hash_secret,
    list_api_keys,
    new_secret,
    record_use,
    revoke_api_key,
    touch_api_key,
)
from calsync.store.models import ApiKey  # noqa: TC001 - FastAPI reads the return annotation

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from calsync.store.db import Store

__all__ = [
    "KEY_PREFIX",
    "TOUCH_INTERVAL",
    "authenticate",
    "create_api_key",
    "find_api_key",
    "hash_secret",
    "list_api_keys",
    "new_secret",
    "require_api_key",
    "revoke_api_key",
    "touch_api_key",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key made with `calsync apikey create NAME`, sent as "
    "`Authorization: Bearer calsync_…`.",
)


def require_api_key(
    *, store: Store, clock: Callable[[], datetime]
) -> Callable[..., Awaitable[ApiKey]]:
    """A FastAPI dependency: the request's valid API key, or 401 with ``WWW-Authenticate``.

    A due ``last_used_at`` is written by a background task after the answer is sent.
    The key is also put on ``request.state.api_key``: writes name it as their cause.
    """
    uses = KeyUses()

    async def api_key(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        background: BackgroundTasks,
    ) -> ApiKey:
        if credentials is None or not credentials.credentials:
            raise Unauthorized(
                "an API key is required: Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        now = clock()
        key = await asyncio.to_thread(authenticate, store, credentials.credentials)
        if uses.due(key, now):
            background.add_task(record_use, store, key.id, now)
        request.state.api_key = key
        return key

    return api_key
