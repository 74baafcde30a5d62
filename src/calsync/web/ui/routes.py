"""The routes of the web interface: log in and out, first-run setup, and the pages.

The forms that change things are in :mod:`calsync.web.ui.products` (products,
direct bookings), :mod:`calsync.web.ui.calendars` and :mod:`calsync.web.ui.alerts`
(the alerts and webhooks page), sharing
:class:`~calsync.web.ui.base.Base`. Every page needs a session; without one it
redirects to ``/login?next=…``.
Errors are pages too: a bad or unknown id is a 404, the database away a 503, a
bug a 500 with the request id the log has.
"""

from __future__ import annotations

import uuid  # noqa: TC003 - FastAPI reads the annotations at run time
from typing import TYPE_CHECKING, Annotated

import structlog
from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount, Route

from calsync import __version__
from calsync.core.zones import timezone_names
from calsync.errors import ApiError, CalsyncError, NotFound, StoreError
from calsync.services.pages import STATES, Pages
from calsync.services.users import Users
from calsync.web.request_ids import request_id_of
from calsync.web.ui import display, security
from calsync.web.ui.alerts import AlertForms
from calsync.web.ui.base import Base
from calsync.web.ui.calendars import CalendarForms
from calsync.web.ui.products import ProductForms

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from starlette.types import ASGIApp

    from calsync.config import Settings
    from calsync.reports import ConflictCache
    from calsync.store.db import Store

log = structlog.get_logger("calsync.web.ui")
Text = Annotated[str, Form()]


