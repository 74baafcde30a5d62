"""The fetcher: a conditional GET of a feed, redirects, caps and the errors it raises; a POST.

:meth:`FeedFetcher.post` sends a webhook through the same guard, pool and caps.

Redirects are followed here, not by httpx: each hop is checked again by the
guard (:func:`~calsync.fetch.guard.http_url`) and counted; its connection passes
the same guarded backend. The decoded body is limited to ``max_bytes``
(:mod:`calsync.fetch.body`), redirects to ``max_redirects``, and the whole fetch,
redirects and body included, to ``timeout_seconds``. Cookies are neither stored
nor sent: feeds of different accounts share hosts. Credentials in a feed URL
(``https://user:pass@host/feed.ics``) are sent as HTTP Basic auth to that URL's
origin (scheme, host, port) only, never to the origin a redirect leads to.
Every httpx and httpcore exception is translated once, where the request is
made, into a :class:`~calsync.errors.FetchError`, whose URL is redacted
(:func:`calsync.redact.redact_url`) there; nothing else escapes
:meth:`FeedFetcher.fetch`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Self, TypeVar

import httpx

from calsync import __version__
from calsync.errors import (
    FeedBlocked,
    FeedGone,
    FeedHttpError,
    FeedRateLimited,
    FeedTooLarge,
    FeedUnreachable,
    FetchError,
)
from calsync.fetch.body import read_body
from calsync.fetch.guard import (
    AddressRefusedError,
    GuardedBackend,
    UnresolvableError,
    http_url,
    system_resolver,
)
from calsync.fetch.pool import PooledTransport
from calsync.redact import redact_url

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from types import TracebackType

    from calsync.config import FetchSettings

_E = TypeVar("_E", bound=BaseException)

DEFAULT_USER_AGENT = f"calsync/{__version__}"
DEFAULT_MAX_CONNECTIONS_PER_ORIGIN = 100
MAX_RETRY_AFTER_SECONDS = 365 * 24 * 3600.0
"""The longest ``Retry-After`` read from a server; longer ones are read as this."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RATE_LIMIT_STATUSES = frozenset({429, 503})
_GONE_STATUSES = frozenset({404, 410})
_NOT_MODIFIED = 304


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """A feed as the server sent it: 200 with a body, or 304 when unchanged."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """The answer's headers, as sent (kept with the body for ``calsync replay``)."""


class FeedFetcher:
    """One shared transport and pool; use as `async with FeedFetcher(settings) as fetcher:`.

    Requests go straight to the transport, without an ``httpx.AsyncClient``:
    redirects are followed here and cookies are never wanted, so the client
    would only add per-request work (header and cookie merging, a second URL
    parse, cookie extraction), about a quarter of the CPU of a fetch. At most
    ``max_connections_per_origin`` requests run at once per origin; more wait,
    within their fetch's time cap.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        resolver: Callable[[str, int], Awaitable[list[str]]] | None = None,
        max_connections_per_origin: int = DEFAULT_MAX_CONNECTIONS_PER_ORIGIN,
    ) -> None:
        self._settings = settings
        backend = GuardedBackend(
            resolver=resolver or system_resolver,
            allow_private_networks=settings.allow_private_networks,
            allow_hosts=settings.allow_hosts,
        )
        self._transport = PooledTransport(
            backend, max_connections_per_origin=max_connections_per_origin
        )
        self._headers = {
            "User-Agent": user_agent,
            "Accept": "text/calendar, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        self._extensions = {"timeout": timeout.as_dict()}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool and every connection in it."""
        await self._transport.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchedFeed:
        """GET a feed, following redirects, within every cap; raise a FetchError on failure.

        With ``etag`` or ``last_modified`` the request is conditional and an
        unchanged feed comes back as ``FetchedFeed(status=304, body=None)``.
        """
        limit = self._settings.timeout_seconds
        try:
            async with asyncio.timeout(limit):
                return await self._follow(url, etag, last_modified)
        except TimeoutError as exc:
            reason = f"took longer than {limit:g} s"
            raise FeedTooLarge(url=redact_url(url), reason=reason) from exc

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body`` to ``url`` within the time cap and the guard; the answer's status.

        Redirects are not followed (a 3xx is the answer), credentials in the URL
        are sent as Basic auth, the answer's body is not read. A failure to get
        an answer raises a :class:`~calsync.errors.FetchError`, as a fetch does.
        """
        limit = self._settings.timeout_seconds
        target = http_url(url)
        shown = redact_url(url)
        sent = {"User-Agent": self._headers["User-Agent"], **headers}
        credentials = _Credentials.of(target)
        if credentials is not None:
            sent["Authorization"] = credentials.header
        request = httpx.Request(
            "POST", _without_userinfo(target), headers=sent, content=body,
            extensions=self._extensions,
        )  # fmt: skip
        try:
            async with asyncio.timeout(limit):
                response = await self._transport.handle_async_request(request)
                await response.aclose()
        except TimeoutError as exc:
            raise FeedTooLarge(url=shown, reason=f"took longer than {limit:g} s") from exc
        except AddressRefusedError as exc:
            raise FeedBlocked(url=shown, reason=exc.reason) from exc
        except UnresolvableError as exc:
            raise FeedUnreachable(url=shown, reason=exc.reason) from exc
        except httpx.HTTPError as exc:
            raise _translate(exc, shown, self._settings) from exc
        return response.status_code

    async def _follow(self, url: str, etag: str | None, last_modified: str | None) -> FetchedFeed:
        conditional: dict[str, str] = {}
        if etag is not None:
            conditional["If-None-Match"] = etag
        if last_modified is not None:
            conditional["If-Modified-Since"] = last_modified
        current = http_url(url)
        credentials = _Credentials.of(current)
        for _ in range(self._settings.max_redirects + 1):
            authorization = credentials.header_for(current) if credentials else None
            outcome = await self._get(_without_userinfo(current), conditional, authorization)
            if isinstance(outcome, FetchedFeed):
                return outcome
            current = http_url(outcome, base=current)
        reason = f"more than {self._settings.max_redirects} redirects"
        raise FeedTooLarge(url=redact_url(url), reason=reason)

    async def _get(
        self, target: httpx.URL, conditional: dict[str, str], authorization: str | None
    ) -> FetchedFeed | str:
        """One request: the feed, or the Location to go to next."""
        url = str(target)
        shown = redact_url(url)
        headers = {**self._headers, **conditional}
        if authorization is not None:
            headers["Authorization"] = authorization
        request = httpx.Request("GET", target, headers=headers, extensions=self._extensions)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                return await self._read(url, shown, response, conditional=conditional)
            finally:
                await response.aclose()
        except AddressRefusedError as exc:
            raise FeedBlocked(url=shown, reason=exc.reason) from exc
        except UnresolvableError as exc:
            raise FeedUnreachable(url=shown, reason=exc.reason) from exc
        except httpx.HTTPError as exc:
            raise _translate(exc, shown, self._settings) from exc

    async def _read(
        self, url: str, shown: str, response: httpx.Response, *, conditional: dict[str, str]
    ) -> FetchedFeed | str:
        """The feed (``url``), or the Location to go to; errors name ``shown``, the URL redacted."""
        status = response.status_code
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if status in _REDIRECT_STATUSES:
            location = _header(response, "Location")
            if not location:
                raise FeedHttpError(url=shown, status=status, reason="redirect without Location")
            return location
        if status == _NOT_MODIFIED and conditional:
            return FetchedFeed(
                status=status,
                body=None,
                etag=etag or conditional.get("If-None-Match"),
                last_modified=last_modified or conditional.get("If-Modified-Since"),
                url=url,
            )
        if not response.is_success:
            raise _status_error(shown, response)
        body = await read_body(shown, response, self._settings.max_bytes)
        return FetchedFeed(
            status=status, body=body, etag=etag, last_modified=last_modified, url=url,
            headers=tuple(response.headers.items()),
        )  # fmt: skip


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS[url.scheme])


@dataclass(frozen=True, slots=True)
class _Credentials:
    """``user:password@`` of a feed URL, sent as HTTP Basic auth to that URL's origin only."""

    origin: tuple[str, str, int]
    header: str = field(repr=False)

    @classmethod
    def of(cls, url: httpx.URL) -> _Credentials | None:
        """The credentials in ``url``, or None if it has no user info."""
        if not url.userinfo:
            return None
        pair = f"{url.username}:{url.password}".encode()
        return cls(_origin(url), f"Basic {base64.b64encode(pair).decode('ascii')}")

    def header_for(self, url: httpx.URL) -> str | None:
        """The Authorization header for ``url``: only on the same scheme, host and port."""
        return self.header if _origin(url) == self.origin else None


