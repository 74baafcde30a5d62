"""The README's screenshot of the dashboard: ``python tests/ui_screenshot.py [docs/dashboard.png]``.

It uses the browser tests' own harness (``tests/uibrowser.py``): a demo site on
127.0.0.1 (a fresh SQLite file in a temporary folder, feeds from a local feed
server, synced through the real sync code, the clock fixed at 2026-11-15 12:00
UTC) seen in Debian's Chromium. The browser tests run :func:`take` too, so the
script keeps working.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from calsync.feeds import FeedReadLog
from calsync.store.models import ExternalCalendar
from conftest import NOW, calendar
from feedserver import FeedServer
from uibrowser import Site, chromium, log_in, open_page, running_site

if TYPE_CHECKING:
    from datetime import datetime

    from playwright.sync_api import Browser

README_PNG = Path(__file__).parent.parent / "docs" / "dashboard.png"
VIEWPORT = {"width": 1100, "height": 760}
_HTML = b"<!doctype html><html><head><title>Sign in</title></head><body></body></html>"


class _Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


def _stay(uid: str, start: str, end: str, summary: str = "Reserved") -> str:
    return (
        f"UID:{uid}\nDTSTAMP:20261115T120000Z\nDTSTART;VALUE=DATE:{start}\n"
        f"DTEND;VALUE=DATE:{end}\nSUMMARY:{summary}"
    )


def seed_demo(site: Site) -> None:
    """Four products on four channels: a double booking, a broken feed, a stale one, a reader."""
    beach = site.add_product("Beach house")
    airbnb = site.add_calendar(
        beach, "Airbnb", "/beach-airbnb.ics", channel="airbnb.com",
        body=calendar(_stay("a1", "20261120", "20261124"), _stay("a2", "20261201", "20261205")),
    )  # fmt: skip
    booking = site.add_calendar(
        beach, "Booking.com", "/beach-booking.ics", channel="booking.com",
        body=calendar(_stay("b1", "20261203", "20261206")),
    )  # fmt: skip
    google = site.add_calendar(
        beach, "Owner's Google calendar", "/beach-google.ics", channel="google.com",
        body=calendar(_stay("g1", "20261224", "20261228", summary="Family")),
    )  # fmt: skip
    cabin = site.add_product("Mountain cabin")
    vrbo = site.add_calendar(
        cabin, "Vrbo", "/cabin-vrbo.ics", _HTML, channel="vrbo.com", content_type="text/html"
    )
    cabin_airbnb = site.add_calendar(
        cabin, "Airbnb", "/cabin-airbnb.ics", channel="airbnb.com",
        body=calendar(_stay("c1", "20261205", "20261212")),
    )  # fmt: skip
    flat = site.add_product("Harbour flat")
    flat_booking = site.add_calendar(
        flat, "Booking.com", "/flat-booking.ics", channel="booking.com",
        body=calendar(_stay("f1", "20261118", "20261121")),
    )  # fmt: skip
    studio = site.add_product("City studio")
    studio_airbnb = site.add_calendar(
        studio, "Airbnb", "/studio-airbnb.ics", channel="airbnb.com", body=calendar()
    )
    site.sync(airbnb, booking, google, vrbo, cabin_airbnb, flat_booking, studio_airbnb)
    with site.store.write() as session:
        stale = session.get(ExternalCalendar, flat_booking)
        assert stale is not None
        stale.last_synced = NOW - timedelta(hours=30)
    reads = FeedReadLog(site.store)
    reads.record(
        product_id=flat, external_calendar_id=None, user_agent="Airbnb/1.0", status="success",
        read_at=NOW - timedelta(hours=20),
    )  # fmt: skip
    reads.flush()


def take(out: Path, folder: Path, browser: Browser) -> None:
    """Seed the demo site in ``folder`` and save its dashboard as ``out`` (a PNG)."""
    with FeedServer() as feeds, running_site(folder, feeds, _Clock()) as site:
        site.add_user("host")
        seed_demo(site)
        page, watch = open_page(browser, site.url, VIEWPORT)
        log_in(page, site.url, "host")
        page.wait_for_url(site.url + "/")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out, full_page=True)
        page.context.close()
        assert not watch.foreign, watch.foreign


def main() -> None:
    """Write the screenshot to the path given, else ``docs/dashboard.png``."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else README_PNG
    with tempfile.TemporaryDirectory() as folder, chromium() as browser:
        take(out, Path(folder), browser)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
