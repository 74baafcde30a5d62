"""A real HTTP server on 127.0.0.1 for tests that fetch feeds.

::

    def test_fetch(feed_server: FeedServer) -> None:
        feed_server.serve("/cal.ics", b"BEGIN:VCALENDAR...", etag='"v1"')
        ... fetch feed_server.url("/cal.ics") ...
        assert feed_server.hits("/cal.ics") == 1

Routes are matched on the request path; a route defined with a query string
(``/cal.ics?t=1``) matches only that exact target. Unknown paths answer 404.
Slow routes (``delay``, ``drip_interval``) wait on an event that :meth:`FeedServer.stop`
sets, so stopping never waits for them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip as gzip_module
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar, Self
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

OVERALL = "*"
"""The key of :attr:`FeedServer.max_concurrent` that counts every path together."""

_STOP_TIMEOUT = 2.0


@dataclass(frozen=True)
class _Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    raw_gzip: bool = False
    content_length: bool = True
    drip_interval: float | None = None
    delay: float = 0.0
    basic_auth: tuple[str, str] | None = None


class FeedServer:
    """An HTTP/1.1 server in a background thread; define routes, then count requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._stopping = threading.Event()
        self._in_flight: Counter[str] = Counter()
        self._connections: set[socket.socket] = set()
        self.requests: list[tuple[str, dict[str, str]]] = []
        """(request target, headers with lower-case names) of every request, in order."""
        self.max_concurrent: dict[str, int] = {}
        """Most requests in flight at once, per path and overall (key ``"*"``)."""
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="feed-server",
            daemon=True,
        )

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        return f"{self.base_url}{path}"

    def serve(
        self,
        path: str,
        body: bytes,
        *,
        status: int = 200,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
        gzip: bool = False,
        content_type: str = "text/calendar; charset=utf-8",
        drip_interval: float | None = None,
        delay: float = 0.0,
        content_length: bool = True,
        basic_auth: tuple[str, str] | None = None,
    ) -> None:
        """(Re)define a route.

        With ``etag`` (or ``last_modified``) a matching If-None-Match (or an
        If-Modified-Since not older than ``last_modified``) gets 304. ``gzip``
        compresses the body when the client accepts gzip. ``drip_interval``
        sends the body one byte at a time; ``delay`` waits before answering.
        ``content_length=False`` sends the body chunked, without a length.
        With ``basic_auth`` (user, password) a request without those HTTP Basic
        credentials gets 401.
        """
        all_headers = {"Content-Type": content_type, **(headers or {})}
        self._define(
            path,
            _Route(
                status=status,
                body=body,
                headers=all_headers,
                etag=etag,
                last_modified=last_modified,
                gzip=gzip,
                content_length=content_length,
                drip_interval=drip_interval,
                delay=delay,
                basic_auth=basic_auth,
            ),
        )

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location`` (relative or absolute)."""
        self._define(path, _Route(status=status, headers={"Location": location}))

    def raw_gzip(self, path: str, compressed: bytes) -> None:
        """Serve already gzip-compressed bytes with Content-Encoding: gzip, whatever is asked."""
        headers = {"Content-Type": "text/calendar; charset=utf-8", "Content-Encoding": "gzip"}
        self._define(path, _Route(body=compressed, headers=headers, raw_gzip=True))

    def hits(self, path: str) -> int:
        """How many requests reached ``path`` (its path part, or the exact target with a query)."""
        with self._lock:
            return sum(1 for target, _ in self.requests if _matches(path, target))

    def start(self) -> None:
        """Start serving in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; slow answers are cut short, open connections are closed."""
        self._stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(_STOP_TIMEOUT)
        deadline = time.monotonic() + _STOP_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                if not self._connections:
                    break
            time.sleep(0.01)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Used by the handler threads.

    def _define(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes[path] = route

    def _route(self, target: str) -> _Route | None:
        with self._lock:
            return self._routes.get(target) or self._routes.get(urlsplit(target).path)

    @contextlib.contextmanager
    def _track(self, target: str, headers: dict[str, str]) -> Iterator[None]:
        path = urlsplit(target).path
        with self._lock:
            self.requests.append((target, headers))
            for key in (path, OVERALL):
                self._in_flight[key] += 1
                self.max_concurrent[key] = max(
                    self.max_concurrent.get(key, 0), self._in_flight[key]
                )
        try:
            yield
        finally:
            with self._lock:
                for key in (path, OVERALL):
                    self._in_flight[key] -= 1

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the server is stopping."""
        return not self._stopping.wait(seconds)


def _matches(path: str, target: str) -> bool:
    return target == path or ("?" not in path and urlsplit(target).path == path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        feed_server: FeedServer,
    ) -> None:
        self.feed_server = feed_server
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is dropped after this
    server: _Server
    _silent_errors: ClassVar[tuple[type[Exception], ...]] = (ConnectionError, TimeoutError)

    def setup(self) -> None:
        super().setup()
        feeds = self.server.feed_server
        with feeds._lock:
            feeds._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            feeds = self.server.feed_server
            with feeds._lock:
                feeds._connections.discard(self.connection)

    def handle(self) -> None:
        with contextlib.suppress(*self._silent_errors):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Keep test output quiet."""

    def do_GET(self) -> None:
        feeds = self.server.feed_server
        headers = {name.lower(): value for name, value in self.headers.items()}
        with feeds._track(self.path, headers):
            route = feeds._route(self.path)
            if route is None:
                self._answer(404, b"not found\n", {"Content-Type": "text/plain"})
                return
            if route.delay and not feeds._wait(route.delay):
                self.close_connection = True
                return
            self._answer_route(route, headers)

    def _answer_route(self, route: _Route, request_headers: dict[str, str]) -> None:
        if route.basic_auth is not None:
            user, password = route.basic_auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if request_headers.get("authorization") != expected:
                self._answer(401, b"unauthorized\n", {"WWW-Authenticate": 'Basic realm="feeds"'})
                return
        validators = {
            name: value
            for name, value in (("ETag", route.etag), ("Last-Modified", route.last_modified))
            if value is not None
        }
        if _not_modified(route, request_headers):
            self._answer(304, b"", validators)
            return
        body = route.body
        headers = {**route.headers, **validators}
        if route.gzip and "gzip" in request_headers.get("accept-encoding", ""):
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._answer(
            route.status,
            body,
            headers,
            drip_interval=route.drip_interval,
            content_length=route.content_length,
        )

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str],
        *,
        drip_interval: float | None = None,
        content_length: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status == 304:
            self.end_headers()
            return
        if content_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        feeds = self.server.feed_server
        pieces = _split(body, 1 if drip_interval is not None else 64 * 1024)
        for index, piece in enumerate(pieces):
            if drip_interval is not None and index and not feeds._wait(drip_interval):
                self.close_connection = True
                return
            self.wfile.write(piece if content_length else b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        if not content_length:
            self.wfile.write(b"0\r\n\r\n")


def _split(body: bytes, size: int) -> list[bytes]:
    return [body[start : start + size] for start in range(0, len(body), size)]


def _not_modified(route: _Route, headers: dict[str, str]) -> bool:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if route.etag is None:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or route.etag.removeprefix("W/") in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None or route.last_modified is None:
        return False
    try:
        return parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(
            if_modified_since
        )
    except (TypeError, ValueError):
        return False


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer on 127.0.0.1, stopped after the test."""
    with FeedServer() as server:
        yield server
