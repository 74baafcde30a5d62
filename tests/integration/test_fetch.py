"""FeedFetcher against a real HTTP server on 127.0.0.1 (and never any other network)."""

# Expected value first, as STYLE.md asks; ruff's SIM300 wants the opposite.

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from calsync.config import FetchSettings
from calsync.errors import (
    FeedBlocked,
    FeedGone,
    FeedHttpError,
    FeedRateLimited,
    FeedTooLarge,
    FeedUnreachable,
    FetchError,
)
from calsync.fetch import FeedFetcher, FetchedFeed
from calsync.fetch import pool as fetch_pool
from calsync.fetch.guard import http_url
from calsync.fetch.pool import ConnectionPool
from feedserver import FeedServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Coroutine


ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n"
LAN = FetchSettings(allow_private_networks=True)
TEST_TIMEOUT = 10.0
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh event loop, bounded by TEST_TIMEOUT."""

    async def bounded() -> T:
        async with asyncio.timeout(TEST_TIMEOUT):
            return await coro

    return asyncio.run(bounded())


def fetch(
    url: str,
    settings: FetchSettings = LAN,
    *,
    resolver: Any = None,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchedFeed:
    """Fetch ``url`` once with a fresh FeedFetcher."""

    async def go() -> FetchedFeed:
        async with FeedFetcher(settings, resolver=resolver) as fetcher:
            return await fetcher.fetch(url, etag=etag, last_modified=last_modified)

    return run(go())


def resolving_to(*addresses: str, calls: list[tuple[str, int]] | None = None) -> Any:
    """A resolver that answers every name with ``addresses`` and records what it was asked."""

    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        return list(addresses)

    return resolve


# Fetching


def test_200_returns_body_etag_and_last_modified(feed_server: FeedServer) -> None:
    """A 200 answer gives the body, the ETag, Last-Modified and the URL."""
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"
    feed_server.serve("/cal.ics", ICS, etag='"v1"', last_modified=stamp)
    feed = fetch(feed_server.url("/cal.ics"))
    assert FetchedFeed(200, ICS, '"v1"', stamp, feed_server.url("/cal.ics")) == feed


def test_conditional_get_with_etag_returns_304(feed_server: FeedServer) -> None:
    """A matching If-None-Match gives status 304, no body, and the ETag."""
    feed_server.serve("/cal.ics", ICS, etag='"v1"')
    feed = fetch(feed_server.url("/cal.ics"), etag='"v1"')
    assert (304, None, '"v1"') == (feed.status, feed.body, feed.etag)
    assert '"v1"' == feed_server.requests[-1][1]["if-none-match"]


def test_conditional_get_with_stale_etag_returns_200(feed_server: FeedServer) -> None:
    """An ETag that no longer matches gives the new body and the new ETag."""
    feed_server.serve("/cal.ics", ICS, etag='"v2"')
    feed = fetch(feed_server.url("/cal.ics"), etag='"v1"')
    assert (200, ICS, '"v2"') == (feed.status, feed.body, feed.etag)


def test_conditional_get_with_last_modified_returns_304(feed_server: FeedServer) -> None:
    """If-Modified-Since not older than Last-Modified gives 304 and keeps the date."""
    stamp = "Wed, 01 Jan 2025 00:00:00 GMT"
    feed_server.serve("/cal.ics", ICS, last_modified=stamp)
    feed = fetch(feed_server.url("/cal.ics"), last_modified=stamp)
    assert (304, None, stamp) == (feed.status, feed.body, feed.last_modified)
    assert stamp == feed_server.requests[-1][1]["if-modified-since"]


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    """A gzip-encoded answer is returned decoded; gzip and deflate were asked for."""
    feed_server.serve("/cal.ics", ICS * 100, gzip=True)
    assert ICS * 100 == fetch(feed_server.url("/cal.ics")).body
    assert "gzip, deflate" == feed_server.requests[-1][1]["accept-encoding"]


@pytest.mark.parametrize(
    "compress",
    [zlib.compress, lambda data: zlib.compress(data)[2:-4]],
    ids=["zlib", "raw"],
)
def test_deflate_body_is_decoded(feed_server: FeedServer, compress: Any) -> None:
    """Content-Encoding: deflate is decoded, with or without the zlib header."""
    headers = {"Content-Encoding": "deflate"}
    feed_server.serve("/cal.ics", compress(ICS * 100), headers=headers)
    assert ICS * 100 == fetch(feed_server.url("/cal.ics")).body


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_corrupt_compressed_body_is_unreachable(feed_server: FeedServer, encoding: str) -> None:
    """A body that is not the gzip or deflate it claims to be gives FeedUnreachable."""
    feed_server.serve("/cal.ics", b"\xff" * 64, headers={"Content-Encoding": encoding})
    with pytest.raises(FeedUnreachable, match="corrupt compressed body"):
        fetch(feed_server.url("/cal.ics"))


def test_truncated_gzip_body_is_unreachable(feed_server: FeedServer) -> None:
    """A gzip stream that stops before its end is not returned as a (partial) feed."""
    feed_server.serve(
        "/cal.ics", gzip.compress(ICS * 100)[:-20], headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(FeedUnreachable, match="compressed body ended early"):
        fetch(feed_server.url("/cal.ics"))


def test_unsupported_content_encoding_is_an_error(feed_server: FeedServer) -> None:
    """A body in an encoding that was not asked for is refused, not passed on."""
    feed_server.serve("/cal.ics", b"\x00\x01", headers={"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="unsupported Content-Encoding"):
        fetch(feed_server.url("/cal.ics"))


def test_html_page_is_returned_as_bytes(feed_server: FeedServer) -> None:
    """A 200 HTML page comes back as bytes: judging the body is the parser's job."""
    html = b"<!doctype html><html><body>Log in</body></html>"
    feed_server.serve("/cal.ics", html, content_type="text/html")
    assert html == fetch(feed_server.url("/cal.ics")).body


