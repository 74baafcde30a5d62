"""PostgREST-style queries: ``select``, ``col=op.value`` filters, ``order``, paging, ``Range``.

Pure: query parameters and headers in, SQLAlchemy expressions and header values
out; no I/O. The REST query builder is the one place outside :mod:`calsync.store`
that builds SQL: the statements it makes read rows of the models (and lock the
rows a PATCH or DELETE hands to the services). Every problem raises
:class:`~calsync.errors.BadRequest` naming the parameter, or
:class:`~calsync.errors.RangeNotSatisfiable`.

Filters (any column, several on one column are ANDed)::

    col=eq.v  neq.v  gt.v  gte.v  lt.v  lte.v  in.(a,b,"c,d")
    col=like.*pattern*  ilike.*pattern*      (``*`` is the only wildcard)
    col=is.null  is.not_null  is.true  is.false
    col=not.<any of the above>               (e.g. ``not.is.null``, ``not.in.(a,b)``)

Values take the column's type: UUIDs, integers, ``true``/``false``, and instants
in RFC 3339 (``2026-12-01T14:00:00Z``, ``…+01:00``) or a bare date
(``2026-12-01``, midnight UTC). ``like`` is case-sensitive on every database.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, String, Text, false, func, not_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import Boolean, TypeDecorator

from calsync.errors import BadRequest, RangeNotSatisfiable
from calsync.store.models import INT_MAX

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from sqlalchemy.orm import DeclarativeBase
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import KeyedColumnElement

RESERVED = frozenset({"select", "order", "limit", "offset"})
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "like", "ilike")

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,12}\Z", re.ASCII)
_RANGE = re.compile(r"(?:items=)?(\d{1,12})-(\d{0,12})\Z", re.ASCII)
_QUERY_DATE_SPACE = re.compile(r"\A(\d{4}-\d{2}-\d{2}) (?=\d)", re.ASCII)
_QUERY_OFFSET_SPACE = re.compile(r"(?<=\d) (\d{2}:\d{2})\Z", re.ASCII)


# --- values ----------------------------------------------------------------------------


def python_type(column: KeyedColumnElement[Any]) -> type:
    """The Python type of a column's values: ``UUID``, ``int``, ``bool``, ``datetime``, ``str``."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # UtcDateTime: the type it decorates
        column_type = column_type.impl_instance
    return column_type.python_type


def parse_instant(text: str, *, field: str) -> datetime:
    """An RFC 3339 instant or a bare date (midnight UTC) as an aware UTC datetime."""
    if _DATE.match(text):
        try:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        except ValueError:
            pass
    elif _RFC3339.match(text):
        try:
            return datetime.fromisoformat(text.upper()).astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    raise BadRequest(
        f"{field}: not an instant (RFC 3339 like 2026-12-01T14:00:00Z, or a date like "
        f"2026-12-01): {text!r}",
        details={"field": field, "value": text},
    )


def check_text(text: str, *, field: str) -> str:
    """Refuse what no database stores as text: NUL characters and lone surrogates."""
    if "\x00" in text:
        raise BadRequest(f"{field}: NUL characters are not allowed", details={"field": field})
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{field}: not valid Unicode text", details={"field": field}) from exc
    return text


def parse_text_value(column: KeyedColumnElement[Any], text: str, *, field: str) -> object:
    """A query-string value as the column's type, or :class:`BadRequest` naming ``field``."""
    kind = python_type(column)
    if kind is str:
        return check_text(text, field=field)
    if kind is datetime:
        # In a query string a space may separate date and time, and an unencoded "+"
        # arrives as a space: "2026-12-01 10:00:00 01:00" is 2026-12-01T10:00:00+01:00.
        text = _QUERY_OFFSET_SPACE.sub(r"+\1", _QUERY_DATE_SPACE.sub(r"\1T", text))
        return parse_instant(text, field=field)
    if kind is bool and text in {"true", "false"}:
        return text == "true"
    if kind is int and _INTEGER.match(text) and abs(int(text)) <= INT_MAX:
        return int(text)
    if kind is uuid.UUID:
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
    expected = {bool: "true or false", int: "an integer", uuid.UUID: "a UUID"}.get(kind, str(kind))
    raise BadRequest(
        f"{field}: expected {expected}, got {text!r}", details={"field": field, "value": text}
    )


