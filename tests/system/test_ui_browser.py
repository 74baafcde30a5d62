"""The web interface in Debian's Chromium (Playwright): log in, the pages, CSRF, CSP, phones.

Every test routes all of its pages' requests and asserts none left for another
origin, and saves a screenshot of each page it visits under its tmp_path.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect

from calsync.services.journal import EVENT_TYPES
from calsync.services.users import Users
from conftest import calendar
from daemon_process import DaemonProcess, open_store
from receivers import WebhookReceiver
from uibrowser import (
    PASSWORD,
    PHONE,
    chromium,
    log_in,
    no_sideways_scroll,
    open_page,
    running_site,
)

AIRBNB = "PRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n"
BOOKING = "PRODID:-//booking.com//EN\r\n"
HTML_PAGE = b"<!doctype html><html><head><title>Sign in</title></head><body>Log in</body></html>"


def classes(cell) -> str:
    """An element's class attribute."""
    return cell.get_attribute("class") or ""


def stay(uid: str, start: str, end: str, summary: str = "Reserved") -> str:
    return f"UID:{uid}\nDTSTAMP:20261115T120000Z\nDTSTART;VALUE=DATE:{start}\nDTEND;VALUE=DATE:{end}\nSUMMARY:{summary}"


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module's tests (each test opens its own context)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def site(tmp_path, feed_server, clock):
    """The app on 127.0.0.1 with one account, anna."""
    with running_site(tmp_path, feed_server, clock) as running:
        running.add_user("anna")
        yield running


@pytest.fixture
def shot(tmp_path):
    """Save a full-page screenshot as tmp_path/NAME.png."""

    def save(page, name: str) -> None:
        page.screenshot(path=tmp_path / f"{name}.png", full_page=True)

    return save


@pytest.fixture
def beach_house(site):
    """A product with an Airbnb and a Booking.com calendar, synced; they overlap on Dec 3–4.

    Booking.com also re-exports Airbnb's Nov 20–24 stay as an anonymous block: an echo.
    """
    product = site.add_product("Beach house")
    airbnb = site.add_calendar(
        product, "Airbnb", "/airbnb.ics", channel="airbnb.com",
        body=calendar(stay("a1", "20261120", "20261124"), stay("a2", "20261201", "20261205"), head=AIRBNB),
    )  # fmt: skip
    booking = site.add_calendar(
        product, "Booking.com", "/booking.ics", channel="booking.com",
        body=calendar(
            stay("b1", "20261203", "20261206"),
            stay("b2", "20261120", "20261124", summary="CLOSED - Not available"),
            head=BOOKING,
        ),
    )  # fmt: skip
    site.sync(airbnb)
    site.sync(booking)
    return product, airbnb, booking


def test_first_run_setup_url_from_the_daemon_log_makes_the_account(tmp_path, browser, shot):
    """The daemon logs a setup URL when no account exists; it makes the first one and logs in."""
    daemon = DaemonProcess(tmp_path / "calsync.db", env={})
    try:
        url = daemon.wait_for_log("ui.setup_url")["url"]
        assert re.fullmatch(re.escape(daemon.url) + r"/setup/[A-Za-z0-9_-]{43}", url)
        page, watch = open_page(browser, daemon.url)
        page.goto(url)
        shot(page, "setup")
        page.get_by_label("User name").fill("anna")
        page.locator("#password").fill(PASSWORD)
        page.get_by_label("The password again").fill(PASSWORD)
        page.get_by_role("button", name="Make the account and log in").click()
        page.wait_for_url(daemon.url + "/")
        assert "anna" == page.locator(".who").inner_text()
        shot(page, "dashboard-empty")
        spent = page.goto(url)
        assert spent is not None
        assert 404 == spent.status
        assert [] == watch.foreign
    finally:
        daemon.stop()


