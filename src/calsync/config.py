"""Settings: a TOML file, overridden by ``CALSYNC_<SECTION>__<KEY>`` environment variables.

The file is chosen in this order: ``--config PATH``, ``$CALSYNC_CONFIG``,
``./calsync.toml`` if it exists, else the defaults alone. Other ``CALSYNC_*``
variables without ``__`` are not settings (``CALSYNC_TEST_POSTGRES_URL``), but one
that starts with a section name is taken for a typo and refused. Every value is
validated at start-up; an unknown key or a bad value raises one
:class:`~calsync.errors.ConfigError` naming it. This is the only module that
reads ``os.environ``: everything else receives its settings as arguments.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from calsync.core.blocks import TransparentEvents
from calsync.core.text import check_plain_text
from calsync.core.zones import check_timezone
from calsync.errors import ConfigError

ENV_PREFIX = "CALSYNC_"
DEFAULT_CONFIG_FILE = Path("calsync.toml")


TimezoneName = Annotated[str, AfterValidator(check_timezone)]
PlainText = Annotated[str, AfterValidator(check_plain_text)]
_ORIGIN = re.compile(r"https?://[^/\s?#]+\Z", re.ASCII)


def _check_origin(origin: str) -> str:
    """A browser origin (``https://app.example.com``, a port allowed, no path) or ``*``."""
    if origin != "*" and _ORIGIN.match(origin) is None:
        msg = f"not an origin like https://app.example.com (scheme and host, no path): {origin!r}"
        raise ValueError(msg)
    return origin


CorsOrigin = Annotated[str, AfterValidator(_check_origin)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where bookings live."""

    url: str = "sqlite:///calsync.db"
    auto_migrate: bool = True
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)
    pool_size: int = Field(default=10, gt=0)
    max_overflow: int = Field(default=10, ge=0)


class FetchSettings(_Section):
    """How feeds are fetched: limits and the SSRF guard."""

    timeout_seconds: float = Field(default=60.0, gt=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    allow_private_networks: bool = False
    allow_hosts: tuple[str, ...] = ()


class ServerSettings(_Section):
    """Where ``calsync run`` serves its HTTP endpoints."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    cors_origins: tuple[CorsOrigin, ...] = ()

    @property
    def base_url(self) -> str:
        """The URL channels reach calsync at: ``public_url``, else the listen address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


_YEAR_MINUTES = 365 * 24 * 60


class SyncSettings(_Section):
    """How feeds become bookings, and how often."""

    interval_minutes: float = Field(default=15.0, gt=0, le=_YEAR_MINUTES)
    tick_seconds: float = Field(default=5.0, gt=0)
    max_concurrent: int = Field(default=16, gt=0)
    max_per_host: int = Field(default=2, gt=0)
    max_backoff_minutes: float = Field(default=360.0, gt=0, le=_YEAR_MINUTES)
    disable_after_days: float = Field(default=0.0, ge=0)
    lease_seconds: float = Field(default=120.0, gt=0)
    parse_workers: int = Field(default=0, ge=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    history_days: float = Field(default=30.0, gt=0)
    past_days: int = Field(default=30, ge=0)
    horizon_days: int = Field(default=730, gt=0)
    max_occurrences: int = Field(default=10_000, gt=0)
    max_occurrences_per_event: int = Field(default=1_000, gt=0)
    max_events: int = Field(default=50_000, gt=0)
    parse_time_budget_seconds: float = Field(default=20.0, gt=0)
    max_delete_fraction: float = Field(default=0.5, gt=0, le=1)
    transparent_events: TransparentEvents = "block"
    keep_bodies: int = Field(default=5, ge=0)


class FeedSettings(_Section):
    """The outbound feeds channels subscribe to."""

    summary: PlainText = "Not available"
    past_days: int = Field(default=30, ge=0)
    refresh_minutes: int = Field(default=60, gt=0)
    stale_reader_hours: float = Field(default=12.0, gt=0)


class ProductSettings(_Section):
    """Defaults for new products."""

    default_timezone: TimezoneName = "UTC"


class ApiSettings(_Section):
    """Bounds on what REST API clients send."""

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_rows_per_write: int = Field(default=1000, gt=0)
    max_rows: int = Field(default=1000, gt=0)
    booking_horizon_years: int = Field(default=10, gt=0, le=100)


class UiSettings(_Section):
    """The web interface: sessions and when a calendar counts as stale."""

    session_secret: str = Field(default="", repr=False)
    """Signs session cookies; empty: one generated once and kept in the database."""
    session_hours: float = Field(default=14 * 24.0, gt=0)
    stale_after_hours: float = Field(default=24.0, gt=0)

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, secret: str) -> str:
        if secret and len(secret) < _MIN_SECRET_LENGTH:
            msg = f"at least {_MIN_SECRET_LENGTH} characters (or empty: generated)"
            raise ValueError(msg)
        return secret


_MIN_SECRET_LENGTH = 32


class AlertSettings(_Section):
    """Events: when a calendar is failing or stale, webhook retries, alerts for people."""

    notify: tuple[str, ...] = ()
    """Apprise URLs (``mailto://…``, ``tgram://…``, ``slack://…``, ``json://…``)."""
    failing_after_failures: int = Field(default=3, gt=0)
    stale_after_hours: float = Field(default=24.0, gt=0)
    disable_after_days: float = Field(default=5.0, gt=0)
    retry_first_seconds: float = Field(default=5.0, gt=0)
    retry_for_hours: float = Field(default=72.0, gt=0)
    delivery_tick_seconds: float = Field(default=1.0, gt=0)
    digest_after: int = Field(default=10, gt=0)


class LoggingSettings(_Section):
    """Log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(_Section):
    """All of calsync's settings."""

    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    fetch: FetchSettings = FetchSettings()
    sync: SyncSettings = SyncSettings()
    feeds: FeedSettings = FeedSettings()
    products: ProductSettings = ProductSettings()
    api: ApiSettings = ApiSettings()
    ui: UiSettings = UiSettings()
    alerts: AlertSettings = AlertSettings()
    logging: LoggingSettings = LoggingSettings()


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the settings file (see the module docstring) and apply environment overrides."""
    env = dict(os.environ if environ is None else environ)
    config_path = _choose_file(path, env)
    data: dict[str, Any] = _read_toml(config_path) if config_path else {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        section, sep, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
        if not sep or not key:
            _check_not_a_misspelt_setting(name)
            continue
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            msg = f"environment variable {name}: [{section}] is not a section"
            raise ConfigError(msg)
        target[key] = _env_value(value)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_path)) from exc


def _check_not_a_misspelt_setting(name: str) -> None:
    """``CALSYNC_DATABASE_URL`` (one underscore) is a typo; ``CALSYNC_CONFIG`` is not a setting."""
    rest = name.removeprefix(ENV_PREFIX).lower()
    for section in Settings.model_fields:
        if rest.startswith(f"{section}_"):
            suggestion = f"{ENV_PREFIX}{section.upper()}__{rest[len(section) + 1 :].upper()}"
            msg = f"environment variable {name}: did you mean {suggestion}?"
            raise ConfigError(msg)


def _choose_file(path: Path | None, env: dict[str, str]) -> Path | None:
    if path is not None:
        return path
    if env.get(f"{ENV_PREFIX}CONFIG"):
        return Path(env[f"{ENV_PREFIX}CONFIG"])
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        msg = f"cannot read config file {path}: {exc.strerror}"
        raise ConfigError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"config file {path} is not valid TOML: {exc}"
        raise ConfigError(msg) from exc


def _env_value(raw: str) -> Any:  # noqa: ANN401 - a TOML value of any type
    """Read an environment value as TOML when it is one (``[..]``, numbers), else as text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _describe(exc: ValidationError, path: Path | None) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    source = f" in {path}" if path else ""
    if error["type"] == "extra_forbidden":
        return f"unknown setting {where}{source}"
    if "secret" in where:  # never echo a secret, not even a short one
        return f"invalid setting {where}{source}: {error['msg']}"
    return f"invalid setting {where}{source}: {error['msg']} (got {error.get('input')!r})"
