"""structlog set-up: JSON lines in the daemon and in pipes, a readable console on a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from calsync.config import LoggingSettings


def configure_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    """Send structlog (and stdlib) logs to ``stream`` (stderr) in the configured format."""
    stream = stream or sys.stderr
    level = getattr(logging, settings.level.upper())
    console = settings.format == "console" or (settings.format == "auto" and stream.isatty())
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
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=stream, force=True)
