"""The interface's forms for calendars: add (after a dry run), edit, remove, sync now, release.

Each write is one small method (``_add_calendar``, ``_update_calendar``,
``_remove_calendar``, ``_request_sync``, ``_release``) that calls the calendars
service: the one place the interface makes that change, and names who made it
in the log. A new calendar is first fetched and parsed without writing anything
(:mod:`calsync.services.preview`, the dry run of ``calsync preview``), then saved.

*Sync now* asks the calendars service for a sync; the dispatcher is woken after
the commit. Without JavaScript the page comes back saying the sync was asked
for; with it, ``static/calsync.js`` polls ``status.json`` until the sync ran and
shows that run's outcome (``?run=<id>``).
"""

from __future__ import annotations

import uuid  # noqa: TC003 - FastAPI reads the annotations at run time
from typing import TYPE_CHECKING, cast

import structlog
from fastapi import Request  # noqa: TC002 - FastAPI reads the annotations at run time
from fastapi.responses import JSONResponse, Response

from calsync.errors import BadRequest, FeedError
from calsync.services import calendars, preview
from calsync.services.calendars import CalendarChanges
from calsync.services.fields import TIME_OFFSET, UNITS
from calsync.web.ui import security
from calsync.web.ui.forms import errors_of, fields

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from calsync.core.blocks import TransparentEvents
    from calsync.services.context import WriteContext
    from calsync.store.models import User
    from calsync.web.ui.base import Base

log = structlog.get_logger("calsync.web.ui")
BLOCKS_SHOWN = 200
"""A dry run lists this many blocks and skipped events; the rest are counted."""


