"""PostgREST-style queries: ``select``, ``order``, paging, ``Range``, ``columns``; a whole GET.

Pure: query parameters and headers in, SQLAlchemy expressions and header values
out; no I/O. The REST query builder (this module and :mod:`calsync.web.filters`)
is the one place outside :mod:`calsync.store` that builds SQL: the statements it
makes read rows of the models (and lock the rows a PATCH or DELETE hands to the
services). A parameter it cannot parse is a :class:`~calsync.errors.QueryParseError`
(``PGRST100``) naming it, an unknown column an :class:`~calsync.errors.UnknownColumn`
(``42703``), a range past the rows a :class:`~calsync.errors.RangeNotSatisfiable`
(``PGRST103``).

A page has at most ``api.max_rows`` rows (like PostgREST's ``db-max-rows``);
``Content-Range`` says which rows an answer holds and, when a count was asked for
(``Prefer: count=exact``), of how many: ``0-49/123``; ``0-49/*`` without.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, func, select

from calsync.errors import QueryParseError, RangeNotSatisfiable, UnknownBodyColumn
from calsync.store.models import INT_MAX
from calsync.web.filters import parse_filters, split_items, unknown_column

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

    from sqlalchemy.orm import DeclarativeBase

RESERVED = frozenset({"select", "order", "limit", "offset"})

_RANGE = re.compile(r"(?:items=)?(\d{1,12})-(\d{0,12})\Z", re.ASCII)


def split_names(text: str, *, parameter: str) -> list[str]:
    """Comma-separated column names; a name may be in double quotes (``"name","units"``)."""
    names = split_items(text, field=parameter)
    if any(not name for name in names):
        raise QueryParseError(
            f"{parameter}: an empty name in {text!r}", details={"parameter": parameter}
        )
    return names


# --- select ----------------------------------------------------------------------------


def parse_select(
    text: str | None, columns: Collection[str], *, extra: Collection[str] = ()
) -> tuple[str, ...]:
    """``select=a,b`` as names in the order given; ``None`` or ``*`` selects ``columns``."""
    if text is None or text.strip() == "*":
        return tuple(columns)
    names: list[str] = []
    for name in split_names(text, parameter="select"):
        if name == "*":
            names.extend(column for column in columns if column not in names)
            continue
        if name not in columns and name not in extra:
            raise unknown_column(name, parameter="select")
        if name not in names:
            names.append(name)
    return tuple(names)


def parse_columns(text: str | None, fields: Collection[str]) -> frozenset[str] | None:
    """``columns=a,b`` of a POST or PATCH: the body's keys to use (the rest are ignored).

    None without the parameter; a name that is no field is :class:`UnknownBodyColumn`.
    """
    if text is None:
        return None
    names = split_names(text, parameter="columns")
    for name in names:
        if name not in fields:
            raise UnknownBodyColumn(
                f"columns: unknown column {name!r}",
                details={"parameter": "columns", "column": name},
            )
    return frozenset(names)


# --- order, limit, offset --------------------------------------------------------------


def parse_order(
    model: type[DeclarativeBase], text: str | None, columns: Collection[str]
) -> tuple[ColumnElement[Any], ...]:
    """``order=a.desc.nullslast,b``; the id is appended so pages are stable.

    Without ``order``: oldest first (``created_at``, ``id``). NULLs sort as in
    PostgreSQL on every database: last ascending, first descending.
    """
    table = model.__table__.columns
    terms: list[ColumnElement[Any]] = []
    names: list[str] = []
    for raw in (text or "created_at").split(","):
        name, *modifiers = raw.strip().split(".")
        if name not in columns:
            raise unknown_column(name, parameter="order")
        direction = "asc"
        nulls: str | None = None
        for modifier in modifiers:
            if modifier in {"asc", "desc"}:
                direction = modifier
            elif modifier in {"nullsfirst", "nullslast"}:
                nulls = modifier
            else:
                raise QueryParseError(
                    f"order: unknown modifier {modifier!r} in {raw.strip()!r}; use asc, desc, "
                    "nullsfirst or nullslast",
                    details={"parameter": "order", "value": raw.strip()},
                )
        nulls = nulls or ("nullslast" if direction == "asc" else "nullsfirst")
        term = table[name].asc() if direction == "asc" else table[name].desc()
        terms.append(term.nulls_last() if nulls == "nullslast" else term.nulls_first())
        names.append(name)
    if "id" not in names:
        terms.append(table["id"].asc())
    return tuple(terms)


def parse_count(text: str | None, *, parameter: str) -> int | None:
    """A ``limit`` or ``offset``: a whole number from 0 to 2^31-1."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.isdigit() and stripped.isascii() and int(stripped) <= INT_MAX:
        return int(stripped)
    raise QueryParseError(
        f"{parameter}: expected a whole number from 0 to {INT_MAX}, got {text!r}",
        details={"parameter": parameter, "value": text},
    )


