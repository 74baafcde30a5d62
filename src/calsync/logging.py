"""structlog set-up: JSON lines in the daemon and in pipes, a readable console on a terminal.

calsync's own events and the standard library's (uvicorn, APScheduler, SQLAlchemy)
go through one handler, so every line on stderr has the same format and lines
written from different threads never run into each other.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from calsync.config import LoggingSettings


class _StderrHandler(logging.Handler):
    """Writes formatted records to whatever ``sys.stderr`` is at that moment (tests replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one line; the handler's lock keeps lines from different threads apart."""
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never take the process down
            self.handleError(record)


def configure_logging(settings: LoggingSettings) -> None:
    """Send structlog and stdlib logs to stderr, in the configured format."""
    level = getattr(logging, settings.level.upper())
    console = settings.format == "console" or (settings.format == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for library in ("alembic", "apscheduler", "httpcore", "httpx", "sqlalchemy", "uvicorn"):
        logging.getLogger(library).setLevel(max(level, logging.WARNING))