def test_log_in_and_out_a_wrong_password_refused_and_slowed(site, clock, browser, shot):
    """A wrong password is refused; after 5 the right one waits 30 s; logging out ends it."""
    page, watch = open_page(browser, site.url)
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/login?next=")
    log_in(page, site.url, "anna", "not the password")
    assert "wrong user name or password" in page.get_by_role("alert").inner_text()
    for _ in range(4):
        log_in(page, site.url, "anna", "not the password")
    log_in(page, site.url, "anna")
    assert "too many failed logins: try again in 30 s" in page.get_by_role("alert").inner_text()
    shot(page, "login-slowed")
    clock.now += timedelta(seconds=31)
    log_in(page, site.url, "anna")
    page.wait_for_url(site.url + "/")
    assert "Calendars" == page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(site.url + "/login")
    page.goto(site.url + "/")
    assert page.url.startswith(site.url + "/login")
    assert [] == watch.foreign


def test_a_failing_feed_is_listed_first_with_its_error(site, beach_house, browser, shot):
    """A feed answering an HTML page fails; the dashboard lists it first, with the error."""
    cabin = site.add_product("Mountain cabin")
    broken = site.add_calendar(
        cabin, "Vrbo", "/vrbo.ics", HTML_PAGE, channel="vrbo.com", content_type="text/html"
    )
    site.sync(broken)
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.wait_for_url(site.url + "/")
    shot(page, "dashboard")
    first = page.locator("table.calendars tbody tr").first
    assert "Vrbo" in first.locator("th").inner_text()
    assert "failing" in first.inner_text()
    assert "an HTML page titled 'Sign in'" in first.locator(".error-text").inner_text()
    conflicts = page.get_by_role("region", name=re.compile("Double bookings"))
    assert "Beach house" in conflicts.inner_text()
    assert [] == watch.foreign


def test_filters_by_state_and_product(site, beach_house, browser, shot):
    """The state and product filters narrow the list; they are plain links and a GET form."""
    cabin = site.add_product("Mountain cabin")
    site.sync(site.add_calendar(cabin, "Vrbo", "/vrbo.ics", HTML_PAGE, channel="vrbo.com"))
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    with page.expect_navigation():
        page.get_by_role("link", name="failing 1").click()
    rows = page.locator("table.calendars tbody tr")
    assert 1 == rows.count()
    assert "Mountain cabin" in rows.first.inner_text()
    page.get_by_label("State", exact=True).select_option("")
    page.get_by_label("Product name contains").fill("beach")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    assert ["Airbnb", "Booking.com"] == sorted(rows.locator("th").all_inner_texts())
    shot(page, "dashboard-filtered")
    assert [] == watch.foreign


def test_paging_through_many_calendars(site, browser, shot):
    """120 calendars: 50 a page, Next and Previous links, every calendar once."""
    product = site.add_product("Hotel")
    for n in range(120):
        site.add_calendar(product, f"room {n:03}", f"/room{n}.ics", b"", channel="booking.com")
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    seen = []
    for number in (1, 2, 3):
        assert f"Page {number} of 3" in page.locator(".pager").inner_text()
        seen += page.locator("table.calendars tbody th").all_inner_texts()
        if number < 3:
            with page.expect_navigation():
                page.get_by_role("link", name="Next →").click()
    shot(page, "dashboard-page-3")
    assert [f"room {n:03}" for n in range(120)] == seen
    with page.expect_navigation():
        page.get_by_role("link", name="← Previous").click()
    assert "Page 2 of 3" in page.locator(".pager").inner_text()
    assert [] == watch.foreign


def test_the_timeline_shows_stays_echoes_and_a_double_booking_in_red(
    site, beach_house, browser, shot
):
    """Imported stays are coloured by channel, the echo is marked, the overlap is red."""
    product, _, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/products/{product}")
    shot(page, "product")
    nights = page.locator(".timeline thead tr").nth(1).locator("th.day")
    assert 90 == nights.count()
    airbnb_row = page.locator(".timeline tbody tr", has_text="Airbnb").locator("td")
    booking_row = page.locator(".timeline tbody tr", has_text="Booking.com").locator("td")
    # The timeline starts on Nov 15: Nov 20 is cell 5, Dec 3 cell 18.
    assert "n ch-airbnb" == classes(airbnb_row.nth(5))
    assert "echo" in classes(booking_row.nth(5))
    for cell in (airbnb_row.nth(18), booking_row.nth(18), booking_row.nth(19)):
        assert "conflict" in classes(cell)
        assert "rgb(208, 2, 27)" == cell.evaluate("c => getComputedStyle(c).backgroundColor")
    assert "conflict" not in classes(booking_row.nth(20))
    assert "n" == classes(airbnb_row.nth(4))  # Nov 19: free
    assert [] == watch.foreign


