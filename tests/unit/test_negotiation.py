"""Accept and Prefer as the REST API reads them: table tests of the pure parsers."""

from __future__ import annotations

import pytest

from calsync.errors import InvalidPreferences, NotAcceptable
from calsync.web.prefer import Preferences
from calsync.web.representation import Media, Representation, negotiate


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Representation(Media.ARRAY)),
        ("", Representation(Media.ARRAY)),
        ("*/*", Representation(Media.ARRAY)),
        ("application/json; charset=utf-8", Representation(Media.ARRAY)),
        ("application/vnd.pgrst.object+json", Representation(Media.OBJECT)),
        ("application/vnd.pgrst.object", Representation(Media.OBJECT)),
        ("application/vnd.pgrst.object+json;nulls=stripped", Representation(Media.OBJECT, True)),
        ("text/csv", Representation(Media.CSV)),
        ("text/html, text/csv;q=0.9, */*;q=0.1", Representation(Media.CSV)),
        ("application/json;q=0.2, text/csv", Representation(Media.CSV)),
        ("text/csv;q=0, application/json", Representation(Media.ARRAY)),
        ("application/json;nulls=stripped, text/csv", Representation(Media.CSV)),
    ],
)
def test_accept_is_negotiated_by_quality_then_order(accept, expected):
    """The first acceptable media type by quality, then by order; q=0 refuses one."""
    assert expected == negotiate(accept)


@pytest.mark.parametrize("accept", ["application/xml", "text/csv;q=0", "image/*, text/html"])
def test_an_accept_with_nothing_to_answer_is_refused(accept):
    """No media type calsync can answer with: NotAcceptable (406 PGRST107)."""
    with pytest.raises(NotAcceptable, match="Accept"):
        negotiate(accept)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], Preferences()),
        (["return=representation"], Preferences(return_="representation")),
        (["return=minimal, count=exact"], Preferences(return_="minimal", count="exact")),
        (["Count=planned", "resolution=merge-duplicates"],
         Preferences(count="planned", resolution="merge-duplicates")),
        (["return=minimal,return=representation"], Preferences(return_="minimal")),
        (["handling=strict,max-affected=5"], Preferences(handling="strict", max_affected=5)),
        (["tx=rollback, timezone=UTC, nonsense"], Preferences()),
    ],
)  # fmt: skip
def test_prefer_is_read_leniently(headers, expected):
    """Known preferences are read (the first of each wins); unknown ones are ignored."""
    assert expected == Preferences.parse(headers)


def test_strict_handling_refuses_unknown_preferences():
    """handling=strict names the preferences it cannot honour (400 PGRST122)."""
    with pytest.raises(InvalidPreferences, match="tx=rollback"):
        Preferences.parse(["handling=strict, tx=rollback"])
