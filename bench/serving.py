"""Serving outbound feeds: calsync's ``GET /ical/{token}.ics`` against a static file server.

One product holds 365 one-night bookings (the next year booked solid). ``calsync
run`` serves its feed; the same bytes, fetched once and written to a file, are
served in the same run by a static file server, the baseline. The baseline is
uvicorn (httptools, uvloop, one process) serving Starlette's ``StaticFiles``, in
a subprocess: the HTTP stack calsync itself runs on, so the ratio shows
calsync's own cost per request (token lookup, validators, the read log) rather
than the difference between two HTTP servers. (``StaticFiles`` is no speed
record: it stats and reads the file in the thread pool on every request.) Both
answer ``If-None-Match`` with 304, so the 304 paths are compared too.

The load generator is ``wrk`` (``apt-get install wrk``; ``make bench`` installs
it): 2 threads, 32 keep-alive connections, 5 s per measurement (2 s with
``--quick``), calsync and the static server alternating within each run so that
drift on the machine hits both alike.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.daemon import Daemon, open_store
from bench.report import Figure, Target
from calsync.core.feed_path import feed_path
from calsync.store import products as stored_products
from calsync.store.models import Booking

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.options import BenchOptions

SCENARIO = "feed serving, 365 bookings"
_BOOKINGS = 365
_THREADS = 2
_CONNECTIONS = 32
_FEED_FILE = "feed.ics"
_TIMEOUT = 30.0
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    """What one wrk run measured: requests per second and latency percentiles (ms)."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float


def run(options: BenchOptions) -> list[Figure]:
    """Load calsync's feed and the same bytes from a static server, 200s and 304s, run by run."""
    wrk = shutil.which("wrk")
    if wrk is None:
        msg = "the serving benchmark needs wrk: run `apt-get install wrk` (or `make bench`)"
        raise RuntimeError(msg)
    workdir = options.workdir / "serving"
    workdir.mkdir(parents=True, exist_ok=True)
    token = _seed(workdir / "calsync.db")
    seconds = 2 if options.quick else 5
    loads: dict[str, list[Load]] = {
        "calsync": [],
        "calsync 304": [],
        "static": [],
        "static 304": [],
    }
    with Daemon(workdir / "calsync.db", {"CALSYNC_SYNC__INTERVAL_MINUTES": "100000"}) as daemon:
        calsync_url = daemon.url + feed_path(token)
        body, calsync_etag = _fetch(calsync_url)
        (workdir / "static").mkdir(exist_ok=True)
        (workdir / "static" / _FEED_FILE).write_bytes(body)
        with _static_server(workdir / "static") as static_base:
            static_url = f"{static_base}/{_FEED_FILE}"
            static_body, static_etag = _fetch(static_url)
            if static_body != body:
                msg = "the static server does not serve calsync's bytes"
                raise RuntimeError(msg)
            for url, etag in ((calsync_url, calsync_etag), (static_url, static_etag)):
                _expect_not_modified(url, etag)
            for number in range(options.runs):
                print(f"   run {number + 1}/{options.runs}", file=sys.stderr, flush=True)
                loads["calsync"].append(_wrk(wrk, calsync_url, seconds))
                loads["static"].append(_wrk(wrk, static_url, seconds))
                loads["calsync 304"].append(_wrk(wrk, calsync_url, seconds, calsync_etag))
                loads["static 304"].append(_wrk(wrk, static_url, seconds, static_etag))
    return _figures(loads)


