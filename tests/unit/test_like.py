"""PostgreSQL's LIKE and ILIKE as calsync.core.like reads them (the rule SQLite is given)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.core.like import check_pattern, like, postgrest_pattern


@pytest.mark.parametrize(
    ("value", "pattern", "icase", "expected"),
    [
        ("Beach house", "B%", False, True),
        ("Beach house", "%house", False, True),
        ("Beach house", "b%", False, False),
        ("Beach house", "b%", True, True),
        ("Cabin", "C_bin", False, True),
        ("Cabin", "C_in", False, False),
        ("50%", "50\\%", False, True),
        ("500", "50\\%", False, False),
        ("a_b", "a\\_b", False, True),
        ("axb", "a\\_b", False, False),
        ("back\\slash", "back\\\\slash", False, True),
        ("MÜLLER", "müller", True, True),
        ("Müller", "MÜLLER", False, False),
        ("Ærø", "%RØ", True, True),
        ("line\nbreak", "line%break", False, True),
        ("", "%", False, True),
        ("x", "", False, False),
    ],
)
def test_like_follows_postgresql(value, pattern, icase, expected):
    """% is any run, _ one character, a backslash makes the next literal; ILIKE ignores any case."""
    assert expected == like(value, pattern, icase=icase)


def test_star_is_percent_as_postgrest_reads_it():
    """PostgREST's * is another spelling of %."""
    assert "%Müller%" == postgrest_pattern("*Müller*")
    assert like("Haus Müller 3", postgrest_pattern("*Müller*"))


def test_a_lone_trailing_backslash_is_refused():
    """A pattern ending with an escape that escapes nothing is an error, as in PostgreSQL."""
    with pytest.raises(ValueError, match="lone backslash"):
        check_pattern("abc\\")
    assert "abc\\\\" == check_pattern("abc\\\\")


def _escaped(text: str) -> str:
    return "".join("\\" + char if char in "%_\\" else char for char in text)


@given(st.text(), st.text())
def test_escaped_text_matches_exactly_itself(value, other):
    """Any text with its wildcards escaped matches itself, and another text only if equal."""
    pattern = _escaped(value)
    assert like(value, pattern)
    assert like(other, pattern) == (other == value)


@given(st.text(), st.text())
def test_a_prefix_pattern_matches_what_starts_with_it(prefix, rest):
    """``prefix%`` matches every text starting with the prefix; ILIKE also its other case."""
    assert like(prefix + rest, _escaped(prefix) + "%")
    assert like((prefix + rest).upper(), _escaped(prefix.upper()) + "%", icase=True)
