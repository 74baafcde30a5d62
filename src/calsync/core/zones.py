"""IANA timezone names: the rule for a product's timezone, said once for the settings, API and CLI.

A name is one of the zones tzdata lists (``Europe/Amsterdam``, ``UTC``), not any
file ``zoneinfo`` happens to open: ``posix/Europe/Paris`` and ``right/UTC`` load,
but are no IANA names and no channel knows them.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones


@cache
def _names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """``name`` unchanged, or :class:`ValueError` saying it is no IANA timezone."""
    if name not in _names():
        msg = f"unknown IANA timezone {name!r:.80}"
        raise ValueError(msg)
    return name


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA timezone name, sorted."""
    return tuple(sorted(_names()))