def test_user_agent_is_sent(feed_server: FeedServer) -> None:
    """Every request carries calsync's User-Agent (Airbnb answers 403 without one)."""
    feed_server.serve("/cal.ics", ICS)
    fetch(feed_server.url("/cal.ics"))
    assert feed_server.requests[0][1]["user-agent"].startswith("calsync/")


def test_cookies_are_never_sent_back(feed_server: FeedServer) -> None:
    """A cookie set by one fetch is not sent with the next: feeds of accounts share hosts."""
    feed_server.serve("/cal.ics", ICS, headers={"Set-Cookie": "session=secret; Path=/"})

    async def go() -> None:
        async with FeedFetcher(LAN) as fetcher:
            await fetcher.fetch(feed_server.url("/cal.ics"))
            await fetcher.fetch(feed_server.url("/cal.ics"))

    run(go())
    assert [None, None] == [headers.get("cookie") for _, headers in feed_server.requests]


# Credentials in the URL


def test_credentials_in_the_url_are_sent_as_basic_auth(feed_server: FeedServer) -> None:
    """https://user:pass@host/feed.ics: Basic auth is sent, percent-escapes decoded; not in the URL."""
    feed_server.serve("/private.ics", b"BEGIN:VCALENDAR", basic_auth=("owner", "p@ss:word"))
    url = feed_server.url("/private.ics").replace("//", "//owner:p%40ss%3Aword@", 1)
    fetched = fetch(url)
    assert (200, b"BEGIN:VCALENDAR") == (fetched.status, fetched.body)
    assert feed_server.url("/private.ics") == fetched.url
    [(target, headers)] = feed_server.requests
    assert "/private.ics" == target
    assert "Basic b3duZXI6cEBzczp3b3Jk" == headers["authorization"]


def test_a_wrong_password_is_a_401_that_never_shows_it(feed_server: FeedServer) -> None:
    """A 401 for credentials in the URL: the error names the status, not the password."""
    feed_server.serve("/private.ics", b"BEGIN:VCALENDAR", basic_auth=("owner", "right"))
    url = feed_server.url("/private.ics").replace("//", "//owner:wrong-s3cret@", 1)
    with pytest.raises(FeedHttpError) as caught:
        fetch(url)
    assert 401 == caught.value.status
    assert "wrong-s3cret" not in str(caught.value)
    assert "owner" not in str(caught.value)


