"""Start-up: ``calsync --version``, ``calsync products list``, and the daemon to ``/readyz``.

Each is a fresh process, timed by the wall clock from ``exec`` to exit (or to
the first ``/readyz`` 200), as a cron job or a shell pays it. The in-run
baseline is ``vdirsyncer --version`` from the bench's vdirsyncer environment
(:mod:`bench.vdirsyncer`), run alternately with ``calsync --version``.
``products list`` runs on a small SQLite database (10 products, already
migrated: the migration check must not import Alembic then). The daemon starts
on that database with the settings of a real deployment (a parser pool, the
web server) and is asked ``/readyz`` every 10 ms until it answers 200.
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
from bench.daemon import Daemon, open_store, wait_until
from bench.report import Figure, Target

if TYPE_CHECKING:
    from bench.options import BenchOptions

PRODUCTS = 10
SAMPLES_PER_RUN = 3
_TIMEOUT = 60.0
_CALSYNC = Path(sys.executable).with_name("calsync")


def run(options: BenchOptions) -> list[Figure]:
    """Per run, the median of 3 starts of each command; the daemon once per run."""
    executable = vdirsyncer.ensure_installed()
    database = options.workdir / "startup.db"
    store = open_store(database)
    seed.add_calendars(store, [f"https://example.invalid/{n}.ics" for n in range(PRODUCTS * 3)])
    store.engine.dispose()
    env = {**os.environ, "CALSYNC_DATABASE__URL": f"sqlite:///{database}"}
    version: list[float] = []
    baseline: list[float] = []
    listing: list[float] = []
    ready: list[float] = []
    for _ in range(options.runs):
        version.append(_median_of([str(_CALSYNC), "--version"], env))
        baseline.append(_median_of([str(executable), "--version"], env))
        listing.append(_median_of([str(_CALSYNC), "products", "list"], env))
        ready.append(_daemon_ready(database))
    return [
        Figure("start-up", "calsync --version", "s", version,
               Target(round(1.5 * statistics.median(baseline), 3), at_least=False),
               "vdirsyncer --version", baseline),
        Figure("start-up", f"calsync products list ({PRODUCTS} products, SQLite)", "s", listing,
               Target(0.5, at_least=False)),
        Figure("start-up", "calsync run → /readyz 200", "s", ready, Target(2, at_least=False)),
    ]  # fmt: skip


def _median_of(command: list[str], env: dict[str, str]) -> float:
    """The median wall-clock seconds of :data:`SAMPLES_PER_RUN` runs of ``command``."""
    times = []
    for _ in range(SAMPLES_PER_RUN):
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, capture_output=True, timeout=_TIMEOUT, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            msg = f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
            raise RuntimeError(msg)
    return statistics.median(times)


def _daemon_ready(database: Path) -> float:
    """Seconds from starting ``calsync run`` to its first ``/readyz`` 200."""
    started = time.perf_counter()
    with Daemon(database, {}) as daemon:
        wait_until(lambda: daemon.get("/readyz")[0] == 200, timeout=_TIMEOUT, interval=0.01)
        return time.perf_counter() - started
