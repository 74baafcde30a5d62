"""vdirsyncer as an in-run baseline: the same feeds synced by a well-known tool.

vdirsyncer (https://github.com/pimutils/vdirsyncer) syncs pairs of calendar
storages. Here each feed is one pair: a read-only ``http`` storage (the iCal
feed, split into one item per UID) into a ``filesystem`` storage (a directory
of ``.ics`` files), with ``conflict_resolution = "a wins"``. That is the job
calsync does for a channel feed, minus the booking logic, so its times are a
yardstick measured on the same machine, in the same run, against the same
feed server. vdirsyncer sends no conditional GET: every sync downloads and
parses every feed again, and compares items by a hash that ignores DTSTAMP.

vdirsyncer is installed once into its own virtual environment,
:data:`VENV` (git-ignored, kept between bench runs), never into calsync's, so
that neither's dependencies constrain the other. Version :data:`VERSION`
(the newest on PyPI when this was written) has no ``--max-workers`` option any
more: since 0.19 it syncs every pair concurrently on asyncio, with at most 16
connections per host (its fixed ``aiohttp`` connector limit), so its defaults
are used. Each timed sync is one ``vdirsyncer sync`` process, interpreter
start-up and config loading included (about half a second).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.21.0"
"""The vdirsyncer release measured (pinned, so figures compare across runs)."""
VENV = Path(__file__).resolve().parent / ".vdirsyncer-venv"
"""vdirsyncer's own virtual environment: created on first use, then reused."""
TIMEOUT = 600.0
"""Seconds any one subprocess (venv, pip, vdirsyncer) may take."""

_UID = re.compile(rb"^UID:(.*?)\r?$", re.MULTILINE)


@dataclass(frozen=True)
class VdirsyncerTimes:
    """Wall-clock seconds of two ``vdirsyncer sync`` runs over all feeds."""

    first_seconds: float
    """First sync of all feeds: every event is new and written to disk."""
    unchanged_seconds: float
    """Second sync: the feeds are unchanged except DTSTAMP, so nothing is written."""


def measure(urls: list[str], workdir: Path) -> VdirsyncerTimes:
    """Sync every feed in ``urls`` into ``workdir`` twice with vdirsyncer; time both.

    Installs vdirsyncer first if :data:`VENV` lacks it. Each call uses a fresh
    directory under ``workdir``, so the first sync always starts with no status.

    Raises:
        RuntimeError: vdirsyncer cannot be installed, fails, or leaves a local
            directory without one ``.ics`` file per event UID of its feed.
    """
    executable = ensure_installed()
    root = Path(tempfile.mkdtemp(prefix="vdirsyncer-", dir=workdir))
    config = _write_config(urls, root)
    _run(executable, config, "discover")
    first, log = _run(executable, config, "sync")
    expected = [_uid_count(url) for url in urls]
    _check_items(root, expected, "first", log)
    unchanged, log = _run(executable, config, "sync")
    _check_items(root, expected, "second", log)
    return VdirsyncerTimes(first_seconds=first, unchanged_seconds=unchanged)


def ensure_installed() -> Path:
    """The ``vdirsyncer`` executable of :data:`VENV`, installing it there if needed.

    A lock file keeps two bench runs from installing at the same time.

    Raises:
        RuntimeError: creating the environment or ``pip install`` failed.
    """
    executable = VENV / "bin" / "vdirsyncer"
    VENV.mkdir(parents=True, exist_ok=True)
    with (VENV / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(executable) == VERSION:
            return executable
        print(f"installing vdirsyncer {VERSION} into {VENV}", file=sys.stderr, flush=True)
        _install_step([sys.executable, "-m", "venv", str(VENV)], "creating its venv")
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _install_step([*pip, f"vdirsyncer=={VERSION}"], "pip install")
        if (found := _installed_version(executable)) != VERSION:
            raise RuntimeError(
                f"vdirsyncer {VERSION} is not runnable from {VENV} after installing it"
                f" (it reports {found!r})"
            )
    return executable


def _installed_version(executable: Path) -> str | None:
    if not executable.exists():
        return None
    try:
        done = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = done.stdout.split()
    return words[-1] if done.returncode == 0 and words else None


def _install_step(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"cannot install vdirsyncer {VERSION} ({what}): {error}") from error
    if done.returncode != 0:
        raise RuntimeError(
            f"cannot install vdirsyncer {VERSION} into {VENV} ({what} exited"
            f" {done.returncode}):\n{_tail(done.stderr or done.stdout)}"
        )


def _write_config(urls: list[str], root: Path) -> Path:
    """One pair per feed: ``feed_N`` (http) into ``local_N`` (a directory of .ics files)."""
    sections = [f"[general]\nstatus_path = {json.dumps(str(root / 'status'))}\n"]
    for index, url in enumerate(urls):
        local = root / f"local_{index}"
        local.mkdir()  # made here, so that discover asks nothing
        sections.append(
            f'[pair cal_{index}]\na = "feed_{index}"\nb = "local_{index}"\n'
            'collections = null\nconflict_resolution = "a wins"\n\n'
            f'[storage feed_{index}]\ntype = "http"\nurl = {json.dumps(url)}\nread_only = true\n\n'
            f'[storage local_{index}]\ntype = "filesystem"\npath = {json.dumps(f"{local}/")}\n'
            'fileext = ".ics"\n'
        )
    config = root / "config"
    config.write_text("\n".join(sections), encoding="utf-8")
    return config


def _run(executable: Path, config: Path, command: str) -> tuple[float, str]:
    """Run ``vdirsyncer -c config command``; its wall-clock seconds and its stderr."""
    # Only 127.0.0.1 is synced: keep any proxy set in the environment out of it.
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(executable), "--config", str(config), command],
            stdin=subprocess.DEVNULL,  # a prompt fails at once instead of waiting
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"vdirsyncer {command} took over {TIMEOUT:.0f} s") from error
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"vdirsyncer {command} exited {done.returncode}:\n{_tail(done.stderr)}")
    return seconds, done.stderr


def _uid_count(url: str) -> int:
    """How many items vdirsyncer makes of the feed at ``url``: its distinct UIDs."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise ValueError(f"only feeds on this machine are synced, not {url}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT) as response:
        body: bytes = response.read()
    return len(set(_UID.findall(body)))


def _check_items(root: Path, expected: list[int], which: str, log: str) -> None:
    for index, count in enumerate(expected):
        found = sum(1 for _ in (root / f"local_{index}").glob("*.ics"))
        if found != count:
            status = root / "status"
            raise RuntimeError(
                f"after the {which} vdirsyncer sync, {root / f'local_{index}'} holds {found}"
                f" .ics files, not {count} (one per event UID of its feed); status in"
                f" {status}; vdirsyncer said:\n{_tail(log)}"
            )


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
