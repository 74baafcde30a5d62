"""PostgREST filters: ``col=op.value``, logic trees (``or=(…)``, ``and=(…)``), and their values.

Pure: query parameters in, SQLAlchemy conditions out, as PostgREST reads them::

    col=eq.v  neq.v  gt.v  gte.v  lt.v  lte.v  isdistinct.v  in.(a,b,"c,d")
    col=like.*pattern*  ilike.*pattern*      (``*`` or ``%``: any run; ``_``: one character)
    col=is.null  is.not_null  is.true  is.false  is.unknown
    col=eq(any).{a,b}  like(all).{O*,*n}     (any/all of eq, gt, gte, lt, lte, like, ilike)
    col=not.<any of the above>               (``not.is.null``, ``not.in.(a,b)``)
    or=(col.op.v,and(col.op.v,col.not.op.v))  and=(…)  not.or=(…)  not.and=(…)

Values take the column's type: UUIDs, integers, ``true``/``false``, and instants
as PostgreSQL reads them (``2026-12-01T14:00:00Z``, ``…+01:00``, ``2026-12-01
14:00:00`` with a space; no offset means UTC; a bare date is midnight UTC).
``like`` is case-sensitive and ``ilike`` ignores case, for every letter, on both
databases (:mod:`calsync.core.like`). A value that cannot be parsed is a
:class:`~calsync.errors.QueryParseError` (``PGRST100``), an unknown column an
:class:`~calsync.errors.UnknownColumn` (``42703``), a value not of the column's
type an :class:`~calsync.errors.InvalidValue` (``22P02``), each naming it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, String, Text, and_, false, func, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import Boolean, TypeDecorator

from calsync.core.like import SQLITE_FUNCTION, check_pattern, postgrest_pattern
from calsync.errors import (
    FeatureNotSupported,
    InvalidValue,
    QueryParseError,
    UnknownColumn,
)
from calsync.store.models import INT_MAX

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from sqlalchemy.orm import DeclarativeBase
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import KeyedColumnElement

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "isdistinct", "like", "ilike")
_MODIFIABLE = frozenset({"eq", "gt", "gte", "lt", "lte", "like", "ilike"})
"""The operators that take ``(any)`` and ``(all)``."""
_NOT_SUPPORTED = frozenset(
    [
        "match",
        "imatch",
        "fts",
        "plfts",
        "phfts",
        "wfts",
        "cs",
        "cd",
        "ov",
        "sl",
        "sr",
        "nxr",
        "nxl",
        "adj",
    ]
)
"""PostgREST operators for regular expressions, full-text search, arrays and ranges."""
LOGIC = frozenset({"or", "and", "not.or", "not.and"})
"""The query parameters that are logic trees."""

INSTANT_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?)?$"
)
"""An instant or a date as :func:`parse_instant` reads them (for the OpenAPI document too)."""
_INSTANT = re.compile(INSTANT_PATTERN, re.ASCII)
_INTEGER = re.compile(r"[+-]?\d{1,12}\Z", re.ASCII)
_QUERY_OFFSET_SPACE = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)\Z", re.ASCII)
_OPERATOR = re.compile(r"(\w+)(?:\((any|all)\))?\Z", re.ASCII)
_TREE = re.compile(r"(not\.)?(or|and)(?=\()", re.ASCII)


# --- values ----------------------------------------------------------------------------


def python_type(column: KeyedColumnElement[Any]) -> type:
    """The Python type of a column's values: ``UUID``, ``int``, ``bool``, ``datetime``, ``str``."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # UtcDateTime: the type it decorates
        column_type = column_type.impl_instance
    return column_type.python_type


def parse_instant(text: str, *, field: str) -> datetime:
    """An instant as PostgreSQL reads one, as an aware UTC datetime.

    RFC 3339 (``2026-12-01T14:00:00Z``, ``…+01:00``), a space for the ``T``, an
    offset of ``+01``, ``+0100`` or ``+01:00``, no seconds; without an offset the
    time is UTC; a bare date is midnight UTC.
    """
    if _INSTANT.match(text):
        try:
            moment = datetime.fromisoformat(text.upper())
        except (ValueError, OverflowError):
            pass
        else:
            if len(text) == len("2026-12-01"):
                return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            try:
                return moment.astimezone(UTC)
            except OverflowError:
                pass
    raise InvalidValue(
        f"{field}: not an instant (like 2026-12-01T14:00:00Z, 2026-12-01 14:00:00 in UTC, "
        f"or a date like 2026-12-01): {text!r}",
        details={"field": field, "value": text},
    )


def check_text(text: str, *, field: str) -> str:
    """Refuse what no database stores as text: NUL characters and lone surrogates."""
    if "\x00" in text:
        raise InvalidValue(f"{field}: NUL characters are not allowed", details={"field": field})
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise InvalidValue(f"{field}: not valid Unicode text", details={"field": field}) from exc
    return text