def test_credentials_follow_a_redirect_on_the_same_origin_only(feed_server: FeedServer) -> None:
    """A redirect within the origin keeps Basic auth; one to another port (origin) gets none."""
    with FeedServer() as other:
        other.serve("/moved.ics", b"BEGIN:VCALENDAR")
        feed_server.redirect("/start.ics", "/private.ics")
        feed_server.redirect("/private.ics", other.url("/moved.ics"))
        fetch(feed_server.url("/start.ics").replace("//", "//owner:secret@", 1))
        [(_, moved_headers)] = other.requests
    assert [True, True] == ["authorization" in headers for _, headers in feed_server.requests]
    assert "authorization" not in moved_headers


# Redirects


def test_redirect_chain_is_followed_to_the_final_url(feed_server: FeedServer) -> None:
    """Absolute and relative redirects are followed; the final URL is returned."""
    feed_server.redirect("/a", feed_server.url("/b"), status=301)
    feed_server.redirect("/b", "/c", status=307)
    feed_server.redirect("/c", "d.ics?t=1", status=308)
    feed_server.serve("/d.ics", ICS)
    feed = fetch(feed_server.url("/a"))
    assert (ICS, feed_server.url("/d.ics?t=1")) == (feed.body, feed.url)


def test_too_many_redirects_is_too_large(feed_server: FeedServer) -> None:
    """More than max_redirects hops raise FeedTooLarge and stop following."""
    for hop in range(4):
        feed_server.redirect(f"/{hop}", f"/{hop + 1}")
    feed_server.serve("/4", ICS)
    with pytest.raises(FeedTooLarge, match="more than 2 redirects"):
        fetch(feed_server.url("/0"), FetchSettings(allow_private_networks=True, max_redirects=2))
    assert 0 == feed_server.hits("/3")


def test_redirect_without_location_is_an_http_error(feed_server: FeedServer) -> None:
    """A 302 without Location is an HTTP error naming the status."""
    feed_server.serve("/cal.ics", b"", status=302)
    with pytest.raises(FeedHttpError, match="HTTP 302") as caught:
        fetch(feed_server.url("/cal.ics"))
    assert 302 == caught.value.status


def test_redirect_to_other_scheme_is_blocked(feed_server: FeedServer) -> None:
    """A redirect to file:// is refused by the scheme check."""
    feed_server.redirect("/cal.ics", "file:///etc/passwd")
    with pytest.raises(FeedBlocked, match="scheme file is not allowed"):
        fetch(feed_server.url("/cal.ics"))


def test_redirect_from_allowed_host_to_loopback_is_blocked(feed_server: FeedServer) -> None:
    """allow_hosts exempts one name; its redirect to 127.0.0.1 is still refused, unsent."""
    feed_server.redirect("/start", feed_server.url("/target"))
    feed_server.serve("/target", ICS)
    settings = FetchSettings(allow_hosts=("LocalHost",))
    url = f"http://localhost:{feed_server.port}/start"
    with pytest.raises(FeedBlocked, match=re.escape("loopback address 127.0.0.1")):
        fetch(url, settings, resolver=resolving_to("127.0.0.1"))
    assert (1, 0) == (feed_server.hits("/start"), feed_server.hits("/target"))


def test_redirect_to_private_network_is_blocked(feed_server: FeedServer) -> None:
    """A redirect to http://10.0.0.1/ is refused before any connection is tried."""
    feed_server.redirect("/start", "http://10.0.0.1/admin")
    settings = FetchSettings(allow_hosts=("127.0.0.1",))
    with pytest.raises(FeedBlocked, match=re.escape("private address 10.0.0.1")) as caught:
        fetch(feed_server.url("/start"), settings)
    assert "http://10.0.0.1/admin" == caught.value.url


