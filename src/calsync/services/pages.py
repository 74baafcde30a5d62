"""What each page of the web interface shows, gathered from the store and the reports.

The route handlers call one function per page and render its answer; the SQL is
in :mod:`calsync.store.overview` and the rules in :mod:`calsync.reports` and
:mod:`calsync.core.availability`, so a page computes nothing of its own.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from calsync import reports
from calsync.channels import PASTE_STEPS, channel
from calsync.core.availability import Graph, Occupant, nights_of
from calsync.core.feed_path import feed_path
from calsync.errors import NotFound
from calsync.redact import redact_target, redact_url
from calsync.services import webhooks
from calsync.services.context import iso
from calsync.services.history import changes_of_runs
from calsync.services.journal import EVENT_TYPES
from calsync.services.views import shown_secret
from calsync.store import bookings as stored_bookings
from calsync.store import calendars as stored_calendars
from calsync.store import history, overview
from calsync.store import products as stored_products
from calsync.store import webhooks as stored_webhooks
from calsync.store.overview import STATES

if TYPE_CHECKING:
    from collections.abc import Callable

    from calsync.config import Settings
    from calsync.store.db import Store
    from calsync.store.history import FeedReader
    from calsync.store.models import Booking, WebhookEndpoint

__all__ = ["PAGE_SIZE", "STATES", "TIMELINE_NIGHTS", "Pages", "StaleReaders"]

PAGE_SIZE = 50
TIMELINE_NIGHTS = 90
BOOKINGS_LISTED = 100
"""The product page lists this many bookings, from today on."""
BARE_PRODUCTS = 20
"""The dashboard names this many products that have no calendar yet."""
RUNS_LISTED = 20
"""The calendar page lists this many sync runs, newest first."""
CHANGES_SHOWN = 10
"""Each of them shows this many of its changes; the rest are counted."""
DELIVERIES_SHOWN = 10
"""The alerts page shows this many of each endpoint's newest deliveries, and of the alerts'."""
_READERS_INTERVAL = timedelta(minutes=1)


class StaleReaders:
    """Channels that stopped reading a feed, every product's, looked up at most once a minute.

    Finding them reads the whole feed-read log (every read of the last
    ``sync.history_days``); staleness is measured in hours, so a minute's lag is nothing.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._after = timedelta(hours=settings.feeds.stale_reader_hours)
        self._found: tuple[datetime, list[FeedReader]] | None = None
        self._lock = threading.Lock()

    def at(self, now: datetime) -> list[FeedReader]:
        """The stale readers as of ``now`` (or of up to a minute before)."""
        with self._lock:
            if self._found is not None and now - self._found[0] < _READERS_INTERVAL:
                return self._found[1]
        with self._store.read() as session:
            readers = history.feed_readers(session)
        stale = [reader for reader in readers if reader.is_stale(now=now, after=self._after)]
        with self._lock:
            self._found = (now, stale)
        return stale