def test_a_held_deletion_is_marked_on_the_timeline(site, browser, shot):
    """A feed that drops most stays at once has its deletions held: marked 'h'."""
    product = site.add_product("Beach house")
    stays = [stay(f"s{n}", f"202612{n:02}", f"202612{n + 1:02}") for n in (1, 3, 5, 7)]
    airbnb = site.add_calendar(
        product, "Airbnb", "/airbnb.ics", calendar(*stays, head=AIRBNB), channel="airbnb.com"
    )
    site.sync(airbnb)
    site.feeds.serve("/airbnb.ics", calendar(stays[0], head=AIRBNB))
    site.sync(airbnb)
    assert site.calendar(airbnb).held_since is not None
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/products/{product}")
    shot(page, "product-held")
    row = page.locator(".timeline tbody tr", has_text="Airbnb").locator("td")
    assert "held" not in classes(row.nth(16))  # Dec 1: still in the feed
    assert "held" in classes(row.nth(18))  # Dec 3: dropped, held
    assert "h" == row.nth(18).inner_text()[0]
    assert [] == watch.foreign


def test_copy_buttons_hold_each_channels_export_url(site, beach_house, browser):
    """Each calendar's export URL leaves out its own imports; the Copy button copies it."""
    product, airbnb, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/products/{product}")
    field = page.get_by_label("For Airbnb", exact=True)
    url = field.input_value()
    assert re.fullmatch(re.escape(site.url) + rf"/ical/[A-Za-z0-9_-]+\.ics\?exclude={airbnb}", url)
    whole = page.get_by_label(re.compile("^Whole feed")).input_value()
    assert url.startswith(whole + "?exclude=")
    assert "Airbnb: Listing → Calendar" in page.locator(".export", has=field).inner_text()
    button = page.locator(f"button[data-copy='export-{airbnb}']")
    assert button.is_visible()
    button.click()
    expect(button).to_have_text("Copied")  # once the clipboard took it
    assert url == page.evaluate("navigator.clipboard.readText()")
    assert [] == watch.foreign


def test_a_form_post_without_the_csrf_token_is_refused(site, browser, shot):
    """The logout form without its csrftoken field answers 403 and the session stays."""
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.wait_for_url(site.url + "/")
    page.evaluate("document.querySelector('form.logout input[name=csrftoken]').remove()")
    with page.expect_response(site.url + "/logout") as answer:
        page.get_by_role("button", name="Log out").click()
    assert 403 == answer.value.status
    assert "could not be checked" in page.content()
    shot(page, "csrf-refused")
    page.goto(site.url + "/")
    assert site.url + "/" == page.url  # still logged in
    assert [] == watch.foreign


def test_no_request_leaves_the_server_and_pages_carry_a_strict_csp(
    site, beach_house, browser, shot
):
    """Every page loads only from its own origin, under a CSP that allows nothing else."""
    product, airbnb, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    for path in ("/", f"/products/{product}", f"/calendars/{airbnb}"):
        answer = page.goto(site.url + path)
        assert answer is not None
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "nosniff" == answer.headers["x-content-type-options"]
        shot(page, "csp" + path.replace("/", "-"))
    assert any(url.endswith(".css?v=" + url.rsplit("=", 1)[-1]) for url in watch.requests)
    assert any("/static/calsync.js" in url for url in watch.requests)
    assert [] == watch.foreign


