"""Names and summaries are one line of plain text: the rule, and how stored text is made safe.

A name or a summary ends up in an iCal feed, a terminal, a log line: a control
character (a line break, NUL, an escape, …: Unicode category ``Cc``, that is
C0, DEL and C1) has no place in any of them. The API, the CLI and the settings
refuse it with :func:`check_plain_text`. A booking's internal notes are the one
text that may hold line breaks (CR and LF; no other control character): they
never leave calsync in a feed. Text that arrives from elsewhere (an imported
event's summary) is never refused; whatever shows it makes it safe
(:func:`feed_text` for a feed).
"""

from __future__ import annotations

import re

_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
_CONTROLS_BUT_LINE_BREAKS = r"\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_BUT_LINE_BREAK = re.compile(f"[{_CONTROLS_BUT_LINE_BREAKS}]")
PLAIN_TEXT_PATTERN = f"^[^{_CONTROLS}]*$"
"""The rule of :func:`check_plain_text` as a JSON-schema ``pattern`` (for the OpenAPI document)."""
LINES_PATTERN = f"^[^{_CONTROLS_BUT_LINE_BREAKS}]*$"
"""The rule with ``line_breaks`` as a JSON-schema ``pattern``."""
_LINE_BREAK = re.compile("\r\n?")
_DROPPED = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f]")
"""Every control character but a tab and a line feed."""


def check_plain_text(text: str, *, line_breaks: bool = False) -> str:
    """``text`` unchanged, or :class:`ValueError` naming its first control character.

    With ``line_breaks``, CR and LF are allowed (and no other control character).
    """
    found = (_CONTROL_BUT_LINE_BREAK if line_breaks else _CONTROL).search(text)
    if found is not None:
        kinds = "tabs, NUL, …" if line_breaks else "line breaks, tabs, NUL, …"
        msg = (
            f"control characters ({kinds}) are not allowed: "
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
