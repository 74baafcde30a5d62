"""The web interface in a real browser: Debian's Chromium driven by Playwright, and a site to show.

::

    with running_site(tmp_path, feed_server, clock) as site, chromium() as browser:
        page, watch = open_page(browser, site.url)
        log_in(page, site.url, "anna", PASSWORD)
        ...
        assert [] == watch.foreign

:func:`chromium` launches ``/usr/bin/chromium`` (no browser is downloaded), with
its background traffic switched off. :class:`OwnOrigin` routes every request a
page makes: one for another origin is aborted and remembered, so a test asserts
that nothing leaves the server. :func:`running_site` serves calsync's whole app
on 127.0.0.1 over a fresh SQLite store; :func:`sync` imports calendars through
the real sync code from the feed server. ``tests/ui_screenshot.py`` uses the same
parts for the README's screenshot.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, Route, sync_playwright

from appserver import free_socket, serve_in_thread
from calsync.feeds import FeedReadLog, FeedService
from calsync.fetch import FeedFetcher
from calsync.metrics import Metrics
from calsync.services.users import Users
from calsync.store import calendars as stored_calendars
from calsync.store import products as stored_products
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar
from calsync.sync import sync_calendar
from calsync.web.app import create_app
from conftest import make_settings

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Iterator
    from datetime import datetime
    from pathlib import Path

    from calsync.config import Settings
    from feedserver import FeedServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
PASSWORD = "correct horse battery"  # noqa: S105 - the test account's password
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class OwnOrigin:
    """Every request of a page: those for ``origin`` go through, others are aborted and noted."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()


def open_page(
    browser: Browser, origin: str, viewport: dict[str, int] = DESKTOP
) -> tuple[Page, OwnOrigin]:
    """A page in a fresh context (its own cookies) whose requests are all routed."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    watch = OwnOrigin(origin)
    context.route("**/*", watch.route)
    return context.new_page(), watch


def log_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form."""
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def no_sideways_scroll(page: Page) -> bool:
    """Whether the page fits the viewport's width (nothing to scroll sideways)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@dataclass
class Site:
    """The calsync app serving on 127.0.0.1 over its own store, fed by the feed server."""

    url: str
    store: Store
    settings: Settings
    feeds: FeedServer
    clock: Callable[[], datetime]

    def add_user(self, username: str, password: str = PASSWORD) -> None:
        """An account (hashed cheaply: the tests check the rules, not argon2's cost)."""
        cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        Users(self.store, hasher=cheap, clock=self.clock).add(username, password)

    def add_product(self, name: str, *, capacity: int = 1) -> uuid.UUID:
        with self.store.write() as session:
            product = stored_products.add_product(
                session, name=name, timezone="Europe/Amsterdam", capacity=capacity,
                now=self.clock(),
            )  # fmt: skip
            return product.id

    def add_calendar(
        self,
        product_id: uuid.UUID,
        name: str,
        path: str,
        body: bytes,
        *,
        channel: str,
        **serve: Any,
    ) -> uuid.UUID:
        """A calendar reading ``body`` at ``path``, named for ``channel`` (its ``tld``).

        The feed is on 127.0.0.1; ``channel`` (``airbnb.com``) is what its URL
        would say on the real channel, and what the interface colours it by.
        """
        self.feeds.serve(path, body, **serve)
        with self.store.write() as session:
            calendar = stored_calendars.add_calendar(
                session, product_id=product_id, name=name, ical_url=self.feeds.url(path),
                tld=channel, now=self.clock(),
            )  # fmt: skip
            return calendar.id

    def sync(self, *calendar_ids: uuid.UUID) -> None:
        """Sync these calendars now, through the real sync code."""

        async def go() -> None:
            async with FeedFetcher(self.settings.fetch) as fetcher:
                for calendar_id in calendar_ids:
                    await sync_calendar(
                        calendar_id, store=self.store, fetcher=fetcher, settings=self.settings,
                        clock=self.clock,
                    )  # fmt: skip

        # In a thread of its own: Playwright's sync API runs an event loop in this one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(lambda: asyncio.run(go())).result()

    def calendar(self, calendar_id: uuid.UUID) -> ExternalCalendar:
        with self.store.read() as session:
            return stored_calendars.get_calendar(session, calendar_id)


@contextlib.contextmanager
def running_site(
    folder: Path, feeds: FeedServer, clock: Callable[[], datetime], **settings: Any
) -> Iterator[Site]:
    """The whole calsync app on a fresh SQLite file in ``folder``, served on 127.0.0.1."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = make_settings(f"sqlite:///{folder / 'ui.db'}", server={"port": port}, **settings)
    store = Store.connect(config.database)
    store.upgrade()
    app = create_app(
        store=store, metrics=Metrics(),
        feed_service=FeedService(store, config.feeds, clock=clock), read_log=FeedReadLog(store),
        settings=config, clock=clock,
    )  # fmt: skip
    url, stop = serve_in_thread(app, sock)
    try:
        yield Site(url, store, config, feeds, clock)
    finally:
        stop()
        store.close()
