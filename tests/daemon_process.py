"""``calsync run`` as a real subprocess for system tests: start, wait for it, talk to it, stop it."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calsync.store.db import Store

START_TIMEOUT = 30.0
_JSON = json.JSONDecoder()


class DaemonProcess:
    """One ``calsync run`` process with its JSON log lines collected."""

    def __init__(self, database: Path | str, env: dict[str, str]) -> None:
        # A path is a SQLite file; a string is a database URL (PostgreSQL for replica tests).
        self.database_url = database if isinstance(database, str) else f"sqlite:///{database}"
        environ = {
            **os.environ,
            "CALSYNC_DATABASE__URL": self.database_url,
            "CALSYNC_SERVER__PORT": "0",
            "CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
            "CALSYNC_LOGGING__FORMAT": "json",
            "CALSYNC_SYNC__PARSE_WORKERS": "1",
            **env,
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calsync", "run"],
            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True,  # its own process group, parser workers included
        )  # fmt: skip
        self.logs: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        started = self.wait_for_log("daemon.started", timeout=START_TIMEOUT)
        self.url = str(started["listen"])
        self.replica = str(started.get("replica", ""))
        """This process's lease owner name (``daemon.started`` → ``replica``)."""

    @property
    def alive(self) -> bool:
        """Whether the process is still running (a stopped one counts as running)."""
        return self.process.poll() is None

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.logs.extend(_parse_line(line))

    def wait_for_log(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first log line with this event name, waiting at most ``timeout`` seconds."""
        found = wait_until(
            lambda: next((e for e in self.logs if e.get("event") == event), None), timeout
        )
        if found is None:
            raise AssertionError(
                f"no {event!r} log line within {timeout} s; logs: {self.logs[-20:]}"
            )
        return dict(found)

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def post(self, path: str, *, api_key: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        request = urllib.request.Request(self.url + path, method="POST", data=b"", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._close()
        return code

    def stop(self) -> None:
        """Kill the daemon's whole process group (as systemd kills its cgroup)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=10)
        if self.process.stderr is not None and not self._reader.is_alive():
            self.process.stderr.close()


def _parse_line(line: str) -> list[Any]:
    """The JSON log line; a line that is not JSON is kept as ``{"event": "raw", "line": …}``.

    Another writer on stderr (stdlib logging, e.g. apscheduler's warnings) can
    land between a JSON line and its newline: the JSON object the line starts
    with is still recovered, and the rest kept as raw.
    """
    try:
        return [json.loads(line)]
    except json.JSONDecodeError:
        pass
    found: list[Any] = []
    rest = line.rstrip()
    if rest.startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            entry, end = _JSON.raw_decode(rest)
            found.append(entry)
            rest = rest[end:]
    if rest or not found:
        found.append({"event": "raw", "line": rest})
    return found


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy or ``timeout`` passes (then None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def open_store(database_url: str) -> Store:
    from calsync.config import DatabaseSettings

    return Store.connect(DatabaseSettings(url=database_url))
