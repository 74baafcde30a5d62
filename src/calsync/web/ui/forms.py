"""Reading the interface's forms: their fields as text, values the services take, errors by field.

A form is read as text (what the user typed, to show again when it is refused).
Its values are checked by the services' rules (:mod:`calsync.services.fields`),
so a refusal is the API's 400 with the same message; :func:`errors_of` puts
that message next to the field it names (``""``: the form as a whole).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from calsync.services.fields import refuse
from calsync.web.ui.security import CSRF_FIELD

if TYPE_CHECKING:
    from fastapi import Request

    from calsync.errors import BadRequest


async def fields(request: Request) -> dict[str, str]:
    """The form's text fields (not its CSRF token), trimmed of surrounding white space."""
    form = await request.form()
    return {
        name: value.strip()
        for name, value in form.items()
        if isinstance(value, str) and name != CSRF_FIELD
    }


def errors_of(exc: BadRequest) -> dict[str, str]:
    """A refusal's message by the field it names, ``""`` when it names none."""
    field = exc.details.get("field")
    return {field if isinstance(field, str) else "": exc.message}


def day(field: str, text: str) -> date:
    """A date field (``2026-12-01``, what ``<input type=date>`` sends), or a 400 naming it."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise refuse(field, f"expected a date (YYYY-MM-DD), got {text[:40]!r}") from None
