"""Parsing: the parser as the daemon calls it (fast path first) against the icalendar path.

Airbnb-, Booking.com- and Google-shaped feeds (``bench/feeds.py``) of 50 and
1 000 events (50 and 200 with ``--quick``) are parsed in this process, on one
core, by ``parse_feed`` as the parser workers call it, and by ``parse_feed(…,
fast_path=False)``, which sends every feed through icalendar: the baseline,
measured in the same run, alternating with the fast path so that drift on the
machine hits both alike. Each measurement repeats the parse for at least 0.5 s
of this process's CPU time (0.2 s with ``--quick``) and reports events per CPU
second. The metric names the path the feed took: a feed not of the common shape
falls back to icalendar, and its figure says so.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bench.feeds import SHAPES, STAMP, FeedSpec
from bench.report import Figure, Target
from calsync.config import Settings
from calsync.core.ical_in import ParsedFeed, ParseOptions, parse_feed
from calsync.sync import parse_options

if TYPE_CHECKING:
    from bench.feeds import Shape
    from bench.options import BenchOptions

SCENARIO = "parsing {events}-event {shape} feeds, one core"
BASELINE = "icalendar"
_TARGET = Target(15_000)
"""Issue "Performance, round 2": 15 000 events/s per core on Airbnb and Booking.com shapes."""
_TARGETED: tuple[Shape, ...] = ("airbnb", "booking")


def run(options: BenchOptions) -> list[Figure]:
    """Measure both paths on every shape and size, ``options.runs`` times."""
    sizes = (50, 200) if options.quick else (50, 1000)
    seconds = 0.2 if options.quick else 0.5
    now = datetime.now(UTC)
    parse = parse_options(Settings(), now=now, timezone="Europe/Amsterdam")
    stamp = now.strftime("%Y%m%dT%H%M%SZ").encode()
    bodies = {
        (shape, events): FeedSpec(shape, events, seed=7).template(now.date()).replace(STAMP, stamp)
        for shape in SHAPES
        for events in sizes
    }
    fast: dict[tuple[Shape, int], list[float]] = {key: [] for key in bodies}
    slow: dict[tuple[Shape, int], list[float]] = {key: [] for key in bodies}
    for number in range(options.runs):
        for key, body in bodies.items():
            fast[key].append(_rate(body, parse, seconds, fast_path=True))
            slow[key].append(_rate(body, parse, seconds, fast_path=False))
        print(
            f"   run {number + 1}: "
            + ", ".join(
                f"{shape} ×{events} {fast[shape, events][-1]:.0f} vs {slow[shape, events][-1]:.0f}"
                for shape, events in bodies
            )
            + " events/s",
            file=sys.stderr,
        )
    return [
        Figure(
            SCENARIO.format(events=events, shape=shape),
            f"events/s ({_path(body, parse)})",
            "events/s",
            fast[shape, events],
            _TARGET if shape in _TARGETED else None,
            BASELINE,
            slow[shape, events],
        )
        for (shape, events), body in bodies.items()
    ]


def _rate(body: bytes, options: ParseOptions, seconds: float, *, fast_path: bool) -> float:
    """Events parsed per second of this process's CPU time, over at least ``seconds``."""
    events = 0
    started = time.process_time()
    while (elapsed := time.process_time() - started) < seconds:
        events += _parse(body, options, fast_path=fast_path).event_count
    return events / elapsed


def _parse(body: bytes, options: ParseOptions, *, fast_path: bool) -> ParsedFeed:
    feed = parse_feed(body, options, fast_path=fast_path)
    assert (len(feed.blocks), feed.skipped, feed.warnings) == (feed.event_count, (), ())
    return feed


def _path(body: bytes, options: ParseOptions) -> str:
    """Which path the parser took for ``body``."""
    if _parse(body, options, fast_path=True).fast_path:
        return "fast path"
    return "icalendar: not the common shape"
