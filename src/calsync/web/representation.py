"""What an answer is made of: the media type the client accepts, and the rows rendered in it.

``Accept`` is negotiated as PostgREST does (RFC 7231, by quality): a JSON array
(``application/json``, ``application/vnd.pgrst.array+json``, ``*/*`` or none),
one JSON object (``application/vnd.pgrst.object+json``: exactly one row, else
:class:`~calsync.errors.NotSingular`, ``PGRST116``, 406) or CSV (``text/csv``,
a header row, then one line per row; null is an empty field, lists and objects
are JSON). The vendor types take ``nulls=stripped``, which leaves null fields
out. Any other ``Accept`` is :class:`~calsync.errors.NotAcceptable` (``PGRST107``,
406), checked before anything is read or written. ``Accept-Profile`` and
``Content-Profile`` may only name ``public``, calsync's one schema
(:class:`~calsync.errors.UnacceptableSchema`, ``PGRST106``). Errors are JSON
whatever was accepted.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

from calsync.errors import NotAcceptable, NotSingular, UnacceptableSchema

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from starlette.datastructures import Headers

SCHEMA = "public"


class Media(Enum):
    """The shapes an answer can take."""

    ARRAY = "application/json"
    OBJECT = "application/vnd.pgrst.object+json"
    CSV = "text/csv"


MEDIA_TYPES = (
    "application/json",
    "application/vnd.pgrst.array+json",
    "application/vnd.pgrst.object+json",
    "text/csv",
)
"""Every media type an answer of rows can have (for the OpenAPI document)."""

_ACCEPTED = {
    "*/*": Media.ARRAY,
    "application/*": Media.ARRAY,
    "application/json": Media.ARRAY,
    "application/vnd.pgrst.array+json": Media.ARRAY,
    "application/vnd.pgrst.array": Media.ARRAY,
    "application/vnd.pgrst.object+json": Media.OBJECT,
    "application/vnd.pgrst.object": Media.OBJECT,
    "text/csv": Media.CSV,
    "text/*": Media.CSV,
}
_STRIPPABLE = frozenset({"application/vnd.pgrst.array", "application/vnd.pgrst.object"})
_STRIPPED = {
    Media.ARRAY: "application/vnd.pgrst.array+json",
    Media.OBJECT: "application/vnd.pgrst.object+json",
}


@dataclass(frozen=True, slots=True)
class Representation:
    """The shape an answer takes, negotiated from the request's headers."""

    media: Media = Media.ARRAY
    strip_nulls: bool = False

    @classmethod
    def of(cls, headers: Headers) -> Representation:
        """The representation ``headers`` accept (406 if none), after checking the profiles."""
        for name in ("accept-profile", "content-profile"):
            schema = headers.get(name)
            if schema is not None and schema != SCHEMA:
                raise UnacceptableSchema(
                    f"{name}: calsync has one schema, {SCHEMA!r}; got {schema!r:.80}",
                    details={"header": name, "value": schema[:80], "schemas": [SCHEMA]},
                )
        return negotiate(headers.get("accept"))

    @property
    def singular(self) -> bool:
        """Whether one object is asked for."""
        return self.media is Media.OBJECT

    def check_rows(self, count: int) -> None:
        """A singular answer must have exactly one row: :class:`NotSingular` otherwise.

        Called before a write commits, so a PATCH that matched two rows changes none.
        """
        if self.singular and count != 1:
            raise NotSingular(
                f"one object was asked for (Accept: {Media.OBJECT.value}), but the result "
                f"has {count} rows",
                details={"rows": count},
            )

    def answer(
        self,
        rows: Sequence[Mapping[str, Any]],
        *,
        columns: Sequence[str],
        status: int,
        headers: Mapping[str, str],
        body: bool = True,
    ) -> Response:
        """The rows as a response; ``columns`` head a CSV. ``body`` False: headers only (HEAD)."""
        self.check_rows(len(rows))
        shown = [_without_nulls(row) for row in rows] if self.strip_nulls else rows
        if self.media is Media.CSV:
            content, media_type = _csv(shown, columns), "text/csv; charset=utf-8"
        else:
            document: object = shown[0] if self.singular else list(shown)
            content = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            media_type = self.media.value
            if self.strip_nulls:
                media_type = f"{_STRIPPED[self.media]}; nulls=stripped"
            media_type += "; charset=utf-8"
        if not body:
            return Response(status_code=status, headers=dict(headers), media_type=media_type)
        return Response(content, status_code=status, headers=dict(headers), media_type=media_type)


def negotiate(accept: str | None) -> Representation:
    """The first media type of ``accept`` (by quality, then order) calsync can answer with."""
    if accept is None or not accept.strip():
        return Representation()
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for position, part in enumerate(accept.split(",")):
        media, *raw_params = (piece.strip() for piece in part.split(";"))
        params = {}
        for raw in raw_params:
            key, _, value = raw.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 0.0
        if media and quality > 0:
            ranges.append((-quality, position, media.lower(), params))
    for _, _, media, params in sorted(ranges):
        found = _ACCEPTED.get(media)
        if found is None:
            continue
        nulls = params.get("nulls")
        bare = media.removesuffix("+json")
        if nulls is not None and (nulls != "stripped" or bare not in _STRIPPABLE):
            continue
        return Representation(found, strip_nulls=nulls == "stripped")
    raise NotAcceptable(
        f"Accept: none of these media types can be answered: {accept[:200]!r}; use "
        + ", ".join(MEDIA_TYPES),
        details={"header": "Accept", "value": accept[:200], "available": list(MEDIA_TYPES)},
    )


def _without_nulls(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if value is not None}


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(name)) for name in columns])
    return out.getvalue()


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value
