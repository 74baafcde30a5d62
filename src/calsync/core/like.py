"""PostgreSQL's ``LIKE`` and ``ILIKE`` as Python: the rule SQLite is given, so both answer alike.

A pattern as PostgREST takes it: ``*`` is another spelling of ``%`` (any run of
characters, none included), ``_`` is any one character, a backslash makes the
next character literal, and everything else matches itself. ``ILIKE`` ignores
case for every letter (``Müller`` matches ``MÜLLER``), not only for ASCII as
SQLite's own ``LIKE`` does. A pattern that ends with a lone backslash is refused
(:class:`ValueError`), as PostgreSQL refuses it.
"""

from __future__ import annotations

import re
from functools import lru_cache

SQLITE_FUNCTION = "calsync_like"
"""The name SQLite knows :func:`like` by: ``calsync_like(value, pattern, icase)``."""


def postgrest_pattern(pattern: str) -> str:
    """A PostgREST ``like`` value as a SQL ``LIKE`` pattern: every ``*`` becomes ``%``."""
    return pattern.replace("*", "%")


def check_pattern(pattern: str) -> str:
    """``pattern`` unchanged, or :class:`ValueError` when it ends with a lone backslash."""
    _compiled(pattern, icase=False)
    return pattern


def like(value: str, pattern: str, *, icase: bool = False) -> bool:
    """Whether ``value`` matches the SQL ``LIKE`` pattern (``ILIKE`` with ``icase``)."""
    return _compiled(pattern, icase=icase).fullmatch(value) is not None


@lru_cache(maxsize=256)
def _compiled(pattern: str, *, icase: bool) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        msg = "a LIKE pattern must not end with a lone backslash (write \\\\ for one)"
        raise ValueError(msg)
    flags = re.DOTALL | (re.IGNORECASE if icase else 0)
    return re.compile("".join(parts), flags)