def test_a_phone_never_scrolls_sideways(site, beach_house, browser, shot):
    """At 390 px wide no page is wider than the screen; the timeline scrolls in its box."""
    product, airbnb, _ = beach_house
    cabin = site.add_product("Mountain cabin with a very long name that goes on and on")
    site.sync(site.add_calendar(cabin, "Vrbo", "/vrbo.ics", HTML_PAGE, channel="vrbo.com"))
    page, watch = open_page(browser, site.url, viewport=PHONE)
    page.goto(site.url + "/login")
    assert no_sideways_scroll(page)
    shot(page, "phone-login")
    log_in(page, site.url, "anna")
    for name, path in (
        ("phone-dashboard", "/"),
        ("phone-product", f"/products/{product}"),
        ("phone-calendar", f"/calendars/{airbnb}"),
    ):
        page.goto(site.url + path)
        shot(page, name)
        assert no_sideways_scroll(page), path
    page.goto(f"{site.url}/products/{product}")
    timeline = page.locator(".timeline")
    assert timeline.evaluate("t => t.scrollWidth > t.clientWidth")
    assert [] == watch.foreign


def test_the_readme_screenshot_script_makes_its_png(tmp_path, browser):
    """tests/ui_screenshot.py seeds its demo site and saves the dashboard as a PNG."""
    from ui_screenshot import take

    out = tmp_path / "dashboard.png"
    take(out, tmp_path, browser)
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --- phase 2: what a host changes from the browser -------------------------------------