def parse_text_value(column: KeyedColumnElement[Any], text: str, *, field: str) -> object:
    """A query-string value as the column's type, or :class:`InvalidValue` naming ``field``."""
    kind = python_type(column)
    if kind is str:
        return check_text(text, field=field)
    if kind is datetime:
        # An unencoded "+" arrives as a space: "2026-12-01 10:00:00 01:00" is +01:00.
        return parse_instant(_QUERY_OFFSET_SPACE.sub(r"+\1", text), field=field)
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
    raise InvalidValue(
        f"{field}: expected {expected}, got {text!r}", details={"field": field, "value": text}
    )


def split_list(text: str, *, field: str, brackets: str = "()") -> list[str]:
    r"""``(a,b,"c,d","e\"f")`` (or ``{…}`` with ``brackets="{}"``) as its items."""
    opening, closing = brackets[0], brackets[-1]
    if not (text.startswith(opening) and text.endswith(closing)):
        raise QueryParseError(
            f"{field}: expected a list in {opening}{closing}, like {opening}a,b{closing}: {text!r}",
            details={"parameter": field, "value": text},
        )
    inner = text[1:-1]
    return [] if not inner else split_items(inner, field=field)


def split_items(text: str, *, field: str, nested: bool = False) -> list[str]:
    r"""Comma-separated items; ``"…"`` quotes a comma (``\`` escapes inside quotes).

    Quoted items lose their quotes. With ``nested``, commas inside parentheses or
    braces do not split and quotes are kept (a logic tree's items are parsed again).
    """
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = was_quoted = False
    depth = 0
    for char in text:
        if escaped:
            current.append(char if not nested else "\\" + char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
            was_quoted = True
            if nested:
                current.append(char)
        elif char in "(){}" and nested and not quoted:
            depth += 1 if char in "({" else -1
            current.append(char)
        elif char == "," and not quoted and depth == 0:
            items.append(_item_text(current, keep=was_quoted and not nested))
            current, was_quoted = [], False
        else:
            current.append(char)
    if quoted or depth:
        problem = "an unterminated quote" if quoted else "unbalanced parentheses"
        raise QueryParseError(
            f"{field}: {problem} in {text!r}", details={"parameter": field, "value": text}
        )
    items.append(_item_text(current, keep=was_quoted and not nested))
    return items


def _item_text(chars: list[str], *, keep: bool) -> str:
    """An item as written (``keep``: it was quoted, its spaces count), else stripped."""
    text = "".join(chars)
    return text if keep else text.strip()


# --- filters ---------------------------------------------------------------------------


def parse_filter(
    model: type[DeclarativeBase], name: str, text: str, *, quoted: bool = False
) -> ColumnElement[bool]:
    """One filter ``name=op.value`` as a SQL condition on the model's column ``name``.

    ``quoted``: the value may be in double quotes (inside a logic tree).
    """
    column = model.__table__.columns[name]
    negate = text.startswith("not.")
    operator_text, dot, value = text.removeprefix("not.").partition(".")
    match = _OPERATOR.match(operator_text)
    operator = match.group(1) if match else operator_text.partition("(")[0]
    if operator in _NOT_SUPPORTED:
        raise FeatureNotSupported(
            f"filter {name}: calsync does not support the {operator} operator (regular "
            "expressions, full-text search, arrays and ranges); use eq, neq, gt, gte, lt, lte, "
            "in, is, isdistinct, like or ilike",
            details={"parameter": name, "operator": operator},
        )
    if not dot or match is None or operator not in OPERATORS:
        raise QueryParseError(
            f"filter {name}: unknown operator in {text!r}; use {name}=op.value with op one of "
            f"{', '.join(OPERATORS)} (optionally prefixed by not.)",
            details={"parameter": name, "value": text},
        )
    modifier = match.group(2)
    if modifier is not None:
        if operator not in _MODIFIABLE:
            raise QueryParseError(
                f"filter {name}: ({modifier}) applies to {', '.join(sorted(_MODIFIABLE))} only",
                details={"parameter": name, "value": text},
            )
        values = split_list(value, field=name, brackets="{}")
        parts = [_condition(column, name, operator, item) for item in values]
        condition = or_(false(), *parts) if modifier == "any" else and_(true(), *parts)
    else:
        if quoted and operator != "in" and len(value) > 1 and value[0] == value[-1] == '"':
            value = split_items(value, field=name)[0]
        condition = _condition(column, name, operator, value)
    return not_(condition) if negate else condition


def _condition(
    column: KeyedColumnElement[Any], name: str, operator: str, value: str
) -> ColumnElement[bool]:
    if operator == "is":
        return _is(column, name, value)
    if operator == "in":
        items = split_list(value, field=name)
        return column.in_([parse_text_value(column, item, field=name) for item in items])
    if operator in {"like", "ilike"}:
        if not isinstance(column.type, String | Text):
            raise QueryParseError(
                f"filter {name}: {operator} applies to text columns only",
                details={"parameter": name},
            )
        pattern = postgrest_pattern(check_text(value, field=name))
        try:
            check_pattern(pattern)
        except ValueError as exc:
            raise InvalidValue(f"filter {name}: {exc}", details={"parameter": name}) from exc
        return Like(column, pattern, icase=operator == "ilike")
    converted = parse_text_value(column, value, field=name)
    comparisons = {
        "eq": column.__eq__,
        "neq": column.__ne__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
        "isdistinct": column.is_distinct_from,
    }
    condition: ColumnElement[bool] = comparisons[operator](converted)
    return condition


def _is(column: KeyedColumnElement[Any], name: str, value: str) -> ColumnElement[bool]:
    boolean = python_type(column) is bool
    if value == "null" or (value == "unknown" and boolean):
        return column.is_(None)
    if value == "not_null":
        return column.is_not(None)
    if value in {"true", "false"} and boolean:
        return column.is_(true() if value == "true" else false())
    raise QueryParseError(
        f"filter {name}: is.{value} is not possible; use is.null, is.not_null"
        + (", is.true, is.false or is.unknown" if boolean else ""),
        details={"parameter": name, "value": f"is.{value}"},
    )


class Like(ColumnElement[bool]):
    """PostgreSQL's ``LIKE`` / ``ILIKE``; on SQLite the same rule as a function.

    SQLite's own ``LIKE`` ignores case for ASCII only and ``GLOB`` has other
    wildcards: ``calsync_like`` (:mod:`calsync.store.db`) is PostgreSQL's rule,
    so both databases answer the same rows.
    """

    inherit_cache = False  # rendered per dialect at compile time
    type = Boolean()

    def __init__(self, column: KeyedColumnElement[Any], pattern: str, *, icase: bool) -> None:
        self.column = column
        self.pattern = pattern
        self.icase = icase


@compiles(Like)
def _compile_like(element: Like, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ANN401
    column = element.column
    condition = column.ilike(element.pattern) if element.icase else column.like(element.pattern)
    return compiler.process(condition, **kw)


@compiles(Like, "sqlite")
def _compile_sqlite_like(element: Like, compiler: SQLCompiler, **kw: Any) -> str:  # noqa: ANN401
    call = getattr(func, SQLITE_FUNCTION)(element.column, element.pattern, int(element.icase))
    return compiler.process(call == 1, **kw)


# --- logic trees -----------------------------------------------------------------------


def parse_logic(
    model: type[DeclarativeBase], key: str, text: str, columns: Collection[str]
) -> ColumnElement[bool]:
    """``or=(a.eq.1,and(b.gt.2,c.not.is.null))``; ``key`` is or, and, not.or or not.and."""
    negate = key.startswith("not.")
    return _tree(model, key.removeprefix("not."), text, columns, negate=negate, field=key)


def _tree(
    model: type[DeclarativeBase],
    operator: str,
    text: str,
    columns: Collection[str],
    *,
    negate: bool,
    field: str,
) -> ColumnElement[bool]:
    if not (text.startswith("(") and text.endswith(")")) or len(text) < 3:  # noqa: PLR2004
        raise QueryParseError(
            f"{field}: expected conditions in parentheses, like {field}=(a.eq.1,b.gt.2): {text!r}",
            details={"parameter": field, "value": text},
        )
    parts = [
        _item(model, item, columns, field=field)
        for item in split_items(text[1:-1], field=field, nested=True)
    ]
    combined = or_(*parts) if operator == "or" else and_(*parts)
    return not_(combined) if negate else combined


def _item(
    model: type[DeclarativeBase], text: str, columns: Collection[str], *, field: str
) -> ColumnElement[bool]:
    tree = _TREE.match(text)
    if tree is not None:
        return _tree(model, tree.group(2), text[tree.end() :], columns,
                     negate=bool(tree.group(1)), field=field)  # fmt: skip
    name, dot, rest = text.partition(".")
    if not dot or not name:
        raise QueryParseError(
            f"{field}: expected column.operator.value, got {text!r}",
            details={"parameter": field, "value": text},
        )
    if name not in columns:
        raise unknown_column(name, parameter=field)
    return parse_filter(model, name, rest, quoted=True)


def unknown_column(name: str, *, parameter: str) -> UnknownColumn:
    """The 400 of a filter, ``select`` or ``order`` naming a column the resource lacks."""
    where = f"filter {name}" if parameter == name else parameter
    return UnknownColumn(
        f"{where}: unknown column {name!r}", details={"parameter": parameter, "column": name}
    )


def parse_filters(
    model: type[DeclarativeBase],
    params: Iterable[tuple[str, str]],
    columns: Collection[str],
    *,
    reserved: Collection[str],
) -> tuple[ColumnElement[bool], ...]:
    """Every parameter not ``reserved``: a filter on one of ``columns``, or a logic tree."""
    filters: list[ColumnElement[bool]] = []
    for name, value in params:
        if name in reserved:
            continue
        if name in LOGIC:
            filters.append(parse_logic(model, name, value, columns))
            continue
        if name not in columns:
            raise unknown_column(name, parameter=name)
        filters.append(parse_filter(model, name, value))
    return tuple(filters)