# --- select ----------------------------------------------------------------------------


def parse_select(
    text: str | None, columns: Collection[str], *, extra: Collection[str] = ()
) -> tuple[str, ...]:
    """``select=a,b`` as names in the order given; ``None`` or ``*`` selects ``columns``."""
    if text is None or text.strip() == "*":
        return tuple(columns)
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if name == "*":
            names.extend(column for column in columns if column not in names)
            continue
        if name not in columns and name not in extra:
            raise BadRequest(
                f"select: unknown column {name!r}",
                details={"parameter": "select", "column": name},
            )
        if name not in names:
            names.append(name)
    return tuple(names)


# --- filters ---------------------------------------------------------------------------


def parse_filter(model: type[DeclarativeBase], name: str, text: str) -> ColumnElement[bool]:
    """One filter ``name=op.value`` as a SQL condition on the model's column ``name``."""
    column = model.__table__.columns[name]
    negate = text.startswith("not.")
    body = text.removeprefix("not.")
    operator, dot, value = body.partition(".")
    if not dot or operator not in OPERATORS:
        raise BadRequest(
            f"filter {name}: unknown operator in {text!r}; use {name}=op.value with op one of "
            f"{', '.join(OPERATORS)} (optionally prefixed by not.)",
            details={"parameter": name, "value": text},
        )
    condition = _condition(column, name, operator, value)
    return not_(condition) if negate else condition


def _condition(
    column: KeyedColumnElement[Any], name: str, operator: str, value: str
) -> ColumnElement[bool]:
    if operator == "is":
        return _is(column, name, value)
    if operator == "in":
        return column.in_(
            [parse_text_value(column, item, field=name) for item in _list(name, value)]
        )
    if operator in {"like", "ilike"}:
        if not isinstance(column.type, String | Text):
            raise BadRequest(
                f"filter {name}: {operator} applies to text columns only",
                details={"parameter": name},
            )
        pattern = check_text(value, field=name)
        if operator == "ilike":
            return func.lower(column).like(func.lower(_like_pattern(pattern)), escape="\\")
        return Like(column, pattern)
    converted = parse_text_value(column, value, field=name)
    comparisons = {
        "eq": column.__eq__,
        "neq": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }
    condition: ColumnElement[bool] = comparisons[operator](converted)
    return condition


def _is(column: KeyedColumnElement[Any], name: str, value: str) -> ColumnElement[bool]:
    if value == "null":
        return column.is_(None)
    if value == "not_null":
        return column.is_not(None)
    if value in {"true", "false"} and python_type(column) is bool:
        return column.is_(true() if value == "true" else false())
    raise BadRequest(
        f"filter {name}: is.{value} is not possible; use is.null, is.not_null"
        + (", is.true or is.false" if python_type(column) is bool else ""),
        details={"parameter": name, "value": f"is.{value}"},
    )


def _list(name: str, text: str) -> list[str]:
    r"""``(a,b,"c,d","e\"f")`` as its items."""
    if not (text.startswith("(") and text.endswith(")")):
        raise BadRequest(
            f"filter {name}: in needs a list in parentheses, like in.(a,b)",
            details={"parameter": name, "value": f"in.{text}"},
        )
    inner = text[1:-1]
    if not inner:
        return []
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = was_quoted = False
    for char in inner:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
            was_quoted = True
        elif char == "," and not quoted:
            items.append("".join(current) if was_quoted else "".join(current).strip())
            current, was_quoted = [], False
        else:
            current.append(char)
    if quoted:
        raise BadRequest(
            f"filter {name}: unterminated quote in {text!r}", details={"parameter": name}
        )
    items.append("".join(current) if was_quoted else "".join(current).strip())
    return items


def _like_pattern(pattern: str) -> str:
    r"""PostgREST's ``*`` wildcard as SQL LIKE, with ``%``, ``_`` and ``\`` literal."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _glob_pattern(pattern: str) -> str:
    """PostgREST's ``*`` wildcard as SQLite GLOB (case-sensitive), ``?`` and ``[`` literal."""
    return pattern.replace("[", "[[]").replace("?", "[?]")