def cheap_user(store, username: str) -> None:
    """An account hashed cheaply (the tests check the rules, not argon2's cost)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    Users(store, hasher=cheap).add(username, PASSWORD)


def notice_text(page: Page) -> str:
    """The notice a write left on the page it led to."""
    return page.locator("p.notice.done").inner_text()


def test_a_host_starts_from_nothing_product_calendar_dry_run_sync_now(
    tmp_path, feed_server, browser, shot
):
    """Empty calsync: add a product, a calendar after its dry run, Sync now; the stays show."""
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).date()  # the timeline's first night

    def day(n: int) -> str:
        return f"{today + timedelta(days=n):%Y%m%d}"

    feed_server.serve("/airbnb.ics", calendar(
        stay("s1", day(3), day(6)), stay("s2", day(10), day(12)),
        f"UID:gone\nSTATUS:CANCELLED\nDTSTART;VALUE=DATE:{day(20)}\nDTEND;VALUE=DATE:{day(22)}",
        head=AIRBNB,
    ))  # fmt: skip
    daemon = DaemonProcess(tmp_path / "calsync.db", env={})
    try:
        store = open_store(daemon.database_url)
        cheap_user(store, "anna")
        store.close()
        page, watch = open_page(browser, daemon.url)
        log_in(page, daemon.url, "anna")
        page.wait_for_url(daemon.url + "/")
        with page.expect_navigation():
            page.get_by_role("link", name="Add a product").click()
        page.get_by_label("Name").fill("Beach house")
        page.get_by_label("Timezone").fill("Europe/Amsterdam")
        page.get_by_label("Capacity (units)").fill("1")
        shot(page, "product-new")
        with page.expect_navigation():
            page.get_by_role("button", name="Add the product").click()
        assert "Added Beach house." in notice_text(page)
        product_url = page.url
        with page.expect_navigation():
            page.get_by_role("link", name="Add a calendar").click()
        page.get_by_label("Feed URL").fill(feed_server.url("/airbnb.ics"))
        page.get_by_label("Name", exact=True).fill("Airbnb")
        with page.expect_navigation():
            page.get_by_role("button", name="Preview (dry run)").click()
        shot(page, "calendar-dry-run")
        assert "it would import 2 blocks" in page.get_by_role("heading", level=2).first.inner_text()
        assert "gone: cancelled" in page.locator(".skipped").inner_text()
        assert 1 == feed_server.hits("/airbnb.ics")  # the dry run fetched it; nothing is saved yet
        with page.expect_navigation():
            page.get_by_role("button", name="Save the calendar").click()
        assert "Calendar added." in notice_text(page)
        page.get_by_role("button", name="Sync now").click()
        expect(page.locator(".sync-state")).to_have_text("Syncing…")
        page.wait_for_url(re.compile(r"\?run="), timeout=30_000)
        shot(page, "calendar-synced")
        assert re.search(r"^Synced .*: (changed|unchanged|not modified), ", notice_text(page))
        page.goto(product_url)
        shot(page, "product-synced")
        row = page.locator(".timeline tbody tr", has_text="Airbnb").locator("td")
        assert "ch-other" in classes(row.nth(3))  # tomorrow + 2: the first stay
        assert "ch-other" not in classes(row.nth(6))  # its check-out day is free
        assert "ch-other" in classes(row.nth(10))
        assert [] == watch.foreign
    finally:
        daemon.stop()


def test_a_held_deletion_is_released_after_seeing_what_goes(site, browser, shot):
    """The calendar page links to the held bookings; releasing them deletes them and says so."""
    product = site.add_product("Beach house")
    stays = [stay(f"s{n}", f"202612{n:02}", f"202612{n + 1:02}") for n in (1, 3, 5, 7)]
    airbnb = site.add_calendar(
        product, "Airbnb", "/airbnb.ics", calendar(*stays, head=AIRBNB), channel="airbnb.com"
    )
    site.sync(airbnb)
    site.feeds.serve("/airbnb.ics", calendar(stays[0], head=AIRBNB))
    site.sync(airbnb)
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/calendars/{airbnb}")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("See what would be deleted")).click()
    shot(page, "release")
    listed = page.locator("table.held tbody th").all_inner_texts()
    assert [
        "Thu 3 Dec 2026 → Fri 4 Dec 2026, 1 night",
        "Sat 5 Dec 2026 → Sun 6 Dec 2026, 1 night",
        "Mon 7 Dec 2026 → Tue 8 Dec 2026, 1 night",
    ] == listed
    with page.expect_navigation():
        page.get_by_role("button", name="Delete these 3 bookings").click()
    assert "Released: 3 bookings deleted." == notice_text(page)
    assert site.calendar(airbnb).held_since is None
    page.goto(f"{site.url}/products/{product}")
    row = page.locator(".timeline tbody tr", has_text="Airbnb").locator("td")
    assert "ch-airbnb" not in classes(row.nth(18))  # Dec 3: gone
    assert [] == watch.foreign


def test_editing_a_calendar_a_bad_url_says_why_a_good_one_saves(site, beach_house, browser, shot):
    """A URL the API refuses keeps the input with the reason next to it; a good one is saved."""
    _, airbnb, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/calendars/{airbnb}")
    with page.expect_navigation():
        page.get_by_role("link", name="Edit", exact=True).click()
    url = page.get_by_label("Feed URL")
    assert site.feeds.url("/airbnb.ics") == url.input_value()
    url.fill("http://0..0/x.ics")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    shot(page, "calendar-edit-refused")
    assert "http://0..0/x.ics" == url.input_value()
    assert "true" == url.get_attribute("aria-invalid")
    assert "host '0..0' has an empty label" in page.locator("#ical_url-error").inner_text()
    url.fill(site.feeds.url("/airbnb-2.ics"))
    page.get_by_label("Time offset (hours)").fill("2")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert "Saved. The new URL is synced now." == notice_text(page)
    changed = site.calendar(airbnb)
    assert (site.feeds.url("/airbnb-2.ics"), 2) == (changed.ical_url, changed.time_offset)
    assert [] == watch.foreign


def test_removing_a_calendar_says_how_many_bookings_go(site, beach_house, browser, shot):
    """The confirmation says how many imported bookings go; removing does it and says so."""
    product, airbnb, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/calendars/{airbnb}")
    with page.expect_navigation():
        page.get_by_role("link", name="Remove…").click()
    shot(page, "calendar-remove")
    assert "2 bookings imported from it go with it" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Remove the calendar and 2 bookings").click()
    assert f"{site.url}/products/{product}" == page.url
    assert "Removed Airbnb and the 2 bookings imported from it." == notice_text(page)
    assert 1 == page.locator(".timeline tbody tr", has_text="Booking.com").count()
    assert 0 == page.locator(".timeline tbody tr", has_text="Airbnb").count()
    assert [] == watch.foreign


def test_a_direct_booking_is_refused_readably_then_one_is_made_and_cancelled(
    site, beach_house, browser, shot
):
    """Dec 2–4 is taken by Airbnb's stay: named with its dates; Dec 10–12 is booked, then cancelled."""
    product, _, _ = beach_house
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/products/{product}")
    page.get_by_label("Check-in").fill("2026-12-02")
    page.get_by_label("Check-out").fill("2026-12-04")
    page.get_by_label("Summary").fill("Owner stay")
    with page.expect_navigation():
        page.get_by_role("button", name="Book", exact=True).click()
    shot(page, "booking-refused")
    refused = page.get_by_role("alert")
    assert "Not booked: 2 nights not available" in refused.inner_text()
    assert "Wed 2 Dec 2026 – Thu 3 Dec 2026 (2 nights)" in refused.inner_text()
    assert "Airbnb: Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights" in refused.inner_text()
    assert "Booking.com: Thu 3 Dec 2026 → Sun 6 Dec 2026, 3 nights" in refused.inner_text()
    assert "Owner stay" == page.get_by_label("Summary").input_value()
    page.get_by_label("Check-in").fill("2026-12-10")
    page.get_by_label("Check-out").fill("2026-12-12")
    with page.expect_navigation():
        page.get_by_role("button", name="Book", exact=True).click()
    assert "Booked Thu 10 Dec 2026 → Sat 12 Dec 2026, 2 nights." == notice_text(page)
    shot(page, "product-booked")
    bookings = page.locator("table.bookings tbody tr")
    assert "change it on Airbnb" in bookings.filter(has_text="Airbnb").first.inner_text()
    mine = bookings.filter(has_text="Owner stay")
    with page.expect_navigation():
        mine.get_by_role("link", name="Cancel…").click()
    shot(page, "booking-cancel")
    with page.expect_navigation():
        page.get_by_role("button", name="Cancel the booking").click()
    assert notice_text(page).startswith("Cancelled the booking Thu 10 Dec 2026")
    assert 0 == page.locator("table.bookings tbody tr", has_text="Owner stay").count()
    assert [] == watch.foreign


