"""The benchmark's own parts: its generated feeds are what they claim, its server behaves."""

from __future__ import annotations

import itertools
import urllib.request
from datetime import UTC, datetime

import pytest
from bench import parsing, report
from bench.feeds import SHAPES, STAMP, FeedSpec
from bench.feedserver import FeedServer
from bench.options import BenchOptions
from bench.seed import feed_specs

from calsync.config import Settings
from calsync.core.ical_in import parse_feed
from calsync.sync import parse_options

NOW = datetime.now(UTC)


def parsed(spec: FeedSpec):
    body = spec.template().replace(STAMP, b"20261121T120000Z")
    return parse_feed(body, parse_options(Settings(), now=NOW, timezone="Europe/Amsterdam"))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("events", [10, 1000])
def test_a_generated_feed_has_every_event_inside_the_window(shape, events):
    feed = parsed(FeedSpec(shape, events, seed=1))
    assert (len(feed.blocks), feed.skipped, feed.warnings) == (events, (), ())


@pytest.mark.parametrize("shape", SHAPES)
def test_a_new_version_changes_exactly_one_event(shape):
    before = set(parsed(FeedSpec(shape, 50, seed=1)).blocks)
    after = set(parsed(FeedSpec(shape, 50, seed=1, version=1)).blocks)
    assert (len(before - after), len(after - before)) == (1, 1)


def test_the_feeds_of_one_product_never_overlap():
    nights = [
        {(block.starts_at, block.ends_at) for block in parsed(spec).blocks}
        for spec in feed_specs(3, 50)
    ]
    spans = sorted(span for feed in nights for span in feed)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_the_feed_server_stamps_the_request_time_and_honours_etags():
    with FeedServer([FeedSpec("airbnb", 5, seed=1)], etags=True) as server:
        status, headers, body = get(server.url(0))
        assert status == 200
        assert STAMP not in body
        assert b"DTSTAMP:" + datetime.now(UTC).strftime("%Y%m%d").encode() in body
        etag = headers["ETag"]
        assert get(server.url(0), {"If-None-Match": etag})[0] == 304
        server.change(0)
        status, headers, _ = get(server.url(0), {"If-None-Match": etag})
        assert (status, headers["ETag"] != etag) == (200, True)
        server.etags = False
        status, headers, _ = get(server.url(0), {"If-None-Match": etag})
        assert (status, "ETag" in headers) == (200, False)
        assert get(server.url(7))[0] == 404
        assert (server.requests, server.not_modified) == (5, 1)


def test_the_table_shows_medians_ratios_and_missed_targets():
    figures = [
        report.Figure("sync", "calendars/s", "cal/s", [400, 500, 600], report.Target(500),
                      "vdirsyncer", [20, 25, 30]),
        report.Figure("steady", "CPU", "%", [80, 90, 75], report.Target(70, at_least=False)),
    ]  # fmt: skip
    lines = report.table(figures).splitlines()
    assert "500 cal/s" in lines[2]
    assert "20.00×" in lines[2]
    assert lines[2].rstrip().endswith("yes")
    assert lines[3].rstrip().endswith("NO")


def test_the_parse_scenario_measures_both_paths_and_names_the_one_taken(tmp_path):
    """Each shape and size gets a fast-path figure with its icalendar baseline; only Airbnb and Booking.com have the target."""
    figures = parsing.run(BenchOptions(runs=1, quick=True, workdir=tmp_path))
    assert [(f.scenario, f.metric) for f in figures] == [
        (f"parsing {events}-event {shape} feeds, one core", "events/s (fast path)")
        for shape in SHAPES
        for events in (50, 200)
    ]
    assert all(f.baseline == "icalendar" and len(f.baseline_runs) == 1 for f in figures)
    assert [f.target is not None for f in figures] == [True] * 4 + [False] * 2
