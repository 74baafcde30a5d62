"""Sync throughput: first sync, unchanged re-syncs with and without ETags, 5 % changed.

N calendars with 50-event feeds (Airbnb, Booking.com and Google shapes in turn)
are synced by a real ``calsync run`` from the bench feed server. Each phase
makes every calendar due at once and times until the last sync run is written:

* first sync — every event new (the server sends ETags, so they are stored);
* unchanged, with ETags — every fetch answers 304;
* unchanged, no ETags — the server sends no validators and stamps DTSTAMP with the
  request time, as Airbnb does: the content digest must see through it;
* 5 % changed — no ETags, and one event moved in 5 % of the feeds.

The in-run baseline is vdirsyncer syncing the first 100 of the same feeds (first
sync, and its unchanged re-sync, which is its best case: it has no conditional GET).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING

from bench import seed, vdirsyncer
from bench.daemon import Daemon, open_store, wait_until
from bench.feedserver import FeedServer
from bench.report import Figure, Target

if TYPE_CHECKING:
    from pathlib import Path

    from bench.options import BenchOptions
    from calsync.store.db import Store

EVENTS = 50
CHANGED_SHARE = 0.05
BASELINE_FEEDS = 100
DAEMON_SETTINGS = {
    "CALSYNC_SYNC__INTERVAL_MINUTES": "1440",  # nothing re-syncs by itself during a phase
    "CALSYNC_SYNC__TICK_SECONDS": "0.1",
    "CALSYNC_SYNC__MAX_CONCURRENT": "64",
    "CALSYNC_SYNC__MAX_PER_HOST": "64",  # every bench feed is on one host
}
_PHASES = ("first", "etag", "no_etag", "changed")


def run(options: BenchOptions) -> list[Figure]:
    """Measure every phase ``options.runs`` times; vdirsyncer once per run as the baseline."""
    calendars = 300 if options.quick else 3000
    rates: dict[str, list[float]] = {phase: [] for phase in _PHASES}
    cpu: dict[str, list[float]] = {phase: [] for phase in _PHASES}
    baseline_first: list[float] = []
    baseline_unchanged: list[float] = []
    for number in range(options.runs):
        workdir = options.workdir / f"sync-{number}"
        workdir.mkdir()
        specs = seed.feed_specs(calendars, EVENTS)
        with FeedServer(specs, etags=True) as server:
            phase_rates, phase_cpu = _measure(server, calendars, workdir)
            server.etags = False
            times = vdirsyncer.measure([server.url(n) for n in range(BASELINE_FEEDS)], workdir)
        for phase in _PHASES:
            rates[phase].append(phase_rates[phase])
            cpu[phase].append(phase_cpu[phase])
        baseline_first.append(BASELINE_FEEDS * EVENTS / times.first_seconds)
        baseline_unchanged.append(BASELINE_FEEDS / times.unchanged_seconds)
        print(
            f"   run {number + 1}: "
            + ", ".join(f"{phase} {rates[phase][-1]:.0f}/s" for phase in _PHASES),
            file=sys.stderr,
        )
    scenario = f"{calendars} calendars × {EVENTS} events"
    return [
        Figure(f"first sync, {scenario}", "events/s", "events/s", rates["first"],
               Target(3000), "vdirsyncer", baseline_first),
        Figure(f"unchanged re-sync with ETags (304), {scenario}", "calendars/s", "cal/s",
               rates["etag"], Target(1500)),
        Figure(f"unchanged re-sync without ETags, {scenario}", "calendars/s", "cal/s",
               rates["no_etag"], Target(500), "vdirsyncer", baseline_unchanged),
        Figure(f"re-sync, 5 % of feeds changed, {scenario}", "calendars/s", "cal/s",
               rates["changed"], None, "vdirsyncer", baseline_unchanged),
        *(
            Figure(f"daemon CPU per calendar, {phase.replace('_', ' ')}", "CPU ms",
                   "ms", cpu[phase])
            for phase in _PHASES
        ),
    ]  # fmt: skip


def _measure(
    server: FeedServer, calendars: int, workdir: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """One daemon, four phases: each phase's calendars (or events) per second and CPU ms."""
    store = open_store(workdir / "calsync.db")
    seed.add_calendars(store, [server.url(n) for n in range(calendars)])
    rates: dict[str, float] = {}
    cpu: dict[str, float] = {}
    with Daemon(workdir / "calsync.db", DAEMON_SETTINGS) as daemon:
        for phase in _PHASES:
            if phase == "no_etag":
                server.etags = False
            if phase == "changed":
                for n in range(0, calendars, round(1 / CHANGED_SHARE)):
                    server.change(n)
            before = daemon.usage().cpu_seconds
            started, seconds = _sync_all(store, calendars)
            cpu[phase] = (daemon.usage().cpu_seconds - before) / calendars * 1000
            rates[phase] = calendars * (EVENTS if phase == "first" else 1) / seconds
            _check(seed.outcomes_since(store, started), phase, calendars, daemon)
    store.engine.dispose()
    return rates, cpu


def _sync_all(store: Store, calendars: int) -> tuple[datetime, float]:
    """Make every calendar due; when, and seconds until the last of their runs was written."""
    started = seed.make_due(store)
    probe = seed.runs_since(store, started)
    wait_until(lambda: probe()[0] >= calendars, timeout=600, interval=0.05)
    last = probe()[1]
    assert isinstance(last, datetime)
    return started, (last - started).total_seconds()


def _check(outcomes: dict[str, int], phase: str, calendars: int, daemon: Daemon) -> None:
    """Fail loudly if a phase did not do what it measures (e.g. parsed when it should skip)."""
    expected = {
        "first": {"changed": calendars},
        "etag": {"not_modified": calendars},
        "no_etag": {"unchanged": calendars},
        "changed": {"changed": len(range(0, calendars, round(1 / CHANGED_SHARE)))},
    }[phase]
    for outcome, count in expected.items():
        if outcomes.get(outcome, 0) != count:
            msg = (
                f"phase {phase}: expected {count} {outcome}, got {outcomes}; {daemon.problems[-5:]}"
            )
            raise RuntimeError(msg)
