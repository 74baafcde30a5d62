"""``calsync run`` as a subprocess for benchmarks: start it on a seeded store, watch its cost.

The daemon runs exactly as a user runs it (``python -m calsync run``), configured
through ``CALSYNC_*`` variables. Its CPU time and peak memory are read from
``/proc`` for the daemon and its parser workers together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from calsync.config import DatabaseSettings
from calsync.store.db import Store

if TYPE_CHECKING:
    from types import TracebackType

_START_TIMEOUT = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def open_store(database: Path) -> Store:
    """The bench's SQLite store, migrated."""
    store = Store.connect(DatabaseSettings(url=f"sqlite:///{database}"))
    store.upgrade()
    return store


@dataclass(frozen=True)
class Usage:
    """CPU seconds used and peak resident memory (MB), the daemon and its workers summed."""

    cpu_seconds: float
    peak_rss_mb: float


class Daemon:
    """One ``calsync run`` on ``database`` (a SQLite file, or a URL), ``env`` over its settings.

    ``syncs`` counts the syncs it has logged so far.
    """

    def __init__(self, database: Path | str, env: dict[str, str]) -> None:
        environ = {
            **os.environ,
            "CALSYNC_DATABASE__URL": database
            if isinstance(database, str)
            else f"sqlite:///{database}",
            "CALSYNC_SERVER__PORT": "0",
            "CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
            "CALSYNC_LOGGING__FORMAT": "json",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calsync", "run"],
            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        self._started = threading.Event()
        self._listen = ""
        self.syncs = 0
        self.problems: list[str] = []
        """Log lines at warning level or above (shown when a run goes wrong)."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._started.wait(_START_TIMEOUT):
            self.stop()
            msg = f"calsync run did not start within {_START_TIMEOUT:g} s: {self.problems[-5:]}"
            raise RuntimeError(msg)
        self.url = self._listen

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                entry: dict[str, Any] = json.loads(line)
            except json.JSONDecodeError:
                self.problems.append(line.rstrip())
                continue
            if entry.get("event") in {"sync.finished", "sync.failed"}:
                self.syncs += 1
            if entry.get("event") == "daemon.started":
                self._listen = str(entry["listen"])
                self._started.set()
            elif entry.get("level") in {"warning", "error", "critical"}:
                self.problems.append(line.rstrip())

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One GET on the daemon: status, headers, body."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post(self, path: str, api_key: str) -> int:
        """One authenticated POST with an empty body; the status."""
        headers = {"Authorization": f"Bearer {api_key}"}
        request = urllib.request.Request(self.url + path, method="POST", data=b"", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def usage(self) -> Usage:
        """CPU time and peak RSS so far, of the daemon and every live worker process."""
        pids = [self.process.pid, *_children(self.process.pid)]
        cpu = 0.0
        peak = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak += int(line.split()[1]) / 1024
        return Usage(cpu_seconds=cpu, peak_rss_mb=peak)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the process group if it does not exit within 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # leftover workers, if any
        self._reader.join(timeout=10)


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (the parser workers)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found.append(int(child))
                    pending.append(int(child))
    return found


def wait_until(condition: Any, timeout: float, interval: float = 0.02) -> Any:  # noqa: ANN401
    """Poll ``condition()`` until it is truthy (return it) or ``timeout`` passes (raise)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            name = getattr(condition, "__name__", condition)
            msg = f"gave up after {timeout:g} s waiting for {name}"
            raise TimeoutError(msg)
        time.sleep(interval)
