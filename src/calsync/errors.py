"""Every error calsync raises on purpose, in one tree.

::

    CalsyncError
    ├── ConfigError                 a setting is missing, unknown or invalid
    ├── FeedError                   a feed could not be fetched or read
    │   ├── FetchError              the fetch failed (nothing was parsed)
    │   │   ├── FeedUnreachable     DNS, connection, TLS, timeout       (retryable)
    │   │   ├── FeedBlocked         the SSRF guard refused the address
    │   │   ├── FeedHttpError       an HTTP status other than 200/304   (5xx retryable)
    │   │   │   ├── FeedRateLimited 429 or 503, maybe with Retry-After  (retryable)
    │   │   │   └── FeedGone        404 or 410
    │   │   └── FeedTooLarge        body, redirect or time cap exceeded     (retryable)
    │   ├── InvalidFeed             the body is not a readable iCalendar feed (retryable)
    │   └── ParserFailed            the parser process died                 (retryable)
    ├── StoreError                  the database refused or is unreachable
    │   └── NotFound                no such product, calendar or booking            404
    └── ApiError                    the REST API refused a request (status, code, details)
        ├── BadRequest              malformed or invalid input                      400
        │   ├── FilterRequired      PATCH or DELETE without a filter                400
        │   ├── QueryParseError     a query string it cannot parse       PGRST100   400
        │   ├── InvalidBody         a body that is no JSON object/array  PGRST102   400
        │   ├── InvalidPreferences  Prefer refused with handling=strict  PGRST122   400
        │   ├── FeatureNotSupported a PostgREST feature calsync lacks    PGRST127   400
        │   ├── MaxAffectedExceeded more rows than Prefer: max-affected  PGRST124   400
        │   ├── UnknownColumn       a filter, select or order column     42703      400
        │   ├── UnknownBodyColumn   a body or columns= name              PGRST204   400
        │   ├── InvalidConflictTarget an on_conflict that is no unique key 42P10    400
        │   └── InvalidValue        a filter value not of its column's type 22P02   400
        ├── Unauthorized            missing, unknown or revoked API key             401
        ├── MethodNotAllowed        a write to a read-only resource                 405
        │   └── UnsupportedMethod   a method no route takes (PUT…)      PGRST117   405
        ├── NotAcceptable           an Accept the API cannot serve       PGRST107   406
        │   ├── UnacceptableSchema  Accept-Profile other than public     PGRST106   406
        │   └── NotSingular         one object asked, 0 or 2+ rows       PGRST116   406
        ├── Conflict                overlap, self-link or cycle                     409
        │   ├── ImportedBooking     an imported booking changes only through its feed
        │   └── UniqueViolation     a duplicate (a booking's reference)  23505      409
        ├── PayloadTooLarge         a body or a write over api.max_* limits          413
        ├── RangeNotSatisfiable     a Range or offset beyond the rows    PGRST103   416
        └── TooManyRequests         too many failed logins: wait retry_after        429

Errors carry their context as keyword-only attributes and build their own
message. This module imports nothing of calsync, so every layer can raise its
errors: a :class:`FetchError`'s ``url`` is therefore redacted by whoever raises
it, once, where it is raised (the fetch layer passes
:func:`calsync.redact.redact_url` of the URL), and is shown as given.
``retryable`` tells the scheduler whether another attempt may succeed without
anyone changing anything: a failure that is not retryable (a 404, a 403, an
address the guard refuses) waits the longest backoff at once.
An :class:`ApiError` carries its HTTP ``status`` and ``code`` as class attributes,
and ``details`` (JSON) and ``headers`` for the answer as instance attributes. Where
PostgREST has a code for the case (``PGRST116``, or the PostgreSQL code it passes
on, like ``23505``), the error uses it, so PostgREST clients recognise it; the
message stays calsync's own.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CalsyncError(Exception):
    """The root of every error calsync raises on purpose."""

    retryable: ClassVar[bool] = False


class ConfigError(CalsyncError):
    """A setting is missing, unknown or has an invalid value."""


class FeedError(CalsyncError):
    """A feed could not be fetched or read; no booking was changed."""


class FetchError(FeedError):
    """Fetching a feed failed before anything could be parsed."""

    def __init__(self, *, url: str, reason: str) -> None:
        self.url = url
        """The feed's URL as it may be shown: redacted by whoever raised the error."""
        self.reason = reason
        super().__init__(f"{self.url}: {reason}")


class FeedUnreachable(FetchError):
    """DNS, connection, TLS or timeout failure."""

    retryable = True


class FeedBlocked(FetchError):
    """The SSRF guard refused to connect to the feed's address."""


class FeedTooLarge(FetchError):
    """The body, the number of redirects or the total time exceeded its cap."""

    retryable = True


class FeedHttpError(FetchError):
    """The server answered with an HTTP status other than 200 or 304."""

    def __init__(self, *, url: str, status: int, reason: str = "") -> None:
        self.status = status
        detail = f"HTTP {status}" + (f" ({reason})" if reason else "")
        super().__init__(url=url, reason=detail)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """Server errors may pass; client errors need someone to fix the URL."""
        return self.status >= 500  # noqa: PLR2004