def _without_userinfo(url: httpx.URL) -> httpx.URL:
    """``url`` as it is requested: credentials go in a header, never in the request line."""
    return url.copy_with(userinfo=b"") if url.userinfo else url


def _status_error(url: str, response: httpx.Response) -> FeedHttpError:
    status = response.status_code
    if status in _RATE_LIMIT_STATUSES:
        retry_after = _retry_after_seconds(_header(response, "Retry-After"))
        return FeedRateLimited(url=url, status=status, retry_after_seconds=retry_after)
    if status in _GONE_STATUSES:
        return FeedGone(url=url, status=status)
    return FeedHttpError(url=url, status=status)


def _header(response: httpx.Response, name: str) -> str | None:
    value: str | None = response.headers.get(name)
    return value


def _retry_after_seconds(value: str | None) -> float | None:
    """Read Retry-After as seconds or as an HTTP date; None when absent or unreadable.

    At most a year (:data:`MAX_RETRY_AFTER_SECONDS`): a server asking for more,
    or for a number of seconds no ``timedelta`` can hold, is read as asking a year.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER_SECONDS)


def _translate(exc: httpx.HTTPError, url: str, settings: FetchSettings) -> FetchError:
    """The one place where an httpx error becomes a FetchError."""
    if isinstance(exc, httpx.ConnectTimeout):
        reason = f"connect timed out after {settings.connect_timeout_seconds:g} s"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"no data from the server for {settings.timeout_seconds:g} s"
    elif (tls := _find_cause(exc, ssl.SSLError)) is not None:
        reason = f"TLS error: {_describe_tls(tls)}"
    elif isinstance(exc, httpx.ConnectError):
        reason = f"cannot connect: {_describe_os_error(exc)}"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = f"the server broke the HTTP protocol: {exc}"
    else:
        reason = f"connection failed: {_describe_os_error(exc)}"
    return FeedUnreachable(url=url, reason=reason)


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` among ``exc``, its causes and grouped exceptions."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _describe_tls(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    return exc.reason or str(exc)


def _describe_os_error(exc: BaseException) -> str:
    """The OS's words for the innermost socket error under ``exc`` ("connection refused")."""
    # anyio wraps the real errors in OSError("All connection attempts failed").
    errors: list[OSError] = []
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, OSError):
            errors.append(current)
        current = current.__cause__ or current.__context__
    for error in reversed(errors):
        if error.errno is not None:
            return os.strerror(error.errno).lower()
    return str(exc) or type(exc).__name__
