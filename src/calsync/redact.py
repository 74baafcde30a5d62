"""Redaction of secrets in feed URLs before they reach a log line or an error, and in alert URLs.

Channel export URLs carry their secret in the query string (Booking.com's
``?t=…``), in a path token (Airbnb's ``/calendar/ical/123.ics?s=…``, Google's
``/private-<hex>/basic.ics``) or as ``user:password@``. A redacted URL keeps the
scheme, the host and the shape of the path, so an operator can still tell which
calendar it is.

Apprise URLs (``alerts.notify``) carry passwords and tokens anywhere, the host
included (``tgram://<bot token>/<chat id>``): :func:`redact_target` keeps the
scheme and a host only when it is a domain name or an address.
"""

from __future__ import annotations

import ipaddress
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
_HIDDEN = "…"
_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\.?|localhost", re.IGNORECASE
)


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


def redact_target(url: str) -> str:
    """An Apprise URL as its scheme and host only: ``mailtos://…@mail.example.com``, ``tgram://…``.

    ``…@`` stands for user info; the host is kept only when it is a domain name
    or an IP address (in Telegram's, Slack's or Discord's URLs it is a token);
    the port, path and query are left out.
    """
    scheme, found, rest = url.partition("://")
    if not found or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme, re.IGNORECASE):
        return _HIDDEN
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    user, at, hostport = netloc.rpartition("@")
    bracketed = hostport.startswith("[")
    host = hostport[1:].partition("]")[0] if bracketed else hostport.partition(":")[0]
    if not _is_host(host):
        return f"{scheme}://{_HIDDEN}"
    shown = f"[{host}]" if ":" in host else host.lower()
    return f"{scheme}://{_HIDDEN + '@' if at and user else ''}{shown}"


def _is_host(text: str) -> bool:
    if len(text) <= 253 and _DOMAIN.fullmatch(text):  # noqa: PLR2004 - a domain name's length
        return True
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