def test_the_add_product_form_works_from_the_keyboard_and_needs_its_token(site, browser, shot):
    """Tab through the form and press Enter: the product is added. Without its token: 403."""
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(site.url + "/products/new")
    page.get_by_label("Name").focus()
    page.keyboard.type("Cabin")
    page.keyboard.press("Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Europe/Oslo")
    page.keyboard.press("Tab")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("2")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Added Cabin." in notice_text(page)
    assert "Timezone Europe/Oslo · capacity 2 units" in page.locator(".meta").inner_text()
    page.goto(site.url + "/products/new")
    page.evaluate("document.querySelector('main form input[name=csrftoken]').remove()")
    page.get_by_label("Name").fill("Not added")
    with page.expect_response(site.url + "/products") as answer:
        page.get_by_role("button", name="Add the product").click()
    assert 403 == answer.value.status
    shot(page, "product-csrf-refused")
    page.goto(site.url + "/")
    assert "Not added" not in page.content()
    assert [] == watch.foreign


def test_the_new_pages_fit_a_phone(site, beach_house, browser, shot):
    """At 390 px wide none of the forms and confirmations scrolls sideways."""
    product, airbnb, _ = beach_house
    site.feeds.serve("/new.ics", calendar(stay("n1", "20261210", "20261212"), head=AIRBNB))
    cabin = site.add_product("Mountain cabin with a very long name that goes on and on")
    stays = [stay(f"s{n}", f"202612{n:02}", f"202612{n + 1:02}") for n in (1, 3, 5)]
    held = site.add_calendar(
        cabin, "Vrbo", "/vrbo.ics", calendar(*stays, head=AIRBNB), channel="vrbo.com"
    )
    site.sync(held)
    site.feeds.serve("/vrbo.ics", calendar(stays[0], head=AIRBNB))
    site.sync(held)
    page, watch = open_page(browser, site.url, viewport=PHONE)
    log_in(page, site.url, "anna")
    for name, path in (
        ("phone-product-new", "/products/new"),
        ("phone-product-edit", f"/products/{product}/edit"),
        ("phone-calendar-new", f"/products/{product}/calendars/new"),
        ("phone-calendar-edit", f"/calendars/{airbnb}/edit"),
        ("phone-calendar-remove", f"/calendars/{airbnb}/remove"),
        ("phone-calendar-held", f"/calendars/{held}"),
        ("phone-calendar-release", f"/calendars/{held}/release"),
        ("phone-booking-new", f"/products/{product}/bookings/new"),
    ):
        page.goto(site.url + path)
        shot(page, name)
        assert no_sideways_scroll(page), path
    page.goto(f"{site.url}/products/{product}/calendars/new")
    page.get_by_label("Feed URL").fill(site.feeds.url("/new.ics"))
    with page.expect_navigation():
        page.get_by_role("button", name="Preview (dry run)").click()
    shot(page, "phone-calendar-dry-run")
    assert no_sideways_scroll(page), "dry run"
    page.goto(f"{site.url}/products/{product}/bookings/new")
    page.get_by_label("Check-in").fill("2026-12-02")
    page.get_by_label("Check-out").fill("2026-12-04")
    with page.expect_navigation():
        page.get_by_role("button", name="Book", exact=True).click()
    shot(page, "phone-booking-refused")
    assert no_sideways_scroll(page), "refused booking"
    page.get_by_label("Check-in").fill("2026-12-10")
    page.get_by_label("Check-out").fill("2026-12-12")
    with page.expect_navigation():
        page.get_by_role("button", name="Book", exact=True).click()
    shot(page, "phone-product-booked")
    assert no_sideways_scroll(page), "product with a booking"
    with page.expect_navigation():
        page.get_by_role("link", name="Cancel…").click()
    shot(page, "phone-booking-cancel")
    assert no_sideways_scroll(page), "cancel"
    assert [] == watch.foreign


