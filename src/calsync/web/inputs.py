"""Reading a ``/v1`` request: its single-valued parameters, flags, JSON body and path id.

Every problem is a 400 naming what is wrong: a parameter given twice or unknown
(:class:`~calsync.errors.QueryParseError`, ``PGRST100``), a body that is no JSON
(:class:`~calsync.errors.InvalidBody`, ``PGRST102``), an id that is no UUID.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from calsync.errors import Conflict, InvalidBody, NotFound, QueryParseError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from fastapi import Request


def single_params(
    request: Request, *, allowed: Collection[str], others_allowed: bool = False
) -> dict[str, str]:
    """The ``allowed`` parameters, each at most once; others refused unless ``others_allowed``."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in allowed:
            if name in params:
                raise QueryParseError(f"{name} given more than once", details={"parameter": name})
            params[name] = value
        elif not others_allowed:
            raise QueryParseError(
                f"unknown query parameter {name!r} for {request.method}",
                details={"parameter": name},
            )
    return params


def flag(text: str | None, name: str) -> bool:
    """A ``true``/``false`` query flag (absent: false)."""
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise QueryParseError(
        f"{name}: expected true or false, got {text!r:.80}", details={"parameter": name}
    )


async def json_body(request: Request) -> object:
    """The request's body as JSON, or :class:`InvalidBody`."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidBody("a JSON body is required")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidBody(f"the body is not valid JSON: {exc}"[:300]) from exc


def path_id(request: Request, kind: str) -> uuid.UUID:
    """The row id in the request's path; one that cannot be an id is an unknown one's 404."""
    [raw] = request.path_params.values()
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise NotFound(kind=kind, ident=raw[:80]) from exc


@contextmanager
def conflicts() -> Iterator[None]:
    """Turn a constraint violation the checks did not foresee (a race) into a 409."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(
            "the change conflicts with stored data (a duplicate, or a row that was "
            "deleted meanwhile)"
        ) from exc