# Status codes


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("120", 120.0), ("soon", None), (None, None), ("9" * 400, 365 * 24 * 3600.0)],
    ids=["seconds", "unreadable", "absent", "beyond-a-year"],
)
def test_429_is_rate_limited_with_retry_after_seconds(
    feed_server: FeedServer, retry_after: str | None, expected: float | None
) -> None:
    """429 raises FeedRateLimited carrying Retry-After in seconds (None if unreadable, ≤ a year)."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    feed_server.serve("/cal.ics", b"slow down", status=429, headers=headers)
    with pytest.raises(FeedRateLimited) as caught:
        fetch(feed_server.url("/cal.ics"))
    assert (429, expected) == (caught.value.status, caught.value.retry_after_seconds)


def test_retry_after_as_http_date_is_read_as_seconds(feed_server: FeedServer) -> None:
    """Retry-After given as an HTTP date becomes the seconds until then."""
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    feed_server.serve("/cal.ics", b"", status=429, headers=headers)
    with pytest.raises(FeedRateLimited) as caught:
        fetch(feed_server.url("/cal.ics"))
    assert caught.value.retry_after_seconds is not None
    assert 115 <= caught.value.retry_after_seconds <= 120


def test_503_is_rate_limited(feed_server: FeedServer) -> None:
    """503 raises FeedRateLimited, which is retryable."""
    feed_server.serve("/cal.ics", b"", status=503, headers={"Retry-After": "30"})
    with pytest.raises(FeedRateLimited) as caught:
        fetch(feed_server.url("/cal.ics"))
    assert (503, 30.0, True) == (
        caught.value.status,
        caught.value.retry_after_seconds,
        caught.value.retryable,
    )


def test_500_is_an_http_error(feed_server: FeedServer) -> None:
    """500 raises FeedHttpError with the status, not a rate limit."""
    feed_server.serve("/cal.ics", b"oops", status=500)
    with pytest.raises(FeedHttpError, match="HTTP 500") as caught:
        fetch(feed_server.url("/cal.ics"))
    assert (500, FeedHttpError) == (caught.value.status, type(caught.value))


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_gone(feed_server: FeedServer, status: int) -> None:
    """404 and 410 raise FeedGone with the status."""
    feed_server.serve("/cal.ics", b"", status=status)
    with pytest.raises(FeedGone) as caught:
        fetch(feed_server.url("/cal.ics"))
    assert status == caught.value.status


def test_unknown_path_is_gone(feed_server: FeedServer) -> None:
    """The server's own 404 for an unknown path is FeedGone too."""
    with pytest.raises(FeedGone):
        fetch(feed_server.url("/nothing-here.ics"))


# Caps


def test_slow_drip_hits_the_total_time_cap(feed_server: FeedServer) -> None:
    """A body dripped a byte every 0.3 s is cut off at timeout_seconds, not per chunk."""
    feed_server.serve("/cal.ics", ICS, drip_interval=0.3)
    settings = FetchSettings(allow_private_networks=True, timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(FeedTooLarge, match="took longer than 1 s"):
        fetch(feed_server.url("/cal.ics"), settings)
    assert time.monotonic() - started < 3.0


def test_slow_answer_hits_the_total_time_cap(feed_server: FeedServer) -> None:
    """A server that waits before answering is cut off at timeout_seconds."""
    feed_server.serve("/cal.ics", ICS, delay=5.0)
    settings = FetchSettings(allow_private_networks=True, timeout_seconds=0.5)
    with pytest.raises(FeedTooLarge, match=re.escape("took longer than 0.5 s")):
        fetch(feed_server.url("/cal.ics"), settings)


@pytest.mark.parametrize("content_length", [True, False], ids=["length", "chunked"])
def test_body_over_max_bytes_is_too_large(feed_server: FeedServer, content_length: bool) -> None:
    """A body over max_bytes raises FeedTooLarge, with or without Content-Length."""
    feed_server.serve("/cal.ics", b"x" * 5000, content_length=content_length)
    settings = FetchSettings(allow_private_networks=True, max_bytes=1000)
    with pytest.raises(FeedTooLarge, match="cap of 1000 bytes"):
        fetch(feed_server.url("/cal.ics"), settings)


def test_body_of_exactly_max_bytes_is_accepted(feed_server: FeedServer) -> None:
    """The cap is inclusive: a body of exactly max_bytes is returned."""
    feed_server.serve("/cal.ics", b"x" * 1000, content_length=False)
    settings = FetchSettings(allow_private_networks=True, max_bytes=1000)
    assert b"x" * 1000 == fetch(feed_server.url("/cal.ics"), settings).body


def test_gzip_bomb_is_too_large_without_inflating(feed_server: FeedServer) -> None:
    """50 MB of gzipped zeros against a 1 MiB cap raise FeedTooLarge, holding about 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(50)) + compressor.flush()
    feed_server.raw_gzip("/cal.ics", bomb)
    settings = FetchSettings(allow_private_networks=True, max_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(FeedTooLarge, match="body exceeds the cap"):
            fetch(feed_server.url("/cal.ics"), settings)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_gzip_body_decoded_over_max_bytes_is_too_large(feed_server: FeedServer) -> None:
    """The cap applies to the decoded size, even when the compressed size is small."""
    feed_server.raw_gzip("/cal.ics", gzip.compress(b"x" * 5000))
    settings = FetchSettings(allow_private_networks=True, max_bytes=1000)
    with pytest.raises(FeedTooLarge):
        fetch(feed_server.url("/cal.ics"), settings)


# Connection errors


def test_connection_refused_is_unreachable() -> None:
    """A closed port on 127.0.0.1 raises FeedUnreachable saying the connection was refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FeedUnreachable, match="cannot connect: connection refused"):
        fetch(f"http://127.0.0.1:{port}/cal.ics")


