"""A fast HTTP/1.1 feed server on 127.0.0.1 for benchmarks, in a background thread.

It must cost far less than calsync does, so it is a bare ``asyncio.Protocol``:
keep-alive, GET only, each feed a pre-rendered template whose DTSTAMP lines get
the request time. With ``etags`` on it sends a strong ETag per feed version and
answers ``If-None-Match`` with 304; with ``etags`` off it sends no validators
at all, as Airbnb and Booking.com do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from bench.feeds import STAMP, FeedSpec

if TYPE_CHECKING:
    from types import TracebackType

_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_HEAD_END = b"\r\n\r\n"


class _Feed:
    """One served feed: its spec, its template split at the stamps, its ETag."""

    def __init__(self, spec: FeedSpec) -> None:
        self.spec = spec
        self.chunks = spec.template().split(STAMP)
        self.etag = '"' + hashlib.blake2b(repr(spec).encode(), digest_size=8).hexdigest() + '"'


class FeedServer:
    """Serves ``/f/<n>.ics`` for feed ``n`` of ``specs``; use as a context manager."""

    def __init__(self, specs: list[FeedSpec], *, etags: bool = False) -> None:
        rendered: dict[FeedSpec, _Feed] = {}
        for spec in specs:
            if spec not in rendered:
                rendered[spec] = _Feed(spec)
        self._feeds = [rendered[spec] for spec in specs]
        self.etags = etags
        """Whether to send ETags and answer If-None-Match with 304 (switch at any time)."""
        self.requests = 0
        self.not_modified = 0
        self._stamp_second = 0
        self._stamp = b""
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self.connections: set[asyncio.Transport] = set()
        """The open client connections (closed when the server stops)."""
        self._thread = threading.Thread(target=self._run, name="bench-feed-server", daemon=True)
        self.port = 0

    def url(self, index: int) -> str:
        """The URL of feed ``index``."""
        return f"http://127.0.0.1:{self.port}/f/{index}.ics"

    def change(self, index: int) -> None:
        """Change one event of feed ``index`` (a new version, a new ETag)."""
        spec = self._feeds[index].spec
        new = dataclasses.replace(spec, version=spec.version + 1)
        self._feeds[index] = _Feed(new)

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for transport in list(self.connections):
            transport.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.run_until_complete(asyncio.sleep(0))  # let the transports finish closing
        self._loop.close()

    def respond(self, target: bytes, headers: bytes) -> bytes:
        """The whole response to one GET."""
        self.requests += 1
        try:
            feed = self._feeds[int(target.removeprefix(b"/f/").removesuffix(b".ics"))]
        except (ValueError, IndexError):
            return _NOT_FOUND
        if self.etags:
            etag = feed.etag.encode()
            if b"if-none-match: " + etag in headers.lower():
                self.not_modified += 1
                return b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n"
            validator = b"ETag: " + etag + b"\r\n"
        else:
            validator = b""
        body = self._now().join(feed.chunks)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar; charset=utf-8\r\n" + validator
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y%m%dT%H%M%SZ").encode()
        return self._stamp


class _Protocol(asyncio.Protocol):
    def __init__(self, server: FeedServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(transport)

    def connection_lost(self, _exc: Exception | None) -> None:
        if self._transport is not None:
            self._server.connections.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        assert self._transport is not None
        while (end := self._buffer.find(_HEAD_END)) >= 0:
            head, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
            request_line, _, headers = head.partition(b"\r\n")
            parts = request_line.split()
            if len(parts) != 3 or parts[0] != b"GET":
                self._transport.write(
                    b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"
                )
                continue
            self._transport.write(self._server.respond(parts[1], headers))