class Like(ColumnElement[bool]):
    """Case-sensitive ``LIKE`` with ``*`` as wildcard: ``LIKE`` on PostgreSQL, ``GLOB`` on SQLite.

    SQLite's ``LIKE`` ignores case (for ASCII); ``GLOB`` does not, so both
    databases answer the same rows.
    """

    inherit_cache = False  # the pattern is rendered per dialect at compile time
    type = Boolean()

    def __init__(self, column: KeyedColumnElement[Any], pattern: str) -> None:
        self.column = column
        self.pattern = pattern


@compiles(Like)
def _compile_like(element: Like, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ANN401
    condition = element.column.like(_like_pattern(element.pattern), escape="\\")
    return compiler.process(condition, **kw)


@compiles(Like, "sqlite")
def _compile_glob(element: Like, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ANN401
    return compiler.process(element.column.op("GLOB")(_glob_pattern(element.pattern)), **kw)


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
            raise BadRequest(
                f"order: unknown column {name!r}", details={"parameter": "order", "column": name}
            )
        direction = "asc"
        nulls: str | None = None
        for modifier in modifiers:
            if modifier in {"asc", "desc"}:
                direction = modifier
            elif modifier in {"nullsfirst", "nullslast"}:
                nulls = modifier
            else:
                raise BadRequest(
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
    raise BadRequest(
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
        raise BadRequest(
            f"Range-Unit: only items is supported, got {unit!r}",
            details={"header": "Range-Unit", "value": unit},
        )
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        raise BadRequest(
            f"Range: expected first-last (like 0-49) or first- , got {header!r}",
            details={"header": "Range", "value": header},
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else None
    if first > INT_MAX or (last is not None and last > INT_MAX):
        raise BadRequest(
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

    def within(self, item_range: ItemRange | None) -> ParsedQuery:
        """Intersect ``limit``/``offset`` with a ``Range`` header's rows (PostgREST semantics)."""
        if item_range is None:
            return self
        first = max(item_range.first, self.offset)
        own_last = None if self.limit is None else self.offset + self.limit - 1
        lasts = [n for n in (item_range.last, own_last) if n is not None]
        limit = max(0, min(lasts) - first + 1) if lasts else None
        return replace(self, offset=first, limit=limit)


def parse_filters(
    model: type[DeclarativeBase],
    params: Iterable[tuple[str, str]],
    columns: Collection[str],
    *,
    reserved: Collection[str] = RESERVED,
) -> tuple[ColumnElement[bool], ...]:
    """Every parameter that is not ``reserved`` as a filter on one of ``columns``."""
    filters: list[ColumnElement[bool]] = []
    for name, value in params:
        if name in reserved:
            continue
        if name not in columns:
            raise BadRequest(
                f"unknown column {name!r} in filter {name}={value}",
                details={"parameter": name, "column": name},
            )
        filters.append(parse_filter(model, name, value))
    return tuple(filters)


def matching(model: type[Any], filters: Iterable[ColumnElement[bool]]) -> Select[Any]:
    """The rows a PATCH or DELETE acts on, locked for the write, oldest first."""
    return select(model).where(*filters).order_by(model.created_at, model.id).with_for_update()


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
                raise BadRequest(f"{name} given more than once", details={"parameter": name})
            single[name] = value
    return ParsedQuery(
        model=model,
        columns=parse_select(single.get("select"), visible, extra=extra),
        filters=parse_filters(model, pairs, visible),
        order=parse_order(model, single.get("order"), visible),
        limit=parse_count(single.get("limit"), parameter="limit"),
        offset=parse_count(single.get("offset"), parameter="offset") or 0,
    )


def content_range(offset: int, returned: int, total: int) -> str:
    """``Content-Range`` of an answer: ``0-49/123``, or ``*/123`` when no row is returned."""
    if returned == 0:
        return f"*/{total}"
    return f"{offset}-{offset + returned - 1}/{total}"


def answer_status(offset: int, returned: int, total: int) -> int:
    """200 when the answer is every matching row, 206 when a part; 416 past the end."""
    if offset > total:
        raise RangeNotSatisfiable(
            f"offset {offset} is beyond the {total} matching rows",
            details={"offset": offset, "total": total},
            headers={"Content-Range": f"*/{total}"},
        )
    return 206 if returned < total else 200
