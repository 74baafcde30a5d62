"""Parsing in worker processes, so a huge feed never stalls the event loop that serves HTTP.

Workers are spawned: each imports this module and what the parser needs, and
nothing else, so each costs about 30 MB rather than the daemon's whole import
graph (sqlalchemy, FastAPI, httpx). An import contract in ``pyproject.toml``
keeps it so.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from calsync.core.ical_in import ParsedFeed, ParseOptions, parse_feed
from calsync.errors import ParserFailed

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ParsePool:
    """Parse feeds in worker processes; a pool whose worker died is replaced.

    Workers start on demand, one per parse running at once, up to ``workers``.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_stop_signals,
        )

    async def parse(self, body: bytes, options: ParseOptions) -> ParsedFeed:
        """Parse in a worker process; raise ``ParserFailed`` if the worker dies."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, parse_feed, body, options)
        except BrokenProcessPool as exc:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            msg = "the parser process died while reading the feed"
            raise ParserFailed(msg) from exc

    def close(self) -> None:
        """Stop the workers; parses still queued are dropped."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _ignore_stop_signals() -> None:
    """Workers leave SIGINT/SIGTERM to the daemon, which stops them in order.

    On Linux a worker is also killed when the daemon dies (even by SIGKILL), so
    no orphaned parser outlives it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