def ui_routes(
    *,
    store: Store,
    settings: Settings,
    clock: Callable[[], datetime],
    conflicts: ConflictCache,
    wake: Callable[[], None],
) -> list[BaseRoute]:
    """Routes for the main app: each path of the interface, answered by the interface.

    Only these paths reach the interface and its guards; every other path stays
    the API's, with its JSON errors. ``wake`` is called after a write that made a
    calendar due (a new calendar, a new URL, *Sync now*).
    """
    users = Users(store, clock=clock)
    ui = _Ui(
        Base(
            store=store, settings=settings, clock=clock, wake=wake, users=users,
            pages=Pages(store, settings, conflicts, clock),
            templates=Jinja2Templates(env=_environment()),
        )
    )  # fmt: skip
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(packages=[("calsync.web.ui", "static")]), name="static")
    ui.add_routes(app)
    for handled in (CalsyncError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(handled, ui.error_page)

    def build() -> ASGIApp:
        return security.guarded(
            app,
            secret=settings.ui.session_secret or users.session_secret(),
            session_seconds=int(settings.ui.session_hours * 3600),
            always_secure=settings.server.public_url.lower().startswith("https://"),
        )

    guarded = security.Lazy(build)
    paths = [
        f"{route.path}/{{path:path}}" if isinstance(route, Mount) else route.path
        for route in app.routes
        if isinstance(route, Mount | APIRoute)
    ]
    return [Route(path, guarded, include_in_schema=False) for path in dict.fromkeys(paths)]


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("calsync.web.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {"age": display.age, "utc": display.utc, "iso": display.iso,
                    "day": display.day, "stay": display.stay, "change": display.change,
                    "code_spans": display.code_spans}  # fmt: skip
    env.globals |= {"version": __version__, "states": STATES, "timezones": timezone_names,
                    "change_kinds": display.CHANGE_KINDS}  # fmt: skip
    return env


class _Ui:
    """The handlers of logging in, the pages and errors; the forms are in their own modules."""

    def __init__(self, ui: Base) -> None:
        self.ui = ui
        self.users = ui.users
        self.pages = ui.pages
        self.render = ui.render
        self._user_or_login = ui.user_or_login

    def add_routes(self, app: FastAPI) -> None:
        """Register every route of the interface on ``app``."""
        app.add_api_route("/login", self.login_form, methods=["GET"])
        app.add_api_route("/login", self.login, methods=["POST"])
        app.add_api_route("/logout", self.logout, methods=["POST"])
        app.add_api_route("/setup/{token}", self.setup_form, methods=["GET"])
        app.add_api_route("/setup/{token}", self.setup, methods=["POST"])
        ProductForms(self.ui).add_routes(app)  # /products/new before /products/{product_id}
        CalendarForms(self.ui).add_routes(app)
        AlertForms(self.ui).add_routes(app)
        app.add_api_route("/", self.dashboard, methods=["GET"])
        app.add_api_route("/products/{product_id}", self.product, methods=["GET"])
        app.add_api_route("/calendars/{calendar_id}", self.calendar, methods=["GET"])

    # --- logging in ------------------------------------------------------------------

    def login_form(self, request: Request, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
        """The login form (a logged-in user goes on to the dashboard)."""
        if security.session_user(request, self.users) is not None:
            return RedirectResponse(security.local_path(next), status_code=303)
        return self._login_page(request, next_path=next)

    def _login_page(
        self,
        request: Request,
        *,
        next_path: str,
        error: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        username: str = "",
    ) -> HTMLResponse:
        context = {
            "next": security.local_path(next_path),
            "error": error,
            "username": username,
            "no_accounts": not self.users.exist(),
        }
        return self.render(request, "login.html", context, status=status, headers=headers)

    def login(
        self,
        request: Request,
        username: Text = "",
        password: Text = "",
        next: Text = "/",  # noqa: A002
    ) -> Response:
        """Check the password (slowed down after failures) and start a session."""
        address = request.client.host if request.client else "unknown"
        try:
            user = self.users.log_in(username, password, address=address)
        except ApiError as exc:
            log.info("ui.login_refused", username=username[:64], address=address, status=exc.status)
            return self._login_page(
                request, next_path=next, error=exc.message, status=exc.status,
                headers=exc.headers, username=username,
            )  # fmt: skip
        security.log_in(request, user)
        log.info("ui.logged_in", username=user.username, address=address)
        return RedirectResponse(security.local_path(next), status_code=303)

    def logout(self, request: Request) -> Response:
        """End the session."""
        security.log_out(request)
        return RedirectResponse("/login", status_code=303)

    def setup_form(self, request: Request, token: str) -> Response:
        """First run: the form that makes the first account (404 once one exists)."""
        if not self.users.setup_open(token):
            return self._setup_closed(request)
        return self.render(request, "setup.html", {"error": None, "username": ""})

    def setup(
        self,
        request: Request,
        token: str,
        username: Text = "",
        password: Text = "",
        password_again: Text = "",
    ) -> Response:
        """Make the first account with the setup token and log it in."""
        if not self.users.setup_open(token):
            return self._setup_closed(request)
        error = "the two passwords differ" if password != password_again else None
        if error is None:
            try:
                user = self.users.finish_setup(token, username, password)
            except ApiError as exc:
                error = exc.message
            else:
                security.log_in(request, user)
                log.info("ui.first_account", username=user.username)
                return RedirectResponse("/", status_code=303)
        context = {"error": error, "username": username}
        return self.render(request, "setup.html", context, status=400)

    def _setup_closed(self, request: Request) -> HTMLResponse:
        message = (
            "This setup link is not valid: an account exists already, or the link is "
            "mistyped. Log in, or make an account with `calsync users add NAME`."
        )
        context = {"title": "Setup link not valid", "message": message}
        return self.render(request, "error.html", context, status=404)

    # --- pages -----------------------------------------------------------------------

    def dashboard(
        self, request: Request, product: str = "", state: str = "", page: int = 1
    ) -> Response:
        """Every calendar's health, problems first; open conflicts and stale readers on top."""
        user = self._user_or_login(request)
        if isinstance(user, Response):
            return user
        chosen = state if state in STATES else None
        data = self.pages.dashboard(product=product.strip(), state=chosen, page=max(page, 1))
        return self.render(request, "dashboard.html", data, user=user)

    def product(self, request: Request, product_id: uuid.UUID) -> Response:
        """A product's next 90 nights, its feed URLs and who reads them."""
        user = self._user_or_login(request)
        if isinstance(user, Response):
            return user
        return self.render(request, "product.html", self.pages.product(product_id), user=user)

    def calendar(
        self, request: Request, calendar_id: uuid.UUID, run: uuid.UUID | None = None
    ) -> Response:
        """A calendar's status and its last sync runs; ``run``: a sync that just finished."""
        user = self._user_or_login(request)
        if isinstance(user, Response):
            return user
        data = self.pages.calendar(calendar_id, run_id=run)
        return self.render(request, "calendar.html", data, user=user)

    # --- errors ----------------------------------------------------------------------

    async def error_page(self, request: Request, exc: Exception) -> Response:
        """Every error as a page: 404 for unknown ids and paths, 503 without a database."""
        status, title, message = 500, "Something went wrong", "an internal error"
        if isinstance(exc, NotFound | RequestValidationError):
            status, title = 404, "Not found"
            message = str(exc) if isinstance(exc, NotFound) else "no such page"
        elif isinstance(exc, HTTPException):
            status, title, message = exc.status_code, "Not found", str(exc.detail)
        elif isinstance(exc, ApiError):
            status, title, message = exc.status, "Refused", exc.message
        elif isinstance(exc, StoreError):
            status, title = 503, "Database unavailable"
            message = "the database is unavailable; try again in a moment"
            log.error("ui.store_error", exc_info=exc)
        elif isinstance(exc, CalsyncError):
            status, title, message = 400, "Refused", str(exc)
        else:
            log.error("ui.internal_error", exc_info=exc)
        if status >= 500:  # noqa: PLR2004 - server errors
            message = f"{message} (request id {request_id_of(request)})"
        context = {"title": title, "message": message}
        return self.render(request, "error.html", context, status=status)