def test_body_cut_short_is_unreachable() -> None:
    """A server that closes before the promised Content-Length gives FeedUnreachable."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TEST_TIMEOUT)
        port = listener.getsockname()[1]

        def answer_half() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nBEGIN:VCAL")

        thread = threading.Thread(target=answer_half, daemon=True)
        thread.start()
        with pytest.raises(FeedUnreachable, match="the server broke the HTTP protocol"):
            fetch(f"http://127.0.0.1:{port}/cal.ics")
        thread.join(TEST_TIMEOUT)


def test_tls_failure_is_unreachable(feed_server: FeedServer) -> None:
    """https:// to a plain-HTTP server fails the TLS handshake: FeedUnreachable 'TLS error'."""
    with pytest.raises(FeedUnreachable, match="TLS error: "):
        fetch(f"https://127.0.0.1:{feed_server.port}/cal.ics")


def test_dns_failure_is_unreachable() -> None:
    """A name that does not resolve raises FeedUnreachable (the guard fails closed)."""

    async def fail(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(FeedUnreachable, match=re.escape("cannot resolve host feeds.invalid")):
        fetch("https://feeds.invalid/cal.ics", FetchSettings(), resolver=fail)


def test_empty_dns_answer_is_unreachable() -> None:
    """A resolver that finds no address raises FeedUnreachable."""
    with pytest.raises(FeedUnreachable, match="no addresses"):
        fetch("https://feeds.example/cal.ics", FetchSettings(), resolver=resolving_to())


SECRET_QUERY = "?t=s3cr3t-token"  # noqa: S105 - a made-up token the errors must not show


def secret_url(feed_server: FeedServer, path: str) -> str:
    """The feed server's URL of ``path`` with a password and a token in the query."""
    return feed_server.url(path).replace("://", "://owner:pa55word@", 1) + SECRET_QUERY


def _refuse_all_redirects(feed_server: FeedServer) -> None:
    for hop in range(4):
        feed_server.redirect(f"/hop{hop}", f"/hop{hop + 1}{SECRET_QUERY}")


@pytest.mark.parametrize(
    ("path", "setup", "settings", "kind"),
    [
        ("/gone.ics", lambda s: s.serve("/gone.ics", b"", status=404), LAN, FeedGone),
        ("/err.ics", lambda s: s.serve("/err.ics", b"", status=500), LAN, FeedHttpError),
        ("/big.ics", lambda s: s.serve("/big.ics", b"x" * 5000),
         FetchSettings(allow_private_networks=True, max_bytes=100), FeedTooLarge),
        ("/bad.ics", lambda s: s.raw_gzip("/bad.ics", b"not gzip at all"), LAN, FeedUnreachable),
        ("/hop0", _refuse_all_redirects, FetchSettings(allow_private_networks=True,
                                                       max_redirects=2), FeedTooLarge),
        ("/slow.ics", lambda s: s.serve("/slow.ics", ICS, delay=5.0),
         FetchSettings(allow_private_networks=True, timeout_seconds=0.3), FeedTooLarge),
        ("/to-ftp", lambda s: s.redirect("/to-ftp", f"ftp://owner:pa55word@x/y{SECRET_QUERY}"),
         LAN, FeedBlocked),
        ("/private.ics", lambda _: None, FetchSettings(), FeedBlocked),
    ],
    ids=["404", "500", "too-large", "corrupt-gzip", "redirects", "timeout", "scheme", "guard"],
)  # fmt: skip
def test_fetch_errors_never_show_the_query_or_password(
    feed_server: FeedServer, path: str, setup: Any, settings: FetchSettings, kind: type[FetchError]
) -> None:
    """Whatever fails, the FetchError's message and url show the URL redacted: no token, no password."""
    setup(feed_server)
    with pytest.raises(kind) as caught:
        fetch(secret_url(feed_server, path), settings)
    shown = f"{caught.value} {caught.value.url}"
    assert ("s3cr3t" in shown, "pa55word" in shown, "?***" in str(caught.value)) == (
        False,
        False,
        True,
    ), shown


# Schemes


def test_webcal_is_fetched_over_https() -> None:
    """webcal:// is fetched as https:// on port 443 (shown here by the guard refusing it)."""
    calls: list[tuple[str, int]] = []
    resolver = resolving_to("127.0.0.1", calls=calls)
    with pytest.raises(FeedBlocked) as caught:
        fetch("webcal://feeds.example/cal.ics", FetchSettings(), resolver=resolver)
    assert [("feeds.example", 443)] == calls
    assert "https://feeds.example/cal.ics" == caught.value.url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("webcal://feeds.example/cal.ics?t=1", "https://feeds.example/cal.ics?t=1"),
        ("WEBCAL://Feeds.Example:8443/cal.ics", "https://feeds.example:8443/cal.ics"),
        ("http://feeds.example/cal.ics", "http://feeds.example/cal.ics"),
        ("https://feeds.example/cal.ics", "https://feeds.example/cal.ics"),
    ],
)
def test_url_rewrite(url: str, expected: str) -> None:
    """A webcal URL becomes https; http and https stay as they are."""
    assert expected == str(http_url(url))


