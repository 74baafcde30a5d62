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


class DaemonProcess:
    """One ``calsync run`` process with its JSON log lines collected."""

    def __init__(self, database: Path, env: dict[str, str]) -> None:
        self.database_url = f"sqlite:///{database}"
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

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.logs.append(json.loads(line))
            except json.JSONDecodeError:
                self.logs.append({"event": "raw", "line": line.rstrip()})

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
