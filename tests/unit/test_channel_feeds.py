"""Real-shaped channel feeds (tests/feeds, sources in its README) import as hand-checked."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from calsync.core.ical_in import parse_feed
from calsync.services.preview import rows as preview_rows
from conftest import FEEDS, parse_options

FIXTURES = sorted(path.stem for path in FEEDS.glob("*.ics"))
NO_UID = "nouid-…"
"""An expected key ``nouid-…@<start>``: an occurrence of a recurring event without UID."""


def expected(name: str, suffix: str) -> list[dict[str, object]]:
    path = FEEDS / "expected" / f"{name}{suffix}"
    return json.loads(path.read_text()) if path.exists() else []


def test_the_corpus_is_there():
    """Every channel named in the issue has at least one fixture."""
    for channel in (
        "airbnb",
        "booking_com",
        "vrbo",
        "google",
        "outlook",
        "icloud",
        "smoobu",
        "synology",
    ):
        assert any(name.startswith(channel) for name in FIXTURES), channel


@pytest.mark.parametrize("name", FIXTURES)
def test_channel_feed_imports_as_expected(name):
    """The blocks of each fixture equal the hand-written expectation (keys, dates/instants, summaries)."""
    feed = parse_feed((FEEDS / f"{name}.ics").read_bytes(), parse_options())
    rows = preview_rows(feed)
    want = expected(name, ".json")
    for row, wanted in zip(rows, want, strict=False):
        if wanted["key"] is None:
            assert row["key"].startswith("nouid-")
            row["key"] = None
        elif str(wanted["key"]).startswith(NO_UID):
            assert row["key"].startswith("nouid-")
            assert row["key"].endswith(str(wanted["key"]).removeprefix(NO_UID))
            row["key"] = wanted["key"]
    assert rows == want


@pytest.mark.parametrize("name", FIXTURES)
def test_channel_feed_skips_with_reasons(name):
    """Each skipped event of a fixture is reported with its UID and the expected reason."""
    feed = parse_feed((FEEDS / f"{name}.ics").read_bytes(), parse_options())
    want = expected(name, ".skipped.json")
    assert Counter(s.uid for s in feed.skipped) == Counter(w["uid"] for w in want)
    for wanted in want:
        reasons = [s.reason.lower() for s in feed.skipped if s.uid == wanted["uid"]]
        assert any(str(wanted["reason_contains"]).lower() in reason for reason in reasons), (
            wanted,
            reasons,
        )