def _figures(loads: dict[str, list[Load]]) -> list[Figure]:
    """Few figures: 200s against the static server (and its share), then the 304s."""
    calsync, static = loads["calsync"], loads["static"]
    calsync_304, static_304 = loads["calsync 304"], loads["static 304"]

    def rps(values: list[Load]) -> list[float]:
        return [load.requests_per_second for load in values]

    return [
        Figure(SCENARIO, "requests/s (200)", "req/s", rps(calsync),
               baseline="static server", baseline_runs=rps(static)),
        Figure(SCENARIO, "share of static req/s (200)", "%",
               [100 * c.requests_per_second / s.requests_per_second
                for c, s in zip(calsync, static, strict=True)],
               target=Target(50)),
        Figure(SCENARIO, "p50 latency (200)", "ms", [load.p50_ms for load in calsync],
               baseline="static server", baseline_runs=[load.p50_ms for load in static]),
        Figure(SCENARIO, "p99 latency (200)", "ms", [load.p99_ms for load in calsync],
               baseline="static server", baseline_runs=[load.p99_ms for load in static]),
        Figure(SCENARIO, "requests/s (304)", "req/s", rps(calsync_304),
               baseline="calsync 200", baseline_runs=rps(calsync)),
        Figure(SCENARIO, "static server requests/s (304)", "req/s", rps(static_304)),
        Figure(SCENARIO, "p99 latency (304)", "ms", [load.p99_ms for load in calsync_304],
               baseline="static server", baseline_runs=[load.p99_ms for load in static_304]),
    ]  # fmt: skip


def _seed(database: Path) -> str:
    """One product with a confirmed one-night booking for each of the next 365 nights; its token."""
    store = open_store(database)
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        with store.write() as session:
            product = stored_products.add_product(
                session, name="Beach house", timezone="Europe/Amsterdam", capacity=1, now=today
            )
            session.add_all(
                Booking(
                    product_id=product.id,
                    starts_at=today + timedelta(days=night),
                    ends_at=today + timedelta(days=night + 1),
                    all_day=True,
                    summary=f"Guest {night}",
                    status="confirmed",
                )
                for night in range(1, _BOOKINGS + 1)
            )
            return product.feed_token
    finally:
        store.close()


@contextlib.contextmanager
def _static_server(directory: Path) -> Iterator[str]:
    """A static file server on 127.0.0.1 for ``directory``, in a subprocess; its base URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1024)
        port = listener.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.serving", str(directory), str(listener.fileno())],
            pass_fds=[listener.fileno()], cwd=Path(__file__).parent.parent,
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    # The child holds the listening socket now: if it dies, connections are refused.
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _fetch(url: str) -> tuple[bytes, str]:
    """One GET that must answer 200 with an ETag: the body and the ETag."""
    with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
        etag = response.headers.get("ETag")
        if response.status != 200 or not etag:
            msg = f"{url} answered {response.status} with ETag {etag!r}"
            raise RuntimeError(msg)
        return response.read(), str(etag)


def _expect_not_modified(url: str, etag: str) -> None:
    """Check that ``If-None-Match: etag`` gets a 304, so the 304 loads measure 304s."""
    request = urllib.request.Request(url, headers={"If-None-Match": etag})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != 304:
        msg = f"{url} answered {status} to If-None-Match, not 304"
        raise RuntimeError(msg)


def _wrk(wrk: str, url: str, seconds: int, etag: str | None = None) -> Load:
    """One wrk load on ``url`` (conditional with ``etag``); every answer must be 2xx or 3xx."""
    headers = ["-H", f"If-None-Match: {etag}"] if etag else []
    command = [
        wrk,
        f"-t{_THREADS}",
        f"-c{_CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        *headers,
        url,
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        msg = f"wrk got {match.group(1)} error responses from {url}"
        raise RuntimeError(msg)
    return Load(
        requests_per_second=float(_find(r"^Requests/sec:\s+([\d.]+)$", output).group(1)),
        p50_ms=_latency("50%", output),
        p99_ms=_latency("99%", output),
    )


def _latency(percentile: str, output: str) -> float:
    """A percentile of wrk's latency distribution, in ms."""
    match = _find(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)$", output)
    return float(match.group(1)) * _UNITS[match.group(2)]


def _find(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        msg = f"no {pattern!r} in wrk's output:\n{output}"
        raise RuntimeError(msg)
    return match


def _serve_static(directory: str, fd: int) -> None:
    """The baseline server's process: uvicorn + StaticFiles on the inherited listening socket."""
    import uvicorn  # noqa: PLC0415 - only the server process needs it
    from starlette.staticfiles import StaticFiles  # noqa: PLC0415

    config = uvicorn.Config(
        StaticFiles(directory=directory),
        http="httptools",
        loop="uvloop",
        workers=1,
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


if __name__ == "__main__":
    _serve_static(sys.argv[1], int(sys.argv[2]))