@pytest.mark.parametrize(
    "url", ["ftp://feeds.example/cal.ics", "file:///etc/passwd", "gopher://x/", "feeds.example"]
)
def test_other_schemes_are_blocked(url: str) -> None:
    """Only http, https and webcal are fetched; anything else raises FeedBlocked."""
    with pytest.raises(FeedBlocked, match="is not allowed"):
        fetch(url, FetchSettings())


# The SSRF guard


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "127.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_guard_blocks_loopback_by_default(feed_server: FeedServer, host: str) -> None:
    """With default settings 127.0.0.1, in any spelling, is refused and nothing is sent."""
    feed_server.serve("/cal.ics", ICS)
    with pytest.raises(FeedBlocked, match=re.escape("loopback address 127.0.0.1")):
        fetch(f"http://{host}:{feed_server.port}/cal.ics", FetchSettings())
    assert [] == feed_server.requests


def test_guard_refuses_a_name_with_any_private_address(feed_server: FeedServer) -> None:
    """A name resolving to a public address and 127.0.0.1 is refused as a whole."""
    resolver = resolving_to("93.184.216.34", "127.0.0.1")
    url = f"http://feeds.example:{feed_server.port}/cal.ics"
    with pytest.raises(
        FeedBlocked, match=re.escape("host feeds.example resolves to loopback address")
    ):
        fetch(url, FetchSettings(), resolver=resolver)
    assert [] == feed_server.requests


def test_allowed_host_connects_to_the_pinned_address(feed_server: FeedServer) -> None:
    """A name is resolved once and the checked address is what gets connected to."""
    feed_server.serve("/cal.ics", ICS)
    calls: list[tuple[str, int]] = []
    resolver = resolving_to("127.0.0.1", calls=calls)
    url = f"http://feeds.example:{feed_server.port}/cal.ics"
    feed = fetch(url, FetchSettings(allow_hosts=("feeds.example",)), resolver=resolver)
    assert (ICS, url) == (feed.body, feed.url)
    assert [("feeds.example", feed_server.port)] == calls
    assert f"feeds.example:{feed_server.port}" == feed_server.requests[0][1]["host"]


def test_allow_private_networks_lifts_the_guard(feed_server: FeedServer) -> None:
    """allow_private_networks=True lets a loopback feed through."""
    feed_server.serve("/cal.ics", ICS)
    assert ICS == fetch(feed_server.url("/cal.ics"), LAN).body


