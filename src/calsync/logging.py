"""structlog set-up: JSON lines in the daemon and in pipes, a readable console on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from calsync.config import LoggingSettings


def configure_logging(settings: LoggingSettings) -> None:
    """Send structlog (and stdlib) logs to stderr in the configured format."""
    level = getattr(logging, settings.level.upper())
    console = settings.format == "console" or (settings.format == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), force=True)


def _stderr_logger(*_args: object) -> structlog.PrintLogger:
    """A logger on whatever ``sys.stderr`` is when it logs (it may be replaced, e.g. in tests)."""
    return structlog.PrintLogger(sys.stderr)