@dataclass(frozen=True, slots=True)
class ItemRange:
    """Rows ``first`` to ``last`` (inclusive, 0-based) of an answer; ``last`` None is open-ended."""

    first: int
    last: int | None

    @property
    def limit(self) -> int | None:
        """How many rows at most."""
        return None if self.last is None else self.last - self.first + 1


def parse_range(header: str | None, unit: str | None = None) -> ItemRange | None:
    """A ``Range: 0-49`` header (``items=0-49`` too; ``Range-Unit: items`` only)."""
    if unit is not None and unit != "items":
        raise QueryParseError(
            f"Range-Unit: only items is supported, got {unit!r}",
            details={"header": "Range-Unit", "value": unit},
        )
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        raise QueryParseError(
            f"Range: expected first-last (like 0-49) or first- , got {header!r}",
            details={"header": "Range", "value": header},
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else None
    if first > INT_MAX or (last is not None and last > INT_MAX):
        raise QueryParseError(
            f"Range: items beyond {INT_MAX} are not supported",
            details={"header": "Range", "value": header},
        )
    if last is not None and last < first:
        raise RangeNotSatisfiable(
            f"Range: {header!r} ends before it starts", details={"header": "Range", "value": header}
        )
    return ItemRange(first, last)


# --- a whole query ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A GET as SQL: which columns to answer with, which rows, in which order, which part."""

    model: type[DeclarativeBase]
    columns: tuple[str, ...]
    filters: tuple[ColumnElement[bool], ...]
    order: tuple[ColumnElement[Any], ...]
    limit: int | None
    offset: int

    def statement(self) -> Select[Any]:
        """The rows (model instances) this query answers with."""
        query = select(self.model).where(*self.filters).order_by(*self.order).offset(self.offset)
        return query if self.limit is None else query.limit(self.limit)

    def count_statement(self) -> Select[Any]:
        """How many rows the filters match (without limit and offset)."""
        return select(func.count()).select_from(self.model).where(*self.filters)

    def capped(self, max_rows: int) -> ParsedQuery:
        """At most ``max_rows`` rows (``api.max_rows``), whatever ``limit`` or ``Range`` ask."""
        return replace(self, limit=max_rows if self.limit is None else min(self.limit, max_rows))

    def within(self, item_range: ItemRange | None) -> ParsedQuery:
        """Intersect ``limit``/``offset`` with a ``Range`` header's rows (PostgREST semantics)."""
        if item_range is None:
            return self
        first = max(item_range.first, self.offset)
        own_last = None if self.limit is None else self.offset + self.limit - 1
        lasts = [n for n in (item_range.last, own_last) if n is not None]
        limit = max(0, min(lasts) - first + 1) if lasts else None
        return replace(self, offset=first, limit=limit)


def matching(model: type[Any], filters: Iterable[ColumnElement[bool]]) -> Select[Any]:
    """The rows a PATCH or DELETE acts on, locked for the write, oldest first."""
    return select(model).where(*filters).order_by(model.created_at, model.id).with_for_update()


def keyed(model: type[DeclarativeBase], key: Mapping[str, object]) -> Select[Any]:
    """The row (at most one) whose unique ``key`` columns have these values, locked (an upsert)."""
    columns = model.__table__.columns
    condition = (columns[name] == value for name, value in key.items())
    return select(model).where(*condition).with_for_update()


def parse_query(
    model: type[DeclarativeBase],
    params: Iterable[tuple[str, str]],
    *,
    columns: Collection[str] | None = None,
    extra: Collection[str] = (),
) -> ParsedQuery:
    """A GET's query parameters as a :class:`ParsedQuery` over ``columns`` (all by default).

    ``extra`` names computed fields that ``select`` may name besides the columns.
    """
    pairs = list(params)
    visible = tuple(columns) if columns is not None else tuple(model.__table__.columns.keys())
    single: dict[str, str] = {}
    for name, value in pairs:
        if name in RESERVED:
            if name in single:
                raise QueryParseError(f"{name} given more than once", details={"parameter": name})
            single[name] = value
    return ParsedQuery(
        model=model,
        columns=parse_select(single.get("select"), visible, extra=extra),
        filters=parse_filters(model, pairs, visible, reserved=RESERVED),
        order=parse_order(model, single.get("order"), visible),
        limit=parse_count(single.get("limit"), parameter="limit"),
        offset=parse_count(single.get("offset"), parameter="offset") or 0,
    )


def content_range(offset: int, returned: int, total: int | None) -> str:
    """``Content-Range``: ``0-49/123``, ``*/123`` when no row is returned; total ``*`` unknown."""
    rows = f"{offset}-{offset + returned - 1}" if returned and total != 0 else "*"
    return f"{rows}/{'*' if total is None else total}"


def answer_status(offset: int, returned: int, total: int | None) -> int:
    """200, or 206 when a count shows the answer is a part; 416 when it starts past the end."""
    if total is None:
        return 200
    if offset > total:
        raise RangeNotSatisfiable(
            f"an offset of {offset} was asked for, but only {total} rows match",
            details={"offset": offset, "total": total},
            headers={"Content-Range": f"*/{total}"},
        )
    return 206 if returned < total else 200
