"""The alerts and webhooks page and its forms: add, switch off and on, remove, send a test.

Each write is one small method (``_add``, ``_set_active``, ``_remove``) that
calls the webhooks service and names who made it in the log. A new endpoint's
secret is shown once, on the page that answers the form (it is never put in
the session cookie); afterwards it is masked, as the API and the CLI mask it.
*Send a test* writes a ``test`` event for that endpoint and sends it at once
through the delivery code the daemon uses (:func:`calsync.notify.send_test`),
and the page says how it went. The Apprise targets of ``alerts.notify`` are
shown redacted, read-only: they live in the configuration file.
"""

from __future__ import annotations

import uuid  # noqa: TC003 - FastAPI reads the annotations at run time
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request  # noqa: TC002 - FastAPI reads the annotations at run time
from fastapi.responses import Response

from calsync.errors import BadRequest
from calsync.fetch import FeedFetcher
from calsync.leases import replica_owner
from calsync.notify import send_test
from calsync.redact import redact_url
from calsync.services import webhooks
from calsync.web.ui.forms import errors_of, fields

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from calsync.notify import Attempt
    from calsync.services.context import WriteContext
    from calsync.store.models import User, WebhookEndpoint
    from calsync.web.ui.base import Base

log = structlog.get_logger("calsync.web.ui")
PAGE = "/alerts"


class AlertForms:
    """The alerts and webhooks page; add, switch, remove and test webhook endpoints."""

    def __init__(self, ui: Base) -> None:
        self.ui = ui
        self.owner = replica_owner()
        """This process's name in the lease of a test event it sends."""

    def add_routes(self, app: FastAPI) -> None:
        """Register the routes."""
        app.add_api_route(PAGE, self.page, methods=["GET"])
        one = f"{PAGE}/endpoints/{{endpoint_id}}"
        app.add_api_route(f"{PAGE}/endpoints", self.add, methods=["POST"])
        app.add_api_route(f"{one}/active", self.set_active, methods=["POST"])
        app.add_api_route(f"{one}/remove", self.remove_form, methods=["GET"])
        app.add_api_route(f"{one}/remove", self.remove, methods=["POST"])
        app.add_api_route(f"{one}/test", self.test, methods=["POST"])

    def page(self, request: Request) -> Response:
        """Endpoints with their deliveries, the form that adds one, and the alerts' settings."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        return self._page(request, user, {"url": "", "description": ""}, [])

    def _page(
        self,
        request: Request,
        user: User,
        values: dict[str, str],
        events: list[str],
        *,
        errors: dict[str, str] | None = None,
        created: WebhookEndpoint | None = None,
        status: int = 200,
    ) -> Response:
        context: dict[str, Any] = {**self.ui.pages.alerts(created=created), "values": values,
                                   "chosen": events, "errors": errors or {}}  # fmt: skip
        return self.ui.render(request, "alerts.html", context, user=user, status=status)

    async def add(self, request: Request) -> Response:
        """Add an endpoint; the answer shows its secret, this once."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        values = await fields(request)
        values.pop("events", None)
        events = [v for v in (await request.form()).getlist("events") if isinstance(v, str)]
        try:
            created = await self._add(
                user, values.get("url", ""), events, values.get("description", "")
            )
        except BadRequest as exc:
            errors = errors_of(exc)
            return await self.ui.read(
                lambda: self._page(request, user, values, events, errors=errors, status=400)
            )
        empty = {"url": "", "description": ""}
        return await self.ui.read(
            lambda: self._page(request, user, empty, [], created=created, status=201)
        )

    async def set_active(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Switch an endpoint off (its events wait) or on again (with a clean slate)."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        active = (await fields(request)).get("active") == "yes"
        url = await self._set_active(user, endpoint_id, active=active)
        message = (
            f"{url} is active again: it gets the events that waited, and new ones."
            if active
            else f"{url} is switched off: its events wait until it is active again."
        )
        return self.ui.done(request, message, PAGE)

    def remove_form(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Ask before removing an endpoint."""
        user = self.ui.user_or_login(request)
        if isinstance(user, Response):
            return user
        data = self.ui.pages.endpoint(endpoint_id)
        return self.ui.render(request, "endpoint_remove.html", data, user=user)

    async def remove(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Remove the endpoint with its waiting events and its deliveries."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        url = await self._remove(user, endpoint_id)
        return self.ui.done(request, f"Removed the webhook endpoint {url}.", PAGE)

    async def test(self, request: Request, endpoint_id: uuid.UUID) -> Response:
        """Send a ``test`` event to the endpoint now; the page says how it went."""
        user = await self.ui.read(self.ui.user_or_login, request)
        if isinstance(user, Response):
            return user
        url = (await self.ui.read(self.ui.pages.endpoint, endpoint_id))["url"]
        ctx = self.ui.context(user)
        async with FeedFetcher(self.ui.settings.fetch) as fetcher:
            _, attempts = await send_test(
                self.ui.store, self.ui.settings, fetcher, endpoint_id, ctx, owner=self.owner
            )
        log.info("ui.webhook_tested", username=user.username, endpoint_id=str(endpoint_id),
                 delivered=bool(attempts) and all(a.ok for a in attempts))  # fmt: skip
        message, failed = await self.ui.read(self._outcome, endpoint_id, url, attempts)
        return self.ui.done(request, message, f"{PAGE}#endpoint-{endpoint_id}", failed=failed)

    def _outcome(
        self, endpoint_id: uuid.UUID, url: str, attempts: list[Attempt]
    ) -> tuple[str, bool]:
        """What the page says of a test event's send, and whether it failed."""
        if not attempts:
            if not self.ui.pages.endpoint(endpoint_id)["endpoint"].active:
                return f"{url} is switched off: the test event waits until it is active.", True
            return f"The test event to {url} is queued: it is sent in a moment.", False
        attempt = attempts[0]
        if attempt.ok:
            code, took = attempt.response_code, attempt.duration_ms
            return f"Test event delivered to {url}: HTTP {code} in {took} ms.", False
        return f"Test event not delivered to {url}: {attempt.error}. It is retried later.", True

    # --- the writes -------------------------------------------------------------------

    async def _add(
        self, user: User, url: str, events: list[str], description: str
    ) -> WebhookEndpoint:
        endpoint = await self.ui.write(
            user,
            lambda session, ctx: webhooks.add(
                session, ctx, url=url, events=events, description=description
            ),
        )
        log.info("ui.webhook_added", username=user.username, endpoint_id=str(endpoint.id))
        return endpoint

    async def _set_active(self, user: User, endpoint_id: uuid.UUID, *, active: bool) -> str:
        def switch(session: Session, ctx: WriteContext) -> str:
            endpoint = webhooks.get(session, endpoint_id)
            webhooks.update(session, ctx, [endpoint], {"active": active})
            return redact_url(endpoint.url)

        url = await self.ui.write(user, switch)
        log.info("ui.webhook_switched", username=user.username, endpoint_id=str(endpoint_id),
                 active=active)  # fmt: skip
        return url

    async def _remove(self, user: User, endpoint_id: uuid.UUID) -> str:
        def remove(session: Session, ctx: WriteContext) -> str:
            endpoint = webhooks.get(session, endpoint_id)
            url = redact_url(endpoint.url)
            webhooks.remove(session, ctx, [endpoint])
            return url

        url = await self.ui.write(user, remove)
        log.info("ui.webhook_removed", username=user.username, endpoint_id=str(endpoint_id))
        return url
