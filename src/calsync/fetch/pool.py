"""Keep-alive connections per feed origin, each found in constant time (DESIGN §11).

Every connection is opened through the guard's network backend
(:class:`~calsync.fetch.guard.GuardedBackend`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING

import httpcore
import httpx

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator, Awaitable, Callable

KEEPALIVE_EXPIRY_SECONDS = 5.0
"""How long an idle connection is kept for reuse (httpx's default)."""


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


class ConnectionPool(httpcore.AsyncConnectionPool):
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


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on calsync's pool, which connects through ``backend`` (the guard's)."""

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, *, max_connections_per_origin: int
    ) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = ConnectionPool(
            ssl_context=ssl_context,
            network_backend=backend,
            max_connections_per_origin=max_connections_per_origin,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        )
