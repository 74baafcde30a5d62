"""Fetch feeds over HTTP: caps, conditional GET, errors, and the SSRF guard.

A feed URL is typed in by a user, so fetching it must not become a way to reach
the daemon's own network (DESIGN §8). The guard works at the socket, not at the
URL:

* Only ``http``, ``https`` and ``webcal`` (or ``webcals``; both fetched as
  ``https``) are fetched; any other scheme raises
  :class:`~calsync.errors.FeedBlocked`, which is not retryable.
* Every TCP connection goes through :class:`_GuardedBackend`: it resolves the
  host **once**, refuses the connection if **any** resolved address is not
  public (:func:`check_address`), then connects to exactly those checked
  addresses. There is no second DNS lookup that a rebinding name could answer
  differently; TLS still verifies and sends SNI for the original host name.
* Hosts that are IP literals in any spelling a resolver accepts (``127.1``,
  ``2130706433``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) are read by
  :func:`parse_ip_literal` and checked as the address they mean.
* IPv6 addresses that embed an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo)
  are judged by the IPv4 addresses they embed.
* Redirects are followed here, not by httpx: each hop is checked again for its
  scheme and counted; its connection passes the same guard.
* ``allow_private_networks`` lifts the guard; ``allow_hosts`` exempts exact host
  names (case-insensitive) and nothing else, so a redirect from an allowed host
  to another private address is still refused.

Connections are kept alive and reused per origin by :class:`_ConnectionPool`,
which finds a free one in constant time however many are open (httpcore's own
pool rescans them all for every request, DESIGN §11) and opens every new one
through the guarded backend.

Caps: the decoded body is limited to ``max_bytes`` (gzip and deflate are
decoded here with a bounded decompressor, so a gzip bomb never inflates past
the cap), redirects to ``max_redirects``, and the whole fetch, redirects and
body included, to ``timeout_seconds``. Cookies are neither stored nor sent:
feeds of different accounts share hosts. Credentials in a feed URL
(``https://user:pass@host/feed.ics``) are sent as HTTP Basic auth to that URL's
origin (scheme, host, port) only, never to the origin a redirect leads to; the
URL requested, and so every error, carries no user info. Every httpx and httpcore exception is
translated once, where the request is made, into a
:class:`~calsync.errors.FetchError`; nothing else escapes
:meth:`FeedFetcher.fetch`.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Self, TypeVar

import httpcore
import httpx

from calsync import __version__
from calsync.core.feed_url import host_problem
from calsync.errors import (
    FeedBlocked,
    FeedGone,
    FeedHttpError,
    FeedRateLimited,
    FeedTooLarge,
    FeedUnreachable,
    FetchError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
    from types import TracebackType

    from calsync.config import FetchSettings

    Resolver = Callable[[str, int], Awaitable[list[str]]]
    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_E = TypeVar("_E", bound=BaseException)

DEFAULT_USER_AGENT = f"calsync/{__version__}"
DEFAULT_MAX_CONNECTIONS_PER_ORIGIN = 100
MAX_RETRY_AFTER_SECONDS = 365 * 24 * 3600.0
"""The longest ``Retry-After`` read from a server; longer ones are read as this."""
KEEPALIVE_EXPIRY_SECONDS = 5.0
"""How long an idle connection is kept for reuse (httpx's default)."""

_SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RATE_LIMIT_STATUSES = frozenset({429, 503})
_GONE_STATUSES = frozenset({404, 410})
_NOT_MODIFIED = 304

_IPV4_PRIVATE = tuple(
    ipaddress.IPv4Network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_IPV4_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_IPV4_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_INET_ATON_PART = re.compile(r"0x[0-9a-f]+|[0-9]+")


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """A feed as the server sent it: 200 with a body, or 304 when unchanged."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    url: str


def parse_ip_literal(host: str) -> IPAddress | None:
    """Read a host that is an IP literal in any spelling a resolver accepts, else None.

    Besides the usual forms this reads what ``inet_aton`` reads: one to four
    dot-separated parts, each decimal, octal (``0177``) or hex (``0x7f``), the
    last one filling the remaining bytes (``127.1``, ``2130706433``).
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _parse_inet_aton(text)


def _parse_inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.lower().split(".")
    if len(parts) > 4 or not all(_INET_ATON_PART.fullmatch(part) for part in parts):  # noqa: PLR2004
        return None
    try:
        numbers = [_inet_aton_number(part) for part in parts]
    except ValueError:  # 08, 09: a leading zero means octal
        return None
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 1 << 8 * (4 - len(leading)):  # noqa: PLR2004
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


def _inet_aton_number(part: str) -> int:
    if part.startswith("0x"):
        return int(part, 16)
    if part.startswith("0"):
        return int(part, 8)
    return int(part)


_IPV4_RULES: tuple[tuple[str, Callable[[ipaddress.IPv4Address], bool]], ...] = (
    ("unspecified", lambda a: a.is_unspecified),
    ("'this network'", lambda a: a in _IPV4_THIS_NETWORK),
    ("loopback", lambda a: a.is_loopback),
    ("private", lambda a: any(a in network for network in _IPV4_PRIVATE)),
    ("link-local", lambda a: a.is_link_local),
    ("shared (CGNAT)", lambda a: a in _IPV4_SHARED),
    ("multicast", lambda a: a.is_multicast),
    ("broadcast", lambda a: a == _IPV4_BROADCAST),
    ("reserved", lambda a: a.is_reserved),
    ("not globally routable", lambda a: not a.is_global),
)
_IPV6_RULES: tuple[tuple[str, Callable[[ipaddress.IPv6Address], bool]], ...] = (
    ("local-use NAT64", lambda a: a in _NAT64_LOCAL),
    ("unspecified", lambda a: a.is_unspecified),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("site-local", lambda a: a.is_site_local),
    ("private (unique local)", lambda a: a in _UNIQUE_LOCAL),
    ("multicast", lambda a: a.is_multicast),
    ("reserved", lambda a: a.is_reserved),
    ("not globally routable", lambda a: not a.is_global),
)


def check_address(ip: str) -> str | None:
    """Return why this IP address may not be fetched (e.g. 'loopback address 127.0.0.1').

    None means the address is public. Anything that is not an IP address is refused.
    """
    address = parse_ip_literal(ip)
    if address is None:
        return f"not an IP address: {ip!r}"
    if isinstance(address, ipaddress.IPv4Address):
        return _check_ipv4(address)
    return _check_ipv6(address)


def _check_ipv4(address: ipaddress.IPv4Address) -> str | None:
    for label, matches in _IPV4_RULES:
        if matches(address):
            return f"{label} address {address}"
    return None


def _check_ipv6(address: ipaddress.IPv6Address) -> str | None:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        for ipv4 in embedded:
            reason = _check_ipv4(ipv4)
            if reason is not None:
                return f"{address} embeds {reason}"
        return None
    for label, matches in _IPV6_RULES:
        if matches(address):
            return f"{label} address {address}"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 addresses an IPv6 address stands for, or None if it embeds none."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client); the client bits are inverted
    return None


async def _system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's ``getaddrinfo``: every address, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _AddressRefusedError(Exception):
    """Raised inside the transport when the guard refuses a host; translated in fetch."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _UnresolvableError(Exception):
    """Raised inside the transport when DNS has no answer; translated in fetch."""

    def __init__(self, host: str, detail: str) -> None:
        self.reason = f"cannot resolve host {host}: {detail}"
        super().__init__(self.reason)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves once, checks every address, and connects to them."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        allow_private_networks: bool,
        allow_hosts: Iterable[str],
    ) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver
        self._guarded = not allow_private_networks
        self._allow_hosts = frozenset(host.lower().strip("[]") for host in allow_hosts)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the checked addresses of ``host`` in turn; the first to answer wins."""
        addresses = await self._resolve(host, port, timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # noqa: S101 - _resolve never returns an empty list
        raise failure

    async def _resolve(self, host: str, port: int, seconds: float | None) -> list[str]:
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                async with asyncio.timeout(seconds):
                    addresses = await self._resolver(host, port)
            except TimeoutError as exc:
                raise _UnresolvableError(host, "DNS lookup timed out") from exc
            except OSError as exc:
                raise _UnresolvableError(host, exc.strerror or str(exc)) from exc
            if not addresses:
                raise _UnresolvableError(host, "no addresses")
        if self._guarded and not self._is_allowed(host, literal):
            for address in addresses:
                reason = check_address(address)
                if reason is not None:
                    where = "" if literal is not None else f"host {host} resolves to "
                    raise _AddressRefusedError(f"blocked: {where}{reason}")
        return addresses

    def _is_allowed(self, host: str, literal: IPAddress | None) -> bool:
        names = {host.lower()} if literal is None else {host.lower(), str(literal)}
        return not self._allow_hosts.isdisjoint(names)

    async def sleep(self, seconds: float) -> None:
        """Sleep as the wrapped backend does."""
        await self._inner.sleep(seconds)


_OriginKey = tuple[bytes, bytes, int]


class _Origin:
    """One origin's connections: the idle ones (most recently used last) and those in use."""

    __slots__ = ("idle", "in_use", "key", "slots", "users")

    def __init__(self, key: _OriginKey, max_connections: int) -> None:
        self.key = key
        self.idle: list[httpcore.AsyncHTTPConnection] = []
        self.in_use: set[httpcore.AsyncHTTPConnection] = set()
        self.slots = asyncio.Semaphore(max_connections)
        self.users = 0
        """Requests from their arrival until they give their connection back, waiting ones too."""


class _ConnectionPool(httpcore.AsyncConnectionPool):
    """Keep-alive connections kept per origin, each found in constant time.

    httpcore's own pool rescans every connection, and polls every idle socket,
    each time a request starts or ends: at 50 connections that is ~5 ms of CPU
    per request (encode/httpx#3215). This pool keeps a stack of idle connections
    per origin (scheme, host, port) and takes the most recently used one that
    has neither expired nor been closed by the server. At most
    ``max_connections_per_origin`` are in use per origin; more requests wait.
    An origin is forgotten as soon as it has neither requests nor idle
    connections; idle connections past ``keepalive_expiry`` are closed, at most
    once per ``keepalive_expiry``, so many hosts fetched once leak nothing.
    Every connection is opened through ``network_backend``. The base class is
    only the interface httpx's transport talks to (``handle_async_request``
    and ``aclose``); none of its own pooling is used.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore.AsyncNetworkBackend,
        max_connections_per_origin: int,
        keepalive_expiry: float,
    ) -> None:
        super().__init__(
            ssl_context=ssl_context,
            keepalive_expiry=keepalive_expiry,
            network_backend=network_backend,
        )
        self._tls = ssl_context
        self._backend = network_backend
        self._max_per_origin = max_connections_per_origin
        self._expiry = keepalive_expiry
        self._origins: dict[_OriginKey, _Origin] = {}
        self._sweep_at = time.monotonic() + keepalive_expiry
        self._closed = False

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle or a new connection to its origin."""
        await self._sweep()
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        entry = self._origins.get(key)
        if entry is None:
            entry = self._origins[key] = _Origin(key, self._max_per_origin)
        entry.users += 1
        try:
            await entry.slots.acquire()
        except BaseException:
            self._leave(entry)
            raise
        connection: httpcore.AsyncHTTPConnection | None = None
        try:
            connection = await self._checkout(entry, origin)
            response = await connection.handle_async_request(request)
        except BaseException:
            await self._release(entry, connection, reuse=False)
            raise
        assert isinstance(response.stream, AsyncIterable)  # noqa: S101 - an async connection's
        return httpcore.Response(
            status=response.status,
            headers=response.headers,
            content=_PooledStream(response.stream, lambda: self._release(entry, connection)),
            extensions=response.extensions,
        )

    async def _checkout(
        self, entry: _Origin, origin: httpcore.Origin
    ) -> httpcore.AsyncHTTPConnection:
        """The most recently used live idle connection, or a new one (it connects when used)."""
        while entry.idle:
            connection = entry.idle.pop()
            if not connection.has_expired():
                break
            await connection.aclose()
        else:
            connection = httpcore.AsyncHTTPConnection(
                origin,
                ssl_context=self._tls,
                keepalive_expiry=self._expiry,
                network_backend=self._backend,
            )
        entry.in_use.add(connection)
        return connection

    async def _release(
        self,
        entry: _Origin,
        connection: httpcore.AsyncHTTPConnection | None,
        *,
        reuse: bool = True,
    ) -> None:
        """Give the slot back; keep the connection for reuse if it is idle, else close it."""
        entry.slots.release()
        keep = reuse and connection is not None and connection.is_idle() and not self._closed
        if connection is not None:
            entry.in_use.discard(connection)
            if keep:
                entry.idle.append(connection)
        self._leave(entry)
        if connection is not None and not keep:
            await connection.aclose()

    def _leave(self, entry: _Origin) -> None:
        """One request is done with ``entry``: forget the origin if nothing is left in it."""
        entry.users -= 1
        if not entry.users and not entry.idle and self._origins.get(entry.key) is entry:
            del self._origins[entry.key]

    async def _sweep(self) -> None:
        """Close expired idle connections and forget emptied origins, once per expiry interval."""
        now = time.monotonic()
        if now < self._sweep_at:
            return
        self._sweep_at = now + self._expiry
        expired: list[httpcore.AsyncHTTPConnection] = []
        for entry in list(self._origins.values()):
            kept: list[httpcore.AsyncHTTPConnection] = []
            for connection in entry.idle:
                (expired if connection.has_expired() else kept).append(connection)
            entry.idle = kept
            if not entry.idle and not entry.users:
                del self._origins[entry.key]
        for connection in expired:
            await connection.aclose()

    async def aclose(self) -> None:
        """Close every connection, idle or in use; released ones are closed from now on."""
        self._closed = True
        entries = list(self._origins.values())
        self._origins.clear()
        for entry in entries:
            for connection in (*entry.idle, *entry.in_use):
                await connection.aclose()


class _PooledStream:
    """A response body that hands its connection back to the pool when closed."""

    def __init__(
        self, stream: AsyncIterable[bytes], release: Callable[[], Awaitable[None]]
    ) -> None:
        self._stream = stream
        self._release = release
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive."""
        try:
            async for chunk in self._stream:
                yield chunk
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the body, then release the connection (even when closing is cancelled)."""
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            await self._release()


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on calsync's pool, which connects through the guarded backend."""

    def __init__(self, backend: _GuardedBackend, *, max_connections_per_origin: int) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = _ConnectionPool(
            ssl_context=ssl_context,
            network_backend=backend,
            max_connections_per_origin=max_connections_per_origin,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        )


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
        backend = _GuardedBackend(
            resolver=resolver or _system_resolver,
            allow_private_networks=settings.allow_private_networks,
            allow_hosts=settings.allow_hosts,
        )
        self._transport = _GuardedTransport(
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
            raise FeedTooLarge(url=url, reason=f"took longer than {limit:g} s") from exc

    async def _follow(self, url: str, etag: str | None, last_modified: str | None) -> FetchedFeed:
        conditional: dict[str, str] = {}
        if etag is not None:
            conditional["If-None-Match"] = etag
        if last_modified is not None:
            conditional["If-Modified-Since"] = last_modified
        current = _http_url(url)
        credentials = _Credentials.of(current)
        for _ in range(self._settings.max_redirects + 1):
            authorization = credentials.header_for(current) if credentials else None
            outcome = await self._get(_without_userinfo(current), conditional, authorization)
            if isinstance(outcome, FetchedFeed):
                return outcome
            current = _http_url(outcome, base=current)
        raise FeedTooLarge(url=url, reason=f"more than {self._settings.max_redirects} redirects")

    async def _get(
        self, target: httpx.URL, conditional: dict[str, str], authorization: str | None
    ) -> FetchedFeed | str:
        """One request: the feed, or the Location to go to next."""
        url = str(target)
        headers = {**self._headers, **conditional}
        if authorization is not None:
            headers["Authorization"] = authorization
        request = httpx.Request("GET", target, headers=headers, extensions=self._extensions)
        try:
            response = await self._transport.handle_async_request(request)
            try:
                return await self._read(url, response, conditional=conditional)
            finally:
                await response.aclose()
        except _AddressRefusedError as exc:
            raise FeedBlocked(url=url, reason=exc.reason) from exc
        except _UnresolvableError as exc:
            raise FeedUnreachable(url=url, reason=exc.reason) from exc
        except httpx.HTTPError as exc:
            raise _translate(exc, url, self._settings) from exc

    async def _read(
        self, url: str, response: httpx.Response, *, conditional: dict[str, str]
    ) -> FetchedFeed | str:
        status = response.status_code
        etag = _header(response, "ETag")
        last_modified = _header(response, "Last-Modified")
        if status in _REDIRECT_STATUSES:
            location = _header(response, "Location")
            if not location:
                raise FeedHttpError(url=url, status=status, reason="redirect without Location")
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
            raise _status_error(url, response)
        body = await _read_body(url, response, self._settings.max_bytes)
        return FetchedFeed(
            status=status, body=body, etag=etag, last_modified=last_modified, url=url
        )


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


def _http_url(url: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """Resolve ``url`` against ``base`` and return it parsed, with a fetchable scheme.

    ``webcal://`` and ``webcals://`` become ``https://``; a scheme other than
    http, https or webcal, or a host no resolver could look up (``0..0``, see
    :func:`~calsync.core.feed_url.host_problem`), raises FeedBlocked.
    """
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FeedBlocked(url=url, reason="not a valid URL") from exc
    scheme = _SCHEMES.get(parsed.scheme)
    if scheme is None:
        shown = parsed.scheme or "(none)"
        raise FeedBlocked(
            url=str(parsed), reason=f"scheme {shown} is not allowed (only http, https, webcal)"
        )
    if not parsed.host:
        raise FeedBlocked(url=str(parsed), reason="URL has no host")
    problem = host_problem(parsed.host)
    if problem is not None:
        raise FeedBlocked(url=str(parsed), reason=problem)
    return parsed if scheme == parsed.scheme else parsed.copy_with(scheme=scheme)


async def _read_body(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FeedTooLarge(
            url=url, reason=f"Content-Length {declared} exceeds the cap of {max_bytes} bytes"
        )
    decoder = _BodyDecoder(url, response.headers.get("Content-Encoding", ""), max_bytes)
    async for chunk in response.aiter_raw():
        decoder.feed(chunk)
    return decoder.finish()


class _BodyDecoder:
    """Decode identity, gzip or deflate bodies without ever holding more than the cap."""

    def __init__(self, url: str, content_encoding: str, max_bytes: int) -> None:
        self._url = url
        self._max_bytes = max_bytes
        self._raw_size = 0
        self._body = bytearray()
        encodings = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        encodings = [e for e in encodings if e != "identity"]
        if len(encodings) > 1 or (encodings and encodings[0] not in {"gzip", "x-gzip", "deflate"}):
            raise FetchError(url=url, reason=f"unsupported Content-Encoding {content_encoding!r}")
        self._deflate = encodings == ["deflate"]
        # 47 = 32 + 15: a gzip or zlib header, detected automatically.
        self._zlib = zlib.decompressobj(47) if encodings else None
        self._started = False

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk; raise FeedTooLarge as soon as a cap is passed."""
        self._raw_size += len(chunk)
        if self._raw_size > self._max_bytes:
            self._too_large()
        if self._zlib is None:
            self._append(chunk)
            return
        try:
            try:
                self._inflate(chunk)
            except zlib.error:
                if not (self._deflate and not self._started):
                    raise
                # Some servers send "deflate" without the zlib header: raw deflate.
                self._zlib = zlib.decompressobj(-15)
                self._inflate(chunk)
        except zlib.error as exc:
            reason = f"corrupt compressed body: {exc}"
            raise FeedUnreachable(url=self._url, reason=reason) from exc
        self._started = True

    def finish(self) -> bytes:
        """Return the decoded body; a compressed stream must have ended."""
        if self._zlib is not None and self._raw_size and not self._zlib.eof:
            raise FeedUnreachable(url=self._url, reason="compressed body ended early")
        return bytes(self._body)

    def _inflate(self, data: bytes) -> None:
        assert self._zlib is not None  # noqa: S101 - only called for compressed bodies
        while data:
            room = self._max_bytes - len(self._body)
            self._append(self._zlib.decompress(data, room + 1))
            if not self._zlib.eof:
                data = self._zlib.unconsumed_tail
            elif self._zlib.unused_data.startswith(b"\x1f\x8b"):  # another gzip member
                data = self._zlib.unused_data
                self._zlib = zlib.decompressobj(47)
            else:
                return  # trailing bytes after the stream are ignored

    def _append(self, data: bytes) -> None:
        if len(self._body) + len(data) > self._max_bytes:
            self._too_large()
        self._body += data

    def _too_large(self) -> None:
        raise FeedTooLarge(url=self._url, reason=f"body exceeds the cap of {self._max_bytes} bytes")


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
