"""One-shot sync: ``calsync sync --all`` as a cron job runs it, against vdirsyncer.

50 Airbnb-shaped feeds of 100 events each, served from 127.0.0.1 with no ETag and
DTSTAMP set to the request time (as Airbnb does), into a fresh SQLite database.
Each run times two ``calsync sync --all`` processes, interpreter start-up and
imports included: the first sync (every event new) and the unchanged re-sync
(the same feeds again, only DTSTAMP differs). The in-run baseline is two
``vdirsyncer sync`` processes (http → filesystem, :mod:`bench.vdirsyncer`) over
the same feeds, in the same run.

vdirsyncer fetches at most 16 feeds of one host at once (its fixed connector
limit), so calsync runs with ``sync.max_per_host = 16`` too: every bench feed is on
one host, 127.0.0.1 (a real host's feeds are on a few channels' hosts).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import seed, vdirsyncer
from bench.daemon import open_store
from bench.feeds import FeedSpec
from bench.feedserver import FeedServer
from bench.report import Figure, Target

if TYPE_CHECKING:
    from bench.options import BenchOptions

FEEDS = 50
EVENTS = 100
SETTINGS = {
    "CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
    "CALSYNC_SYNC__MAX_PER_HOST": "16",
}
_TIMEOUT = 600.0
_CALSYNC = Path(sys.executable).with_name("calsync")


def run(options: BenchOptions) -> list[Figure]:
    """``options.runs`` times: calsync's first and unchanged sync, then vdirsyncer's."""
    specs = [
        FeedSpec("airbnb", EVENTS, seed=n, offset_days=5 * (n % seed.CALENDARS_PER_PRODUCT))
        for n in range(FEEDS)
    ]
    first: list[float] = []
    unchanged: list[float] = []
    base_first: list[float] = []
    base_unchanged: list[float] = []
    with FeedServer(specs, etags=False) as server:
        urls = [server.url(n) for n in range(FEEDS)]
        for number in range(options.runs):
            workdir = options.workdir / f"oneshot-{number}"
            workdir.mkdir()
            database = workdir / "calsync.db"
            store = open_store(database)
            seed.add_calendars(store, urls)
            store.engine.dispose()
            env = {**os.environ, **SETTINGS, "CALSYNC_DATABASE__URL": f"sqlite:///{database}"}
            first.append(FEEDS * EVENTS / _sync_all(env, "+100 "))
            unchanged.append(FEEDS / _sync_all(env, "unchanged: "))
            times = vdirsyncer.measure(urls, workdir)
            base_first.append(FEEDS * EVENTS / times.first_seconds)
            base_unchanged.append(FEEDS / times.unchanged_seconds)
            print(
                f"   run {number + 1}: first {first[-1]:.0f} events/s (vdirsyncer "
                f"{base_first[-1]:.0f}), unchanged {unchanged[-1]:.1f} calendars/s "
                f"(vdirsyncer {base_unchanged[-1]:.1f})",
                file=sys.stderr,
            )
    scenario = f"one-shot calsync sync --all, {FEEDS} feeds × {EVENTS} events"
    return [
        Figure(f"{scenario}, first", "events/s", "events/s", first,
               Target(round(2 * statistics.median(base_first))), "vdirsyncer", base_first),
        Figure(f"{scenario}, unchanged", "calendars/s", "cal/s", unchanged,
               Target(round(5 * statistics.median(base_unchanged), 1)), "vdirsyncer",
               base_unchanged),
    ]  # fmt: skip


def _sync_all(env: dict[str, str], expected: str) -> float:
    """Seconds ``calsync sync --all`` takes; every line of its output must contain ``expected``."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(_CALSYNC), "sync", "--all"], env=env, capture_output=True, text=True,
        timeout=_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != FEEDS or not all(expected in x for x in lines):
        msg = (
            f"calsync sync --all exited {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}"
        )
        raise RuntimeError(msg)
    return seconds
