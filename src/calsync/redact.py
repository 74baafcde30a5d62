"""Redaction of secrets in feed URLs before they reach a log line or an error.

Channel export URLs carry their secret in the query string (Booking.com's
``?t=…``), in a path token (Airbnb's ``/calendar/ical/123.ics?s=…``, Google's
``/private-<hex>/basic.ics``) or as ``user:password@``. A redacted URL keeps the
scheme, the host and the shape of the path, so an operator can still tell which
calendar it is.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

_SECRET_SEGMENT = re.compile(
    r"""
    ^(?:private|secret|token|key)[-_].+    # Google: private-<hex>
    | .*\d.*[a-z].{14,} | .*[a-z].*\d.{14,} # long mixed letters and digits
    | [A-Za-z0-9_-]{24,}                    # long tokens
    """,
    re.IGNORECASE | re.VERBOSE,
)
_REDACTED = "***"


def redact_url(url: str) -> str:
    """Return ``url`` with its user info, query string and path tokens replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return _REDACTED
    if not parts.scheme or not host:
        return _REDACTED
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        netloc = f"{_REDACTED}@{netloc}"
    path = "/".join(_redact_segment(segment) for segment in parts.path.split("/"))
    query = _REDACTED if parts.query else ""
    return SplitResult(parts.scheme, netloc, path, query, "").geturl()


def _redact_segment(segment: str) -> str:
    stem, dot, extension = segment.rpartition(".")
    if not dot or len(extension) > 4:  # noqa: PLR2004 - .ics, .ical, .ifb
        stem, dot, extension = segment, "", ""
    if _SECRET_SEGMENT.fullmatch(stem):
        return f"{_REDACTED}{dot}{extension}"
    return segment
