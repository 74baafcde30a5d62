"""The path of a product's outbound feed: what channels subscribe to. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uuid


def feed_path(feed_token: str, exclude: uuid.UUID | None = None) -> str:
    """The path of a product's feed, optionally leaving out one calendar's imports."""
    path = f"/ical/{feed_token}.ics"
    return f"{path}?exclude={exclude}" if exclude else path