# --- phase 3: what each sync run changed; alerts and webhooks ---------------------------


def test_the_calendar_page_shows_what_a_sync_changed(site, browser, shot):
    """After a sync that moved, deleted and added stays, its run lists them; older runs expand."""
    product = site.add_product("Beach house")
    airbnb = site.add_calendar(
        product, "Airbnb", "/airbnb.ics", channel="airbnb.com",
        body=calendar(stay("a", "20261201", "20261205"), stay("b", "20261210", "20261212"),
                      stay("c", "20261218", "20261220"), head=AIRBNB),
    )  # fmt: skip
    site.sync(airbnb)
    site.feeds.serve("/airbnb.ics", calendar(
        stay("a", "20261202", "20261205"), stay("c", "20261218", "20261220"),
        stay("d", "20261227", "20261230"), head=AIRBNB,
    ))  # fmt: skip
    site.sync(airbnb)
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.goto(f"{site.url}/calendars/{airbnb}")
    shot(page, "calendar-journal")
    newest, first = page.locator("tr.run-changes").all()
    assert "What it changed: 3 bookings" in newest.locator("summary").inner_text()
    assert [
        "changed: was Tue 1 Dec 2026 → Sat 5 Dec 2026, 4 nights; now Wed 2 Dec 2026 → Sat 5 Dec 2026, 3 nights",
        "deleted: Thu 10 Dec 2026 → Sat 12 Dec 2026, 2 nights",
        "added: Sun 27 Dec 2026 → Wed 30 Dec 2026, 3 nights",
    ] == newest.locator(".changes li").all_inner_texts()
    assert not first.locator(".changes").is_visible()  # closed until asked
    first.locator("summary").click()
    assert 3 == first.locator(".changes li").count()
    assert first.locator(".changes li").first.is_visible()
    shot(page, "calendar-journal-expanded")
    assert [] == watch.foreign


