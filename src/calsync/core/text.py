"""Names and summaries are one line of plain text: the rule, and how stored text is made safe.

A name or a summary ends up in an iCal feed, a terminal, a log line: a control
character (a line break, NUL, an escape, …: Unicode category ``Cc``, that is
C0, DEL and C1) has no place in any of them. The API, the CLI and the settings
refuse it with :func:`check_plain_text`. Text that arrives from elsewhere (an
imported event's summary) is never refused; whatever shows it makes it safe
(:func:`feed_text` for a feed).
"""

from __future__ import annotations

import re

_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_CONTROL = re.compile(f"[{_CONTROLS}]")
PLAIN_TEXT_PATTERN = f"^[^{_CONTROLS}]*$"
"""The rule of :func:`check_plain_text` as a JSON-schema ``pattern`` (for the OpenAPI document)."""
_LINE_BREAK = re.compile("\r\n?")
_DROPPED = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f]")
"""Every control character but a tab and a line feed."""


def check_plain_text(text: str) -> str:
    """``text`` unchanged, or :class:`ValueError` naming its first control character."""
    found = _CONTROL.search(text)
    if found is not None:
        msg = (
            f"control characters (line breaks, tabs, NUL, …) are not allowed: "
            f"U+{ord(found.group()):04X} at position {found.start()}"
        )
        raise ValueError(msg)
    return text


def feed_text(text: str) -> str:
    r"""``text`` as a feed carries it: each line break one LF, other controls but a tab removed.

    CRLF, CR and LF are line breaks. A tab and a line feed are all an iCal TEXT
    value may hold of the control characters (a line feed escaped as ``\n``).
    """
    return _DROPPED.sub("", _LINE_BREAK.sub("\n", text))
