"""The parts of the OpenAPI document every ``/v1`` operation shares.

The error body (:class:`ErrorBody`) and its codes, the answers any operation may
give (:data:`COMMON_RESPONSES`), an answer of rows in each media type it can take
(:func:`rows_content`), and the help texts of filters, ``Accept`` and ``Prefer``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from calsync.web.filters import OPERATORS

_CODES = (
    "Machine-readable. PostgREST's code where it has one for the case: PGRST100 (a query "
    "parameter it cannot parse), PGRST102 (a body that is no JSON), PGRST103 (a range past the "
    "rows), PGRST106/PGRST107 (an Accept it cannot serve), PGRST116 (one object asked for, 0 "
    "or several rows), PGRST117 (a method no route takes), PGRST122 (Prefer with "
    "handling=strict), PGRST124 (max-affected), PGRST127 (a PostgREST feature calsync lacks), "
    "PGRST204 (an unknown body field or columns= name), PostgreSQL's 22P02 (a value not of its "
    "column's type), 23505 (a duplicate reference), 42703 (an unknown column), 42P10 (an "
    "on_conflict that is no unique key); else calsync's: bad_request, filter_required, "
    "unauthorized, not_found, method_not_allowed, conflict, imported_booking, "
    "payload_too_large, invalid_request, store_unavailable, internal_error."
)


class ErrorBody(BaseModel):
    """Every error the API answers with."""

    code: str = Field(description=_CODES)
    message: str = Field(description="What went wrong, for people.")
    details: dict[str, Any] = Field(
        description="Context: the field, the index or item of an array, the conflicting bookings…"
    )
    hint: str | None = Field(description="Always null (PostgREST's shape).")
    request_id: str = Field(
        description="The request's id, also the `X-Request-Id` header: finds it in the log."
    )


FILTER_PATTERN = rf"^(not\.)?({'|'.join(OPERATORS)})(\((any|all)\))?\."
FILTER_HELP = (
    "Any column can be filtered with `column=operator.value`: `eq`, `neq`, `gt`, `gte`, "
    "`lt`, `lte`, `isdistinct`, `in.(a,b)`, `like.*part*` (case-sensitive; `*` or `%` any "
    "run, `_` one character), `ilike.*part*` (any case), `is.null`, `is.not_null`, "
    "`is.true`, `is.false`, each negated by a `not.` prefix (`not.is.null`); `eq(any).{a,b}` "
    "and `like(all).{A*,*b}` test several values. Several filters are ANDed; `or=(a.eq.1,"
    "and(b.gt.2,c.is.null))`, `and=(…)`, `not.or=(…)` combine them. Values take the column's "
    "type: UUIDs, integers, `true`/`false`, instants (`2026-12-01T14:00:00Z`, write `+` as "
    "`%2B`; `2026-12-01 14:00:00` without an offset is UTC) or dates (`2026-12-01`, midnight "
    "UTC)."
)
ACCEPT_HELP = (
    " `Accept` chooses the answer's form: `application/json` (an array, the default), "
    "`application/vnd.pgrst.object+json` (one object; 406 `PGRST116` unless exactly one row), "
    "or `text/csv`; `;nulls=stripped` on the vendor types leaves out null fields."
)
PREFER_READ = (
    "`count=exact` (or `planned`, `estimated`: calsync always counts exactly) puts the number "
    "of matching rows in `Content-Range` (`0-49/123`; `0-49/*` without it)."
)
PREFER_WRITE = (
    "`return=representation` answers with the rows; `return=minimal` (the default) and "
    "`return=headers-only` (with `Location` for one created row) without a body. "
    "`count=exact`: the number of rows written in `Content-Range`. `handling=strict` refuses "
    "preferences calsync does not honour (400 `PGRST122`) and enforces `max-affected=N` on "
    "PATCH and DELETE (400 `PGRST124`, nothing written)."
)
PREFER_CREATE = (
    " `resolution=merge-duplicates` or `ignore-duplicates` makes the POST an upsert on "
    "`on_conflict` (the `id` by default; the `id` may then be given). `missing=default`: "
    "missing fields take their defaults (they always do)."
)
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid input; the message names it."},
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked API key."},
    406: {
        "model": ErrorBody,
        "description": "An Accept the API cannot answer with (PGRST107), an Accept-Profile "
        "other than public (PGRST106), or one object asked for "
        "(application/vnd.pgrst.object+json) when 0 or several rows match (PGRST116).",
    },
    413: {
        "model": ErrorBody,
        "description": "The body is larger than api.max_body_bytes, or a POST has more rows "
        "than api.max_rows_per_write.",
    },
    503: {"model": ErrorBody, "description": "The database is unavailable."},
}
"""The answers every ``/v1`` operation may give."""
SELECT_ONLY: dict[str, Any] = {
    "name": "select",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Fields to answer with, comma-separated (default: all).",
}
ROWS_HEADERS = {
    "Content-Range": {
        "description": "The rows answered and of how many: `0-49/123`, `0-49/*` without "
        "Prefer: count, `*/123` when none.",
        "schema": {"type": "string"},
    },
    "Preference-Applied": {
        "description": "The preferences of `Prefer` that were honoured.",
        "schema": {"type": "string"},
    },
}


def rows_content(row: dict[str, Any]) -> dict[str, Any]:
    """An answer of rows in each media type it can take."""
    rows = {"type": "array", "items": row}
    return {
        "application/json": {"schema": rows},
        "application/vnd.pgrst.array+json": {"schema": rows},
        "application/vnd.pgrst.object+json": {"schema": row},
        "text/csv": {"schema": {"type": "string"}},
    }


def rows_responses(row: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The answers of a list that is never a part: 200 with the rows."""
    content = rows_content(row)
    return {200: {"description": "The rows.", "content": content, "headers": ROWS_HEADERS}}


CONFLICT: dict[str, Any] = {
    "model": ErrorBody,
    "description": "A conflict: an overlapping booking (`conflict`, with `details.conflicts`), "
    "a reference another booking of the product has (`23505`, `details.existing_id`), an "
    "imported booking (`imported_booking`), a duplicate, self-link or cycle of capacity group "
    "dependencies. For an item of an array, `details.item` is its index.",
}


def prefer(description: str) -> dict[str, Any]:
    """The ``Prefer`` header parameter, described."""
    return {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": description,
    }