class FeedRateLimited(FeedHttpError):
    """429 Too Many Requests or 503 Service Unavailable, maybe with Retry-After."""

    def __init__(self, *, url: str, status: int, retry_after_seconds: float | None) -> None:
        self.retry_after_seconds = retry_after_seconds
        reason = f"retry after {retry_after_seconds:g} s" if retry_after_seconds is not None else ""
        super().__init__(url=url, status=status, reason=reason)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """A rate limit always passes."""
        return True


class FeedGone(FeedHttpError):
    """404 Not Found or 410 Gone: the channel no longer publishes this calendar."""


class InvalidFeed(FeedError):
    """The body is not a readable iCalendar feed.

    Retryable: a channel's maintenance page or a cut-off body passes by itself.
    """

    retryable = True

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"not a valid iCalendar feed: {reason}")

    def __reduce__(self) -> tuple[type[InvalidFeed], tuple[str]]:
        """Pickle by reason: parse errors cross from the parser processes."""
        return (InvalidFeed, (self.reason,))


class ParserFailed(FeedError):
    """The process parsing the feed died (out of memory, killed); the pool was renewed."""

    retryable = True


class StoreError(CalsyncError):
    """The database refused an operation or cannot be reached."""

    retryable = True


class NotFound(StoreError):
    """No such product, external calendar or booking."""

    retryable = False

    def __init__(self, *, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} with id {ident}")


class ApiError(CalsyncError):
    """The REST API refused a request: ``status`` and JSON ``{code, message, details}``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.headers: dict[str, str] = headers or {}
        super().__init__(message)


class BadRequest(ApiError):
    """Malformed or invalid input: a body, a field, a filter, a header."""


class FilterRequired(BadRequest):
    """PATCH or DELETE without a filter, which would change or delete every row."""

    code = "filter_required"


class QueryParseError(BadRequest):
    """A query parameter or header that cannot be parsed: an operator, an order, a limit."""

    code = "PGRST100"


class InvalidBody(BadRequest):
    """A request body that is not JSON, or not an object or an array of objects."""

    code = "PGRST102"


class InvalidPreferences(BadRequest):
    """A ``Prefer`` header calsync cannot honour, sent with ``handling=strict``."""

    code = "PGRST122"


class FeatureNotSupported(BadRequest):
    """A PostgREST feature calsync does not have (full-text search, embedding, PUT)."""

    code = "PGRST127"


class MaxAffectedExceeded(BadRequest):
    """A PATCH or DELETE that matches more rows than ``Prefer: max-affected`` (strict)."""

    code = "PGRST124"


class UnknownColumn(BadRequest):
    """A filter, ``select`` or ``order`` names a column the resource does not have."""

    code = "42703"


class UnknownBodyColumn(BadRequest):
    """A body or ``columns=`` names a field the resource does not have."""

    code = "PGRST204"


class InvalidConflictTarget(BadRequest):
    """An upsert's ``on_conflict`` that names no unique key of the resource."""

    code = "42P10"


class InvalidValue(BadRequest):
    """A filter's value that is not of its column's type (a word for an integer)."""

    code = "22P02"


class Unauthorized(ApiError):
    """No API key, an unknown one or a revoked one."""

    status = 401
    code = "unauthorized"


class MethodNotAllowed(ApiError):
    """A write to a read-only resource."""

    status = 405
    code = "method_not_allowed"


class UnsupportedMethod(MethodNotAllowed):
    """A method no route of the path takes (``PUT``, ``TRACE``…)."""

    code = "PGRST117"


class NotAcceptable(ApiError):
    """An ``Accept`` header naming no media type the API can answer with."""

    status = 406
    code = "PGRST107"


class UnacceptableSchema(NotAcceptable):
    """An ``Accept-Profile`` or ``Content-Profile`` other than ``public``, the only schema."""

    code = "PGRST106"


class NotSingular(NotAcceptable):
    """One object was asked for (``application/vnd.pgrst.object+json``) but 0 or 2+ rows match."""

    code = "PGRST116"


class Conflict(ApiError):
    """The change conflicts with what is stored: an overlap, a duplicate, a self-link, a cycle."""

    status = 409
    code = "conflict"


class ImportedBooking(Conflict):
    """An imported booking changes only through its external calendar's feed."""

    code = "imported_booking"


class UniqueViolation(Conflict):
    """A value that must be unique is taken: a booking's ``reference`` within its product."""

    code = "23505"


class PayloadTooLarge(ApiError):
    """A request body larger than ``api.max_body_bytes``, or more rows than a write may make."""

    status = 413
    code = "payload_too_large"


class RangeNotSatisfiable(ApiError):
    """A ``Range`` header or an ``offset`` that starts beyond the matching rows."""

    status = 416
    code = "PGRST103"


class TooManyRequests(ApiError):
    """Too many failed logins from one address: try again after ``retry_after`` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            message,
            details={"retry_after_seconds": retry_after_seconds},
            headers={"Retry-After": str(retry_after_seconds)},
        )
