"""The interface's forms for products and their direct bookings: add, edit, book, cancel.

Each write is one small method (``_add_product``, ``_update_product``, ``_book``,
``_cancel_booking``) that calls its service: the one place the interface makes
that change, and names who made it in the log. A refused form is shown again
with the user's input and the services' message next to its field. A booking
that does not fit is shown with the nights and the bookings in the way (the
409's ``details``); booking it anyway is a second, deliberate step.
"""

from __future__ import annotations

import uuid  # noqa: TC003 - FastAPI reads the annotations at run time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request  # noqa: TC002 - FastAPI reads the annotations at run time
from fastapi.responses import Response

from calsync.errors import BadRequest, Conflict
from calsync.services import bookings, products
from calsync.services.fields import UNITS
from calsync.services.products import ProductChanges
from calsync.web.ui import display
from calsync.web.ui.forms import day, errors_of, fields

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from calsync.services.context import WriteContext
    from calsync.store.models import User
    from calsync.web.ui.base import Base

log = structlog.get_logger("calsync.web.ui")


class ProductForms:
    """Add and edit products; add and cancel direct bookings."""

    def __init__(self, ui: Base) -> None:
        self.ui = ui

    def add_routes(self, app: FastAPI) -> None:
        """Register the routes (before ``/products/{product_id}``, which ``new`` would match)."""
        app.add_api_route("/products/new", self.new, methods=["GET"])
        app.add_api_route("/products", self.add, methods=["POST"])
        app.add_api_route("/products/{product_id}/edit", self.edit_form, methods=["GET"])
        app.add_api_route("/products/{product_id}/edit", self.edit, methods=["POST"])
        app.add_api_route("/products/{product_id}/bookings/new", self.booking_form, methods=["GET"])
        app.add_api_route("/products/{product_id}/bookings", self.book, methods=["POST"])
        app.add_api_route("/bookings/{booking_id}/cancel", self.cancel_form, methods=["GET"])
        app.add_api_route("/bookings/{booking_id}/cancel", self.cancel, methods=["POST"])

    # --- products --------------------------------------------------------------------

    def new(self, request: Request) -> Response:
        """The form that adds a product."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        timezone = self.ui.settings.products.default_timezone
        values = {"name": "", "timezone": timezone, "capacity": "1"}
        return self._product_page(request, user, None, values)

    async def add(self, request: Request) -> Response:
        """Add the product and go to its page."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        try:
            product_id = await self._add_product(user, _product_changes(form))
        except BadRequest as exc:
            return self._product_page(request, user, None, form, errors_of(exc), status=400)
        message = f"Added {form['name']}. Now add the calendar of each channel it is listed on."
        return self.ui.done(request, message, f"/products/{product_id}")

    def edit_form(self, request: Request, product_id: uuid.UUID) -> Response:
        """The form that changes a product, filled in."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        product = self.ui.pages.product_form(product_id)["product"]
        values = {"name": product.name, "timezone": product.timezone,
                  "capacity": str(product.capacity)}  # fmt: skip
        return self._product_page(request, user, product_id, values)

    async def edit(self, request: Request, product_id: uuid.UUID) -> Response:
        """Save the changes and go back to the product."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        try:
            await self._update_product(user, product_id, _product_changes(form))
        except BadRequest as exc:
            return self._product_page(request, user, product_id, form, errors_of(exc), status=400)
        return self.ui.done(request, "Saved.", f"/products/{product_id}")

    def _product_page(
        self,
        request: Request,
        user: User,
        product_id: uuid.UUID | None,
        values: dict[str, str],
        errors: dict[str, str] | None = None,
        *,
        status: int = 200,
    ) -> Response:
        context = {"product_id": product_id, "values": values, "errors": errors or {}}
        return self.ui.render(request, "product_form.html", context, user=user, status=status)

    async def _add_product(self, user: User, changes: ProductChanges) -> uuid.UUID:
        product_id = await self.ui.write(
            user,
            lambda session, ctx: products.add(
                session, ctx, name=changes["name"], timezone=changes["timezone"],
                capacity=changes["capacity"],
            ).id
        )  # fmt: skip
        log.info("ui.product_added", username=user.username, product_id=str(product_id))
        return product_id

    async def _update_product(
        self, user: User, product_id: uuid.UUID, changes: ProductChanges
    ) -> None:
        await self.ui.write(
            user,
            lambda session, ctx: products.update(
                session, ctx, [products.get(session, product_id)], changes
            ),
        )
        log.info("ui.product_changed", username=user.username, product_id=str(product_id))

    # --- direct bookings -------------------------------------------------------------

    async def booking_form(self, request: Request, product_id: uuid.UUID) -> Response:
        """The form that books the product directly (also on the product's page)."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        return await self._booking_page(request, user, product_id, {})

    async def book(self, request: Request, product_id: uuid.UUID) -> Response:
        """Book the product; a booking that does not fit is shown with what is in the way."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        form = await fields(request)
        try:
            new = _new_booking(product_id, form)
            await self._book(user, new, force=form.get("force") == "yes")
        except Conflict as exc:
            in_the_way = await self.ui.read(self.ui.pages.in_the_way, product_id, exc.details)
            nights = exc.details.get("nights", [])
            refused = {"count": len(nights), "nights": display.night_ranges(nights),
                       "in_the_way": in_the_way}  # fmt: skip
            return await self._booking_page(
                request, user, product_id, form, refused=refused, status=409
            )
        except BadRequest as exc:
            return await self._booking_page(
                request, user, product_id, form, errors_of(exc), status=400
            )
        stay = display.span(new.starts_at, new.ends_at, all_day=True, timezone="UTC")
        return self.ui.done(request, f"Booked {stay}.", f"/products/{product_id}#bookings")

    async def _booking_page(
        self,
        request: Request,
        user: User,
        product_id: uuid.UUID,
        values: dict[str, str],
        errors: dict[str, str] | None = None,
        *,
        refused: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Response:
        product = await self.ui.read(self.ui.pages.product_form, product_id)
        context = {**product, "values": values, "errors": errors or {}, "refused": refused}
        return self.ui.render(request, "booking_form.html", context, user=user, status=status)

    def cancel_form(self, request: Request, booking_id: uuid.UUID) -> Response:
        """Ask before cancelling a direct booking (an imported one: where to change it)."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        data = self.ui.pages.booking(booking_id)
        return self.ui.render(request, "booking_cancel.html", data, user=user)

    async def cancel(self, request: Request, booking_id: uuid.UUID) -> Response:
        """Cancel the direct booking: its nights are free again."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        product_id, stay = await self._cancel_booking(user, booking_id)
        message = f"Cancelled the booking {stay}: its nights are free again."
        return self.ui.done(request, message, f"/products/{product_id}#bookings")

    async def _book(self, user: User, new: bookings.NewBooking, *, force: bool) -> None:
        booked = await self.ui.write(
            user, lambda session, ctx: bookings.add(session, ctx, [new])[0].id, force=force
        )
        log.info("ui.booked", username=user.username, booking_id=str(booked), forced=force)

    async def _cancel_booking(self, user: User, booking_id: uuid.UUID) -> tuple[uuid.UUID, str]:
        def cancel(session: Session, ctx: WriteContext) -> tuple[uuid.UUID, str]:
            booking = bookings.cancel(session, ctx, booking_id)
            timezone = products.get(session, booking.product_id).timezone
            return booking.product_id, display.stay(booking, timezone)

        product_id, stay = await self.ui.write(user, cancel)
        log.info("ui.booking_cancelled", username=user.username, booking_id=str(booking_id))
        return product_id, stay


def _product_changes(form: dict[str, str]) -> ProductChanges:
    """A product form's values; the services check them when they write."""
    return ProductChanges(
        name=form.get("name", ""),
        timezone=form.get("timezone", ""),
        capacity=UNITS.parse("capacity", form.get("capacity", "")),
    )


def _new_booking(product_id: uuid.UUID, form: dict[str, str]) -> bookings.NewBooking:
    """A booking form's stay: all-day, from the check-in date to the check-out date."""
    check_in = day("starts_at", form.get("starts_at", ""))
    check_out = day("ends_at", form.get("ends_at", ""))
    return bookings.NewBooking(
        product_id,
        bookings.day_start(check_in),
        bookings.day_start(check_out),
        all_day=True,
        summary=form.get("summary", ""),
        units=UNITS.parse("units", form.get("units") or "1"),
    )