def test_fetcher_serves_concurrent_fetches(feed_server: FeedServer) -> None:
    """One FeedFetcher serves several fetches at once."""
    for index in range(5):
        feed_server.serve(f"/{index}.ics", ICS, delay=0.2)

    async def go() -> list[FetchedFeed]:
        async with FeedFetcher(LAN) as fetcher:
            fetches: list[Awaitable[FetchedFeed]] = [
                fetcher.fetch(feed_server.url(f"/{index}.ics")) for index in range(5)
            ]
            return list(await asyncio.gather(*fetches))

    assert [ICS] * 5 == [feed.body for feed in run(go())]
    assert 5 == feed_server.max_concurrent["*"]


# The connection pool


def counting_resolver(calls: Counter[str]) -> Any:
    """A resolver answering 127.0.0.1 and counting lookups per host: one per new connection."""

    async def resolve(host: str, port: int) -> list[str]:
        calls[host] += 1
        return ["127.0.0.1"]

    return resolve


def pool_of(fetcher: FeedFetcher) -> ConnectionPool:
    """The fetcher's connection pool."""
    pool = fetcher._transport._pool
    assert isinstance(pool, ConnectionPool)
    return pool


def test_sequential_fetches_reuse_one_connection(feed_server: FeedServer) -> None:
    """Fetches one after another from one host go over one kept-alive connection."""
    feed_server.serve("/cal.ics", ICS)
    calls: Counter[str] = Counter()
    url = f"http://feeds.example:{feed_server.port}/cal.ics"

    async def go() -> list[bytes | None]:
        async with FeedFetcher(LAN, resolver=counting_resolver(calls)) as fetcher:
            return [(await fetcher.fetch(url)).body for _ in range(3)]

    assert [ICS] * 3 == run(go())
    assert {"feeds.example": 1} == calls


def test_concurrent_fetches_to_two_hosts_keep_a_connection_each(feed_server: FeedServer) -> None:
    """Concurrent fetches from two hosts each open their own connections, then reuse them."""
    feed_server.serve("/slow.ics", ICS, delay=0.2)
    calls: Counter[str] = Counter()
    urls = [f"http://{host}:{feed_server.port}/slow.ics" for host in ("a.example", "b.example")]

    async def go() -> list[list[bytes | None]]:
        async with FeedFetcher(LAN, resolver=counting_resolver(calls)) as fetcher:
            rounds = []
            for _ in range(2):
                fetches = [fetcher.fetch(url) for url in urls for _ in range(4)]
                rounds.append([feed.body for feed in await asyncio.gather(*fetches)])
            return rounds

    assert [[ICS] * 8] * 2 == run(go())
    assert 8 == feed_server.max_concurrent["*"]
    assert {"a.example": 4, "b.example": 4} == calls


def test_connections_per_origin_are_capped(feed_server: FeedServer) -> None:
    """With max_connections_per_origin=2, six concurrent fetches share two connections."""
    feed_server.serve("/slow.ics", ICS, delay=0.1)
    calls: Counter[str] = Counter()
    url = f"http://feeds.example:{feed_server.port}/slow.ics"

    async def go() -> list[FetchedFeed]:
        resolver = counting_resolver(calls)
        async with FeedFetcher(LAN, resolver=resolver, max_connections_per_origin=2) as fetcher:
            return list(await asyncio.gather(*(fetcher.fetch(url) for _ in range(6))))

    assert [ICS] * 6 == [feed.body for feed in run(go())]
    assert 2 == feed_server.max_concurrent["/slow.ics"]
    assert {"feeds.example": 2} == calls


def test_fetch_cut_off_by_the_time_cap_gives_its_connection_back(
    feed_server: FeedServer,
) -> None:
    """With one connection per origin, a fetch cancelled mid-answer does not block the next."""
    feed_server.serve("/slow.ics", ICS, delay=5.0)
    feed_server.serve("/cal.ics", ICS)
    settings = FetchSettings(allow_private_networks=True, timeout_seconds=0.3)

    async def go() -> bytes | None:
        async with FeedFetcher(settings, max_connections_per_origin=1) as fetcher:
            with pytest.raises(FeedTooLarge, match=re.escape("took longer than 0.3 s")):
                await fetcher.fetch(feed_server.url("/slow.ics"))
            return (await fetcher.fetch(feed_server.url("/cal.ics"))).body

    assert ICS == run(go())