class CalendarForms:
    """Add, edit and remove calendars; sync one now; release its held deletions."""

    def __init__(self, ui: Base) -> None:
        self.ui = ui

    def add_routes(self, app: FastAPI) -> None:
        """Register the routes."""
        new = "/products/{product_id}/calendars"
        app.add_api_route(f"{new}/new", self.new, methods=["GET"])
        app.add_api_route(f"{new}/preview", self.preview, methods=["POST"])
        app.add_api_route(new, self.add, methods=["POST"])
        one = "/calendars/{calendar_id}"
        app.add_api_route(f"{one}/edit", self.edit_form, methods=["GET"])
        app.add_api_route(f"{one}/edit", self.edit, methods=["POST"])
        app.add_api_route(f"{one}/remove", self.remove_form, methods=["GET"])
        app.add_api_route(f"{one}/remove", self.remove, methods=["POST"])
        app.add_api_route(f"{one}/sync", self.sync, methods=["POST"])
        app.add_api_route(f"{one}/status.json", self.status, methods=["GET"])
        app.add_api_route(f"{one}/release", self.release_form, methods=["GET"])
        app.add_api_route(f"{one}/release", self.release, methods=["POST"])

    # --- adding, after a dry run ------------------------------------------------------

    def new(self, request: Request, product_id: uuid.UUID) -> Response:
        """The form that adds a calendar: its URL and options, then a dry run."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        values = {"ical_url": "", "name": "", "time_offset": "0", "units": "1",
                  "transparent_events": self.ui.settings.sync.transparent_events}  # fmt: skip
        context = {**self.ui.pages.product_form(product_id), "values": values, "errors": {}}
        return self.ui.render(request, "calendar_new.html", context, user=user)

    async def preview(self, request: Request, product_id: uuid.UUID) -> Response:
        """Fetch and parse the feed as the calendar would, writing nothing: what it would import."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        context = {**await self.ui.read(self.ui.pages.product_form, product_id),
                   "values": form, "errors": {}}  # fmt: skip
        status = 200
        try:
            changes = calendars.check(_calendar_changes(form))
            parsed = await preview.preview(
                self.ui.settings, changes["ical_url"], now=self.ui.clock(),
                timezone=context["product"].timezone, time_offset=changes["time_offset"],
                transparent_events=cast("TransparentEvents", changes["transparent_events"]),
            )  # fmt: skip
        except BadRequest as exc:
            context["errors"], status = errors_of(exc), 400
        except FeedError as exc:
            context["feed_error"] = str(exc)
        else:
            rows = preview.rows(parsed)
            context["dry_run"] = {
                "rows": rows[:BLOCKS_SHOWN],
                "more": len(rows) - BLOCKS_SHOWN,
                "count": len(rows),
                "skipped": parsed.skipped[:BLOCKS_SHOWN],
                "skipped_count": len(parsed.skipped),
                "warnings": parsed.warnings,
                "events": parsed.event_count,
                "past_days": self.ui.settings.sync.past_days,
                "horizon_days": self.ui.settings.sync.horizon_days,
            }
        return self.ui.render(request, "calendar_new.html", context, user=user, status=status)

    async def add(self, request: Request, product_id: uuid.UUID) -> Response:
        """Save the calendar; its first sync runs at once."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        try:
            calendar_id = await self._add_calendar(user, product_id, _calendar_changes(form))
        except BadRequest as exc:
            context = {**await self.ui.read(self.ui.pages.product_form, product_id),
                       "values": form, "errors": errors_of(exc)}  # fmt: skip
            return self.ui.render(request, "calendar_new.html", context, user=user, status=400)
        message = "Calendar added. Its first sync runs now."
        return self.ui.done(request, message, f"/calendars/{calendar_id}")

    # --- editing and removing ---------------------------------------------------------

    def edit_form(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """The form that changes a calendar, filled in."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        data = self.ui.pages.calendar_form(calendar_id)
        calendar = data["calendar"]
        values = {
            "ical_url": calendar.ical_url, "name": calendar.name,
            "time_offset": str(calendar.time_offset), "units": str(calendar.units),
            "transparent_events": calendar.transparent_events,
            "active": "yes" if calendar.active else "",
        }  # fmt: skip
        context = {**data, "values": values, "errors": {}}
        return self.ui.render(request, "calendar_edit.html", context, user=user)

    async def edit(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """Save the changes; a new URL is synced at once."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        try:
            changes = _calendar_changes(form)
            changes["active"] = form.get("active") == "yes"
            changes["name"] = form.get("name", "")
            resynced = await self._update_calendar(user, calendar_id, changes)
        except BadRequest as exc:
            context = {**await self.ui.read(self.ui.pages.calendar_form, calendar_id),
                       "values": form, "errors": errors_of(exc)}  # fmt: skip
            return self.ui.render(request, "calendar_edit.html", context, user=user, status=400)
        message = "Saved. The new URL is synced now." if resynced else "Saved."
        return self.ui.done(request, message, f"/calendars/{calendar_id}")

    def remove_form(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """Ask before removing a calendar, saying how many bookings go with it."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        data = self.ui.pages.calendar_form(calendar_id)
        return self.ui.render(request, "calendar_remove.html", data, user=user)

    async def remove(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """Remove the calendar and the bookings imported from it."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        name, product_id, deleted = await self._remove_calendar(user, calendar_id)
        message = (
            f"Removed {name} and the {deleted} booking{'' if deleted == 1 else 's'} "
            "imported from it."
        )
        return self.ui.done(request, message, f"/products/{product_id}")

    # --- sync now and held deletions --------------------------------------------------

    async def sync(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """Ask for a sync now and wake the dispatcher; the page says it was asked for."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        await self._request_sync(user, calendar_id)
        message = "Sync requested: it runs in a moment. Reload this page to see its outcome."
        return self.ui.done(request, message, f"/calendars/{calendar_id}")

    def status(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """JSON for a page waiting for a sync: whether one is asked for, and the last run."""
        if security.session_user(request, self.ui.users) is None:
            return JSONResponse({"message": "log in first"}, status_code=401)
        return JSONResponse(self.ui.pages.calendar_status(calendar_id))

    def release_form(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """The bookings whose deletion is held, before they are deleted."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        return self.ui.render(
            request, "calendar_release.html", self.ui.pages.held(calendar_id), user=user
        )

    async def release(self, request: Request, calendar_id: uuid.UUID) -> Response:
        """Delete the held bookings now."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        released = await self._release(user, calendar_id)
        message = f"Released: {released} booking{'' if released == 1 else 's'} deleted."
        return self.ui.done(request, message, f"/calendars/{calendar_id}")

    # --- the writes -------------------------------------------------------------------

    async def _add_calendar(
        self, user: User, product_id: uuid.UUID, changes: CalendarChanges
    ) -> uuid.UUID:
        calendar_id = await self.ui.write(
            user,
            lambda session, ctx: calendars.add(
                session, ctx, product_id=product_id, ical_url=changes["ical_url"],
                name=changes.get("name"), time_offset=changes["time_offset"],
                transparent_events=changes["transparent_events"], units=changes["units"],
            ).id
        )  # fmt: skip
        log.info("ui.calendar_added", username=user.username, calendar_id=str(calendar_id))
        return calendar_id

    async def _update_calendar(
        self, user: User, calendar_id: uuid.UUID, changes: CalendarChanges
    ) -> bool:
        """Whether the calendar is synced at once (its URL changed)."""

        def update(session: Session, ctx: WriteContext) -> bool:
            calendars.update(session, ctx, [calendars.get(session, calendar_id)], changes)
            return ctx.wake

        resynced = await self.ui.write(user, update)
        log.info("ui.calendar_changed", username=user.username, calendar_id=str(calendar_id))
        return resynced

    async def _remove_calendar(
        self, user: User, calendar_id: uuid.UUID
    ) -> tuple[str, uuid.UUID, int]:
        def remove(session: Session, ctx: WriteContext) -> tuple[str, uuid.UUID, int]:
            calendar = calendars.get(session, calendar_id)
            name, product_id = calendar.name, calendar.product_id
            return name, product_id, calendars.remove(session, ctx, [calendar])[calendar_id]

        removed = await self.ui.write(user, remove)
        log.info("ui.calendar_removed", username=user.username, calendar_id=str(calendar_id),
                 deleted_bookings=removed[2])  # fmt: skip
        return removed

    async def _request_sync(self, user: User, calendar_id: uuid.UUID) -> None:
        await self.ui.write(
            user, lambda session, ctx: calendars.request_sync(session, ctx, calendar_id)
        )
        log.info("ui.sync_requested", username=user.username, calendar_id=str(calendar_id))

    async def _release(self, user: User, calendar_id: uuid.UUID) -> int:
        released = await self.ui.write(
            user, lambda session, ctx: calendars.release(session, ctx, calendar_id)[0]
        )
        log.info("ui.held_released", username=user.username, calendar_id=str(calendar_id),
                 deleted_bookings=released)  # fmt: skip
        return released


def _calendar_changes(form: dict[str, str]) -> CalendarChanges:
    """A calendar form's URL and options; a name only if one is given (else its channel's)."""
    changes = CalendarChanges(
        ical_url=form.get("ical_url", ""),
        time_offset=TIME_OFFSET.parse("time_offset", form.get("time_offset") or "0"),
        units=UNITS.parse("units", form.get("units") or "1"),
        transparent_events=form.get("transparent_events", ""),
    )
    if form.get("name"):
        changes["name"] = form["name"]
    return changes
