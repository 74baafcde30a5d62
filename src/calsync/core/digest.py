"""A digest of a feed's content that ignores what changes on every request.

Airbnb and similar feeds send no ETag and stamp every event's DTSTAMP with the
time of the request, so two fetches of an unchanged calendar differ byte for
byte. Hashing the body without its volatile properties lets a sync skip the
parse when nothing changed.
"""

from __future__ import annotations

import hashlib
import re

VOLATILE_PROPERTIES = (b"DTSTAMP", b"LAST-MODIFIED", b"CREATED")
_CR_BEFORE_LINE_END = re.compile(rb"\r+(?=\n|\Z)")
_VOLATILE_LINES = re.compile(
    rb"\n(?:" + b"|".join(VOLATILE_PROPERTIES) + rb")(?=[:;\n]|\Z)[^\n]*(?:\n[ \t][^\n]*)*",
    re.IGNORECASE,
)
_FOLDS = re.compile(rb"\n(?=[ \t])")


def content_digest(body: bytes, *parameters: object) -> str:
    """Hash ``body`` without its volatile lines, together with the parse ``parameters``.

    Hashed: every line (CRs before its end dropped) after a newline, except the
    volatile properties' lines; a folded continuation joins its line, or goes with it.
    The parameters (time offset, timezone, window day, …) belong in the digest
    because the same bytes import differently when any of them changes. It runs on
    the event loop for every fetched feed, so the body is edited by ``bytes`` and
    ``re`` methods, never line by line in Python (0.5 ms → 0.13 ms for 16 KB).
    """
    text = b"\n" + body.replace(b"\r\n", b"\n")
    if b"\r" in text:  # rare: several CRs, or one at the very end
        text = _CR_BEFORE_LINE_END.sub(b"", text)
    digest = hashlib.sha256(_FOLDS.sub(b"", _VOLATILE_LINES.sub(b"", text)))
    for parameter in parameters:
        digest.update(b"\x00")
        digest.update(repr(parameter).encode())
    return digest.hexdigest()