@dataclass
class Pages:
    """The data of every page, from one store and one set of settings."""

    store: Store
    settings: Settings
    conflicts: reports.ConflictCache
    clock: Callable[[], datetime]
    readers: StaleReaders = field(init=False)

    def __post_init__(self) -> None:
        self.readers = StaleReaders(self.store, self.settings)

    @property
    def _base(self) -> str:
        return self.settings.server.base_url

    def dashboard(self, *, product: str, state: str | None, page: int) -> dict[str, Any]:
        """Every calendar's health (one page of it), open conflicts and stale readers."""
        now = self.clock()
        with self.store.read() as session:
            found = overview.calendar_states(
                session,
                now=now,
                stale_after=timedelta(hours=self.settings.ui.stale_after_hours),
                product=product,
                state=state,
                offset=(page - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
            by_product = self.conflicts.of_products(
                session, stored_products.product_ids(session), now=now
            )
            conflicts = [c for listed in by_product.values() for c in listed]
            stale = self.readers.at(now)
            names = overview.product_names(
                session,
                {r.product_id for r in stale} | {uuid.UUID(c["product_id"]) for c in conflicts},
            )
            bare = overview.products_without_calendars(session, limit=BARE_PRODUCTS + 1)
        return {
            "now": now,
            "rows": [{**_as_dict(row), "channel": channel(row.tld)} for row in found.rows],
            "total": found.total,
            "counts": found.counts,
            "states": STATES,
            "product": product,
            "state": state,
            "page": page,
            "pages": max(1, math.ceil(found.total / PAGE_SIZE)),
            "conflicts": [
                {**c, "product_name": names.get(uuid.UUID(c["product_id"]), "")} for c in conflicts
            ],
            "stale_readers": [
                {"reader": r, "product_name": names.get(r.product_id, "")} for r in stale
            ],
            "bare_products": bare[:BARE_PRODUCTS],
            "more_bare_products": len(bare) > BARE_PRODUCTS,
        }

    def product(self, product_id: uuid.UUID) -> dict[str, Any]:
        """A product: its timeline, availability, feed URLs and who reads them."""
        now = self.clock()
        with self.store.read() as session:
            product = stored_products.get_product(session, product_id)
            zone = ZoneInfo(product.timezone)
            first = now.astimezone(zone).date()
            last = first + timedelta(days=TIMELINE_NIGHTS)
            calendars = overview.product_calendars(session, product_id)
            bookings = overview.timeline_bookings(
                session, product_id, since=_midnight(first, -1), until=_midnight(last, 1)
            )
            linked = overview.is_linked(session, product_id)
            group = Graph.of(stored_products.dependency_links(session)).group(product_id)
            found = self.conflicts.of_products(session, sorted(group, key=str), now=now)
            available = (
                reports.availability(session, product_id, first, last)
                if linked or product.capacity > 1
                else None
            )
            readers = history.feed_readers(session, product_id=product_id)
            upcoming = overview.upcoming_bookings(
                session, product_id, since=now, limit=BOOKINGS_LISTED + 1
            )
        nights = [first + timedelta(days=n) for n in range(TIMELINE_NIGHTS)]
        red = _conflict_nights([c for listed in found.values() for c in listed])
        rows = [
            _timeline_row(
                name=calendar.name, key=channel(calendar.tld)[0], label=channel(calendar.tld)[1],
                calendar_id=calendar.id,
                bookings=[b for b in bookings if b.external_calendar_id == calendar.id],
                product_id=product_id, timezone=product.timezone, nights=nights, red=red,
            )
            for calendar in calendars
        ]  # fmt: skip
        rows.append(
            _timeline_row(
                name="Direct bookings", key="direct", label="direct", calendar_id=None,
                bookings=[b for b in bookings if b.external_calendar_id is None],
                product_id=product_id, timezone=product.timezone, nights=nights, red=red,
            )
        )  # fmt: skip
        after = timedelta(hours=self.settings.feeds.stale_reader_hours)
        names = {calendar.id: calendar.name for calendar in calendars}
        sources = {calendar.id: (calendar.name, calendar.tld) for calendar in calendars}
        return {
            "now": now,
            "product": product,
            "bookings": [_booking_line(booking, sources) for booking in upcoming[:BOOKINGS_LISTED]],
            "more_bookings": len(upcoming) > BOOKINGS_LISTED,
            "several_units": linked or product.capacity > 1,
            "nights": nights,
            "months": _months(nights),
            "rows": rows,
            "availability": available,
            "has_conflicts": any(cell["conflict"] for row in rows for cell in row["cells"]),
            "feed_url": self._base + feed_path(product.feed_token),
            "exports": [
                {
                    "calendar": calendar,
                    "channel": channel(calendar.tld),
                    "url": self._base + feed_path(product.feed_token, exclude=calendar.id),
                    "steps": PASTE_STEPS.get(channel(calendar.tld)[0]),
                }
                for calendar in calendars
            ],
            "paste_steps": PASTE_STEPS,
            "readers": [
                {
                    "reader": reader,
                    "calendar_name": names.get(reader.external_calendar_id)
                    if reader.external_calendar_id
                    else None,
                    "stale": reader.is_stale(now=now, after=after),
                }
                for reader in readers
            ],
        }

    def calendar(
        self, calendar_id: uuid.UUID, *, run_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        """A calendar: its status fields, export URL and last sync runs with what each changed.

        ``run_id`` names a run whose outcome the page announces (a sync just finished);
        what it changed is shown open, else what the newest run that changed something did.
        """
        now = self.clock()
        with self.store.read() as session:
            calendar = stored_calendars.get_calendar(session, calendar_id)
            product = stored_products.get_product(session, calendar.product_id)
            state = overview.calendar_state(
                session,
                calendar_id,
                now=now,
                stale_after=timedelta(hours=self.settings.ui.stale_after_hours),
            )
            runs = history.recent_runs(session, calendar_id, limit=RUNS_LISTED)
            changes = changes_of_runs(session, [run.id for run in runs], per_run=CHANGES_SHOWN)
        key = channel(calendar.tld)[0]
        return {
            "now": now,
            "calendar": calendar,
            "product": product,
            "state": state,
            "channel": channel(calendar.tld),
            "url": redact_url(calendar.ical_url),
            "export_url": self._base + feed_path(product.feed_token, exclude=calendar.id),
            "steps": PASTE_STEPS.get(key),
            "runs": runs,
            "changes": changes,
            "open_run": run_id
            if run_id in changes
            else next((run.id for run in runs if run.id in changes), None),
            "finished": next((run for run in runs if run.id == run_id), None),
        }

    def alerts(self, *, created: WebhookEndpoint | None = None) -> dict[str, Any]:
        """Webhook endpoints with their newest deliveries; alert targets (redacted) and settings.

        ``created``: an endpoint just added, whose secret the page shows this once.
        """
        with self.store.read() as session:
            endpoints = webhooks.listed(session)
            deliveries = {
                endpoint.id: webhooks.recent_deliveries(
                    session, endpoint.id, limit=DELIVERIES_SHOWN
                )
                for endpoint in endpoints
            }
            sent = stored_webhooks.deliveries(session, None, limit=DELIVERIES_SHOWN)
        return {
            "now": self.clock(),
            "endpoints": [
                {**_endpoint_line(endpoint), "deliveries": deliveries[endpoint.id]}
                for endpoint in endpoints
            ],
            "created": None if created is None else _endpoint_line(created),
            "event_types": EVENT_TYPES,
            "targets": [redact_target(url) for url in self.settings.alerts.notify],
            "alert_settings": self.settings.alerts,
            "alerts_sent": sent,
        }

    def endpoint(self, endpoint_id: uuid.UUID) -> dict[str, Any]:
        """A webhook endpoint as the alerts page shows it, for the page that removes it."""
        with self.store.read() as session:
            endpoint = webhooks.get(session, endpoint_id)
        return _endpoint_line(endpoint)

    def calendar_status(self, calendar_id: uuid.UUID) -> dict[str, Any]:
        """What a page waiting for a sync polls: whether one is asked for, and the last run."""
        with self.store.read() as session:
            calendar = stored_calendars.get_calendar(session, calendar_id)
            runs = history.recent_runs(session, calendar_id, limit=1)
        last = runs[0] if runs else None
        return {
            "id": str(calendar.id),
            "sync_requested_at": _json_time(calendar.sync_requested_at),
            "last_synced": _json_time(calendar.last_synced),
            "error": calendar.error,
            "last_run": None
            if last is None
            else {
                "id": str(last.id),
                "started_at": _json_time(last.started_at),
                "outcome": last.outcome,
                "http_status": last.http_status,
                "inserted": last.inserted,
                "updated": last.updated,
                "deleted": last.deleted,
                "held_deletes": last.held_deletes,
                "skipped": last.skipped,
                "error": last.error,
            },
        }

    def calendar_form(self, calendar_id: uuid.UUID) -> dict[str, Any]:
        """A calendar with its product, for the forms that change or remove it.

        ``imported`` is how many bookings were imported from it: what removing it deletes.
        """
        with self.store.read() as session:
            calendar = stored_calendars.get_calendar(session, calendar_id)
            product = stored_products.get_product(session, calendar.product_id)
            imported = stored_calendars.count_imported(session, calendar_id)
        return {
            "calendar": calendar,
            "product": product,
            "channel": channel(calendar.tld),
            "imported": imported,
        }

    def held(self, calendar_id: uuid.UUID) -> dict[str, Any]:
        """A calendar's bookings whose deletion is held: what releasing them deletes."""
        with self.store.read() as session:
            calendar = stored_calendars.get_calendar(session, calendar_id)
            product = stored_products.get_product(session, calendar.product_id)
            bookings = overview.held_bookings(session, calendar_id)
        return {"calendar": calendar, "product": product, "bookings": bookings}

    def product_form(self, product_id: uuid.UUID) -> dict[str, Any]:
        """A product, for the forms that change it or add to it."""
        with self.store.read() as session:
            product = stored_products.get_product(session, product_id)
            linked = overview.is_linked(session, product_id)
        return {"product": product, "several_units": linked or product.capacity > 1}

    def booking(self, booking_id: uuid.UUID) -> dict[str, Any]:
        """A booking with its product and where it comes from, for the page that cancels it."""
        with self.store.read() as session:
            booking = stored_bookings.get_booking(session, booking_id)
            if booking is None:
                raise NotFound(kind="booking", ident=str(booking_id))
            product = stored_products.get_product(session, booking.product_id)
            sources = overview.calendar_sources(session, {booking.external_calendar_id} - {None})
        return {"booking": booking, "line": _booking_line(booking, sources), "product": product}

    def in_the_way(self, product_id: uuid.UUID, details: dict[str, Any]) -> list[dict[str, Any]]:
        """The bookings a refused booking's 409 names (``details.conflicts``), as a page shows them.

        Each with where it comes from (its calendar, or direct) and, for a booking of
        a linked product, that product's name.
        """
        ids = [uuid.UUID(item["booking_id"]) for item in details.get("conflicts", [])]
        with self.store.read() as session:
            bookings = stored_bookings.bookings_by_ids(session, ids)
            sources = overview.calendar_sources(
                session, {b.external_calendar_id for b in bookings} - {None}
            )
            products = overview.product_names(session, {b.product_id for b in bookings})
        return [
            {
                **_booking_line(booking, sources),
                "product_name": products.get(booking.product_id, "")
                if booking.product_id != product_id
                else None,
            }
            for booking in bookings
        ]


def _endpoint_line(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint with its URL redacted, its event types, and its secret (in full just once)."""
    return {
        "endpoint": endpoint,
        "url": redact_url(endpoint.url),
        "events": json.loads(endpoint.events),
        "secret": shown_secret(endpoint),
    }


def _json_time(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _booking_line(booking: Booking, sources: dict[uuid.UUID, tuple[str, str]]) -> dict[str, Any]:
    """A booking as a list shows it, with where it comes from: a calendar, or direct."""
    calendar_id = booking.external_calendar_id
    name, tld = sources.get(calendar_id, ("", "")) if calendar_id else ("Direct booking", "")
    return {
        "booking": booking,
        "direct": calendar_id is None,
        "source": name,
        "channel": ("direct", "direct") if calendar_id is None else channel(tld),
        "echo": booking.echo_of is not None,
        "held": booking.delete_held_at is not None,
    }


def _as_dict(row: overview.CalendarState) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


def _midnight(night: date, days: int) -> datetime:
    """UTC midnight ``days`` from ``night``: a bound wide enough for any timezone."""
    return datetime.combine(night + timedelta(days=days), time(), tzinfo=UTC)


def _conflict_nights(conflicts: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The nights each booking (by id) takes part in a conflict."""
    red: dict[str, set[str]] = {}
    for conflict in conflicts:
        for booking in conflict["bookings"]:
            red.setdefault(booking["id"], set()).update(conflict["nights"])
    return red


def _timeline_row(
    *,
    name: str,
    key: str,
    label: str,
    calendar_id: uuid.UUID | None,
    bookings: list[overview.TimelineBooking],
    product_id: uuid.UUID,
    timezone: str,
    nights: list[date],
    red: dict[str, set[str]],
) -> dict[str, Any]:
    """One row of the timeline: per night, whether it is taken and how (echo, held, conflict)."""
    cells: dict[date, dict[str, Any]] = {}
    first, last = nights[0], nights[-1] + timedelta(days=1)
    for booking in bookings:
        occupant = Occupant(
            booking.id, product_id, booking.starts_at, booking.ends_at, booking.all_day
        )
        for night in nights_of(occupant, timezone, first=first, last=last):
            cell = cells.setdefault(
                night, {"taken": True, "echo": True, "held": False, "conflict": False}
            )
            cell["echo"] = cell["echo"] and booking.echo_of is not None
            cell["held"] = cell["held"] or booking.delete_held_at is not None
            cell["conflict"] = cell["conflict"] or night.isoformat() in red.get(str(booking.id), ())
    free = {"taken": False, "echo": False, "held": False, "conflict": False}
    return {
        "name": name,
        "key": key,
        "label": label,
        "calendar_id": calendar_id,
        "cells": [{"night": night, **cells.get(night, free)} for night in nights],
    }


def _months(nights: list[date]) -> list[tuple[str, int]]:
    """(``Nov 2026``, number of nights shown in it), for the timeline's month header."""
    months: list[tuple[str, int]] = []
    for night in nights:
        label = f"{night:%b %Y}"
        if months and months[-1][0] == label:
            months[-1] = (label, months[-1][1] + 1)
        else:
            months.append((label, 1))
    return months