def test_add_an_endpoint_then_send_a_test_to_a_local_receiver(site, browser, shot):
    """From the header: add an endpoint (its secret shown once), send a test, see it delivered."""
    page, watch = open_page(browser, site.url)
    log_in(page, site.url, "anna")
    page.wait_for_url(site.url + "/")
    with page.expect_navigation():
        page.get_by_role("link", name="Alerts and webhooks").click()
    assert "page" == page.get_by_role("link", name="Alerts and webhooks").get_attribute(
        "aria-current"
    )
    with WebhookReceiver() as receiver:
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("booking.created").check()
        page.get_by_label("conflict.detected").check()
        page.get_by_label("Description").fill("Our channel manager")
        with page.expect_navigation():
            page.get_by_role("button", name="Add the endpoint").click()
        shot(page, "alerts-added")
        receiver.secret = page.get_by_label("Signing secret").input_value()
        assert receiver.secret.startswith("whsec_")
        assert "shown only this once" in page.locator(".secret").inner_text()
        endpoint = page.locator("article.endpoint")
        assert "booking.created, conflict.detected" in endpoint.inner_text()
        with page.expect_navigation():
            endpoint.get_by_role("button", name="Send a test").click()
        said = notice_text(page)
        shot(page, "alerts-tested")
        [received] = receiver.received
    assert said.startswith(f"Test event delivered to {receiver.url}: HTTP 200 in ")
    assert received.verified
    assert "test" == received.json["type"]
    row = page.locator("table.deliveries tbody tr").first
    assert ["test", "delivered", "200"] == [
        row.locator(f"[data-label={label}]").inner_text()
        for label in ("Event", "Status", "Response")
    ]
    page.reload()
    assert 0 == page.locator(".secret").count()  # not shown again
    assert receiver.secret not in page.content()
    assert [] == watch.foreign


def test_the_alerts_page_fits_a_phone_and_its_forms_work_from_the_keyboard(
    tmp_path, feed_server, clock, browser, shot
):
    """At 390 px nothing scrolls sideways; an endpoint is added by keyboard, switched off, removed."""
    notify = ["mailtos://owner:hunter2secret@mail.example.com?to=owner@example.com",
              "tgram://123456:AAbottokenAA/987654"]  # fmt: skip
    with (
        running_site(tmp_path, feed_server, clock, alerts={"notify": json.dumps(notify)}) as site,
        WebhookReceiver(default=500) as receiver,
    ):
        site.add_user("anna")
        page, watch = open_page(browser, site.url, viewport=PHONE)
        log_in(page, site.url, "anna")
        page.goto(site.url + "/alerts")
        assert no_sideways_scroll(page)
        shot(page, "phone-alerts-empty")
        page.get_by_label("URL").focus()
        page.keyboard.type(receiver.url + "/a-long-path/3f9a8c27d1e04b6a9c0d5e7f1a2b3c4d")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # ticks the first event type
        for _ in EVENT_TYPES:
            page.keyboard.press("Tab")
        page.keyboard.type("Reached by keyboard")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "booking.created" == page.locator("article.endpoint dd").nth(1).inner_text()
        shot(page, "phone-alerts-added")
        assert no_sideways_scroll(page), "the secret"
        with page.expect_navigation():
            page.get_by_role("button", name="Send a test").click()
        assert "HTTP 500" in page.get_by_role("alert").inner_text()
        shot(page, "phone-alerts-failed")
        assert no_sideways_scroll(page), "a failed delivery"
        text = page.locator("main").inner_text()
        assert "mailtos://…@mail.example.com" in text
        assert "tgram://…" in text
        assert "hunter2secret" not in page.content()
        assert "AAbottokenAA" not in page.content()
        with page.expect_navigation():
            page.get_by_role("button", name="Switch off").click()
        assert "is switched off" in notice_text(page)
        assert 0 == page.get_by_role("button", name="Send a test").count()
        with page.expect_navigation():
            page.get_by_role("link", name="Remove…").click()
        shot(page, "phone-endpoint-remove")
        assert no_sideways_scroll(page), "remove"
        with page.expect_navigation():
            page.get_by_role("button", name="Remove the endpoint").click()
        assert notice_text(page).startswith("Removed the webhook endpoint")
        assert "No webhook endpoint yet." in page.locator("main").inner_text()
        assert [] == watch.foreign