def test_idle_connections_expire_and_their_hosts_are_forgotten(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle connections past the keep-alive expiry are closed and their origins dropped."""
    monkeypatch.setattr(fetch_pool, "KEEPALIVE_EXPIRY_SECONDS", 0.05)
    feed_server.serve("/cal.ics", ICS)
    hosts = [f"h{index}.example" for index in range(20)]

    async def go() -> tuple[list[bool], set[bytes]]:
        async with FeedFetcher(LAN, resolver=counting_resolver(Counter())) as fetcher:
            pool = pool_of(fetcher)
            idle = []
            for host in hosts:
                await fetcher.fetch(f"http://{host}:{feed_server.port}/cal.ics")
                # Taken at once: on a slow machine a later fetch may already sweep it.
                idle += [
                    connection
                    for (_, origin_host, _), entry in pool._origins.items()
                    if origin_host == host.encode()
                    for connection in entry.idle
                ]
            assert 20 == len(idle)
            for _ in range(300):  # poll, up to 3 s, until the expiry has passed
                if all(connection.has_expired() for connection in idle):
                    break
                await asyncio.sleep(0.01)
            await fetcher.fetch(f"http://last.example:{feed_server.port}/cal.ics")
            return [connection.is_closed() for connection in idle], {
                host for _, host, _ in pool._origins
            }

    closed, remaining = run(go())
    assert [True] * 20 == closed
    assert {b"last.example"} == remaining


def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    """A kept-alive connection that the server has since closed is replaced, not written to."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ICS), ICS)
    first_closed = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TEST_TIMEOUT)
        port = listener.getsockname()[1]

        def serve_twice() -> None:
            for _ in range(2):
                connection, _ = listener.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(answer)
                first_closed.set()

        thread = threading.Thread(target=serve_twice, daemon=True)
        thread.start()

        async def go() -> list[bytes | None]:
            async with FeedFetcher(LAN) as fetcher:
                first = await fetcher.fetch(f"http://127.0.0.1:{port}/cal.ics")
                await asyncio.to_thread(first_closed.wait, TEST_TIMEOUT)
                second = await fetcher.fetch(f"http://127.0.0.1:{port}/cal.ics")
                return [first.body, second.body]

        assert [ICS, ICS] == run(go())
        thread.join(TEST_TIMEOUT)


def test_aclose_closes_every_connection(feed_server: FeedServer) -> None:
    """Closing the fetcher closes its kept-alive connections and forgets every origin."""
    feed_server.serve("/cal.ics", ICS)

    async def go() -> tuple[list[bool], int]:
        fetcher = FeedFetcher(LAN, resolver=counting_resolver(Counter()))
        pool = pool_of(fetcher)
        for host in ("a.example", "b.example"):
            await fetcher.fetch(f"http://{host}:{feed_server.port}/cal.ics")
        idle = [connection for entry in pool._origins.values() for connection in entry.idle]
        await fetcher.aclose()
        return [connection.is_closed() for connection in idle], len(pool._origins)

    assert ([True, True], 0) == run(go())


def test_guard_refuses_loopback_beside_a_kept_alive_allowed_host(feed_server: FeedServer) -> None:
    """An open connection to an allowed host does not let another host through to 127.0.0.1."""
    feed_server.serve("/cal.ics", ICS)
    settings = FetchSettings(allow_hosts=("feeds.example",))
    resolver = counting_resolver(Counter())

    async def go() -> set[bytes]:
        async with FeedFetcher(settings, resolver=resolver) as fetcher:
            await fetcher.fetch(f"http://feeds.example:{feed_server.port}/cal.ics")
            with pytest.raises(FeedBlocked, match=re.escape("loopback address 127.0.0.1")):
                await fetcher.fetch(f"http://other.example:{feed_server.port}/cal.ics")
            return {host for _, host, _ in pool_of(fetcher)._origins}

    assert {b"feeds.example"} == run(go())
    assert 1 == len(feed_server.requests)
