"""The clock: the current time as calsync stores every time, an aware UTC datetime.

The pure core never reads it (``now`` is a parameter there); the layers above
take it as an injectable ``clock`` callable defaulting to :func:`utc_now`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
