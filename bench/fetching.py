"""Fetching feeds: calsync's ``FeedFetcher`` against a plain ``httpx.AsyncClient()``.

Tasks fetch 50-event Airbnb-shaped feeds (no validators, DTSTAMP stamped per
request) from the bench feed server on 127.0.0.1, one at a time and 50 at once,
for 2 s per measurement (0.5 s with ``--quick``). The feed server runs in its
own process, so the CPU time read here (``time.process_time``) is the client's
alone. The baseline is ``httpx.AsyncClient()`` with its defaults, measured in
the same run right after calsync at the same concurrency: with 50 connections
its httpcore pool rescans every connection for every request (DESIGN §11),
which calsync's per-origin pool avoids. Both run on uvloop, the daemon's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import uvloop

from bench.feeds import FeedSpec
from bench.feedserver import FeedServer
from bench.report import Figure, Target
from calsync.config import FetchSettings
from calsync.fetch import FeedFetcher

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from bench.options import BenchOptions

    Fetch = Callable[[str], Awaitable[int]]

SCENARIO = "fetching 50-event Airbnb feeds from 127.0.0.1"
BASELINE = "httpx.AsyncClient()"
_FEEDS = 100
_EVENTS = 50
_CONCURRENCIES = (1, 50)
_CLIENTS = ("calsync", "httpx")
_MAX_FETCHES = 1_000_000
"""A bound on one measurement's fetches besides its clock."""
_TIMEOUT = 30.0
_TARGETS = {1: Target(500), 50: Target(1000)}
"""At least httpx's own single-connection rate (DESIGN §11), and no collapse at 50."""


def run(options: BenchOptions) -> list[Figure]:
    """Measure both clients at each concurrency, ``options.runs`` times."""
    seconds = 0.5 if options.quick else 2.0
    rates: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    with _feed_server() as urls:
        for number in range(options.runs):
            for concurrency in _CONCURRENCIES:
                for client in _CLIENTS:
                    rate, cpu_us = uvloop.run(_measure(client, urls, concurrency, seconds))
                    rates.setdefault((client, concurrency), []).append(rate)
                    cpu.setdefault((client, concurrency), []).append(cpu_us)
            print(
                f"   run {number + 1}: "
                + ", ".join(
                    f"{client} ×{concurrency} {rates[client, concurrency][-1]:.0f}/s"
                    for concurrency in _CONCURRENCIES
                    for client in _CLIENTS
                ),
                file=sys.stderr,
            )
    figures: list[Figure] = []
    for concurrency in _CONCURRENCIES:
        scenario = f"{SCENARIO}, {concurrency} at once"
        figures += [
            Figure(scenario, "fetches/s", "fetches/s", rates["calsync", concurrency],
                   _TARGETS[concurrency], BASELINE, rates["httpx", concurrency]),
            Figure(scenario, "CPU per fetch", "µs", cpu["calsync", concurrency],
                   None, BASELINE, cpu["httpx", concurrency]),
        ]  # fmt: skip
    return figures


async def _measure(
    client: str, urls: list[str], concurrency: int, seconds: float
) -> tuple[float, float]:
    """Fetches/s and CPU µs per fetch of ``concurrency`` tasks fetching for ``seconds``."""
    async with _client(client) as fetch:
        # Open the connections first: the measurement is of kept-alive fetching.
        await asyncio.gather(*(fetch(urls[n % len(urls)]) for n in range(concurrency)))
        done = 0
        deadline = time.monotonic() + seconds

        async def worker(first: int) -> None:
            nonlocal done
            index = first
            while time.monotonic() < deadline and done < _MAX_FETCHES:
                await fetch(urls[index % len(urls)])
                done += 1
                index += concurrency

        started, cpu_started = time.perf_counter(), time.process_time()
        async with asyncio.timeout(seconds + _TIMEOUT):
            await asyncio.gather(*(worker(task) for task in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
    return done / elapsed, cpu_seconds / done * 1e6


@contextlib.asynccontextmanager
async def _client(name: str) -> AsyncIterator[Fetch]:
    """A function fetching one URL (returning the body's size) with calsync or plain httpx."""
    if name == "calsync":
        async with FeedFetcher(FetchSettings(allow_private_networks=True)) as fetcher:

            async def fetch_feed(url: str) -> int:
                return len((await fetcher.fetch(url)).body or b"")

            yield fetch_feed
    else:
        async with httpx.AsyncClient() as client:

            async def fetch_plain(url: str) -> int:
                response = await client.get(url)
                response.raise_for_status()
                return len(response.content)

            yield fetch_plain


@contextlib.contextmanager
def _feed_server() -> Iterator[list[str]]:
    """The bench feed server in a process of its own; yields the feeds' URLs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fetching"],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], _TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            msg = f"the feed server did not start within {_TIMEOUT:g} s"
            raise RuntimeError(msg)
        yield [f"http://127.0.0.1:{line.strip()}/f/{index}.ics" for index in range(_FEEDS)]
    finally:
        process.stdin.close()
        try:
            process.wait(_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_TIMEOUT)


def _serve() -> None:
    """Serve the feeds, print the port, and stop when stdin closes (the server process)."""
    specs = [FeedSpec("airbnb", _EVENTS, seed) for seed in range(_FEEDS)]
    with FeedServer(specs, etags=False) as server:
        print(server.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve()
