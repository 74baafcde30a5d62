"""The rules of the fields calsync writes, each said once: its check and its JSON schema.

A check takes the field's name (as the API names it) and a value of the right
Python type, and returns the value or raises :class:`~calsync.errors.BadRequest`
whose message starts with the field's name and whose ``details`` name it: the
API answers it as a 400, the CLI prints it and exits 2. The same rule gives the
JSON schema the OpenAPI document publishes, so the two cannot disagree.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from calsync.channels import feed_host, registrable_domain
from calsync.core.feed_url import FEED_SCHEMES, feed_url_problem
from calsync.core.text import LINES_PATTERN, PLAIN_TEXT_PATTERN, check_plain_text
from calsync.core.zones import check_timezone
from calsync.errors import BadRequest, Conflict
from calsync.redact import redact_url
from calsync.store.models import INT_MAX

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Iterator


def refuse(field: str, problem: str, **details: object) -> BadRequest:
    """The 400 of a field: ``field: problem``, with ``details.field``."""
    return BadRequest(f"{field}: {problem}", details={"field": field, **details})


@contextmanager
def at_index(index: int | None) -> Iterator[None]:
    """An error about the item at ``index`` of an array names it: ``[2] ends_at: …``.

    A 400 says it in ``details.index``, a 409 in ``details.item`` (with the
    conflicting bookings it already lists). Without an index (one object, or the
    CLI) the errors pass unchanged.
    """
    if index is None:
        yield
        return
    try:
        yield
    except (BadRequest, Conflict) as exc:
        key = "index" if isinstance(exc, BadRequest) else "item"
        if key in exc.details:
            raise
        details = {**exc.details, key: index}
        raise type(exc)(f"[{index}] {exc.message}", details=details, headers=exc.headers) from exc


@dataclass(frozen=True, slots=True)
class Text:
    """A text field: its length, whether it must be plain text, and whether lines may break."""

    min_length: int = 0
    max_length: int | None = None
    plain: bool = False
    line_breaks: bool = False
    """With ``plain``: CR and LF are allowed (no other control character)."""

    def check(self, field: str, value: str) -> str:
        """``value``, or a 400: control characters first, then the length."""
        if self.plain:
            try:
                check_plain_text(value, line_breaks=self.line_breaks)
            except ValueError as exc:
                raise refuse(field, str(exc)) from exc
        low, high = self.min_length, self.max_length
        if len(value) < low or (high is not None and len(value) > high):
            expected = f"{low} to {high} characters" if high is not None else f"at least {low}"
            raise refuse(field, f"expected {expected}")
        return value

    def schema(self) -> dict[str, Any]:
        """The JSON-schema constraints of the rule."""
        schema: dict[str, Any] = {"minLength": self.min_length} if self.min_length else {}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.plain:
            schema["pattern"] = LINES_PATTERN if self.line_breaks else PLAIN_TEXT_PATTERN
        return schema


@dataclass(frozen=True, slots=True)
class Integer:
    """An integer field from ``minimum`` to ``maximum`` (at most a 32-bit column's)."""

    minimum: int = -INT_MAX - 1
    maximum: int = INT_MAX

    def check(self, field: str, value: int) -> int:
        """``value``, or a 400 naming the range."""
        if not self.minimum <= value <= self.maximum:
            raise self._refused(field)
        return value

    def parse(self, field: str, text: str) -> int:
        """A form's text as the integer, or the same 400 as :meth:`check`."""
        try:
            value = int(text.strip())
        except ValueError:
            raise self._refused(field) from None
        return self.check(field, value)

    def _refused(self, field: str) -> BadRequest:
        return refuse(field, f"expected an integer from {self.minimum} to {self.maximum}")

    def schema(self) -> dict[str, Any]:
        """The JSON-schema constraints of the rule."""
        return {"minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True, slots=True)
class OneOf:
    """A field whose value is one of a few words."""

    options: tuple[str, ...]

    def check(self, field: str, value: str) -> str:
        """``value``, or a 400 listing the options."""
        if value not in self.options:
            raise refuse(field, "expected one of " + ", ".join(self.options))
        return value

    def schema(self) -> dict[str, Any]:
        """The JSON-schema constraints of the rule."""
        return {"enum": list(self.options)}


@dataclass(frozen=True, slots=True)
class Timezone:
    """An IANA timezone name (:mod:`calsync.core.zones`)."""

    def check(self, field: str, value: str) -> str:
        """``value``, or a 400 saying it is no IANA timezone."""
        try:
            return check_timezone(value)
        except ValueError as exc:
            raise refuse(field, str(exc)) from exc

    def schema(self) -> dict[str, Any]:
        """The JSON-schema constraints of the rule."""
        return {"maxLength": 64}


_URL_PATTERN = (
    "^("
    + "|".join("".join(f"[{c.upper()}{c}]" for c in scheme) for scheme in FEED_SCHEMES)
    + ")://"
)


@dataclass(frozen=True, slots=True)
class FeedUrl:
    """A URL calsync can fetch (:func:`~calsync.core.feed_url.feed_url_problem`) of some schemes."""

    max_length: int = 2048
    schemes: tuple[str, ...] = FEED_SCHEMES
    what: str = "feed URL"

    def check(self, field: str, value: str) -> str:
        """``value``, or a 400 with the reason; the URL in it is redacted."""
        if len(value) > self.max_length:
            raise refuse(field, f"expected 0 to {self.max_length} characters")
        problem = feed_url_problem(value, schemes=self.schemes, what=self.what)
        if problem is not None:
            raise refuse(field, f"not a {self.what}: {problem} ({redact_url(value)[:200]})")
        return value

    def schema(self) -> dict[str, Any]:
        """The JSON-schema constraints of the rule."""
        return {"maxLength": self.max_length, "pattern": _URL_PATTERN}


def channel_name(url: str) -> str:
    """The name a calendar gets when none is given: its channel (``tld``), else its host."""
    return registrable_domain(url) or feed_host(url) or "calendar"


def check_exists(
    field: str, value: uuid.UUID, kind: str, find: Callable[[uuid.UUID], object | None]
) -> None:
    """A 400 naming ``field`` when ``find`` finds no ``kind`` with the id ``value``."""
    if find(value) is None:
        raise refuse(field, f"no {kind} with id {value}", value=str(value))


NAME = Text(min_length=1, max_length=200, plain=True)
"""The name of a product or calendar: one line of plain text, 1 to 200 characters."""
SUMMARY = Text(plain=True)
"""A direct booking's summary: one line of plain text."""
REFERENCE = Text(min_length=1, max_length=200, plain=True)
"""A booking platform's booking number: one line of 1 to 200 characters (or none: null)."""
CUSTOMER = Text(max_length=200, plain=True)
"""Who booked: one line of plain text."""
NOTES = Text(max_length=10_000, plain=True, line_breaks=True)
"""An internal note: plain text whose lines may break (CR, LF); never exported."""
UNITS = Integer(minimum=1)
"""A capacity, or the units a booking or an imported block takes."""
TIMEZONE = Timezone()
FEED_URL = FeedUrl()
WEBHOOK_URL = FeedUrl(schemes=("http", "https"), what="webhook URL")
"""Where events are sent: checked as feed URLs are, ``http`` or ``https`` only."""
TIME_OFFSET_LIMIT = 48
TIME_OFFSET = Integer(minimum=-TIME_OFFSET_LIMIT, maximum=TIME_OFFSET_LIMIT)
"""``time_offset`` is hours, from -48 to 48: enough for any channel's timezone mistake."""
