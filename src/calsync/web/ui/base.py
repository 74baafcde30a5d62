"""What every handler of the web interface shares: its pages, its session user, its writes.

A write runs a service function in a worker thread, in one transaction
(:meth:`Base.write`); when the service asks for it (``ctx.wake``) the
dispatcher is woken on the event loop after the commit, as the API does. After
a write the handler redirects (303) and the next page shows what happened: a
notice kept in the session until it is shown (:meth:`Base.notify`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calsync.services.context import Cause, WriteContext
from calsync.web.ui import security

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from fastapi import Request
    from fastapi.templating import Jinja2Templates
    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.services.pages import Pages
    from calsync.services.users import Users
    from calsync.store.db import Store
    from calsync.store.models import User

_NOTICE = "notice"
_FAILED = "notice_failed"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Base:
    """The store, settings, clock, accounts, page data and templates of the interface."""

    store: Store
    settings: Settings
    clock: Callable[[], datetime]
    wake: Callable[[], None]
    users: Users
    pages: Pages
    templates: Jinja2Templates

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        *,
        user: User | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """A page, with the notice a write left (once); a CSRF token is made if a form needs one."""
        values = {
            "user": user,
            "csrftoken": request.scope["csrftoken"],
            "notice": request.session.pop(_NOTICE, None) if user is not None else None,
            "notice_failed": request.session.pop(_FAILED, False) if user is not None else False,
            **context,
        }
        return self.templates.TemplateResponse(
            request, name, values, status_code=status, headers=headers
        )

    def user_or_login(self, request: Request) -> User | Response:
        """The session's user, or a redirect to the login form that comes back here."""
        user = security.session_user(request, self.users)
        if user is not None:
            return user
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    def notify(self, request: Request, message: str, *, failed: bool = False) -> None:
        """Say ``message`` on the next page this session sees (as an error when ``failed``)."""
        request.session[_NOTICE] = message
        request.session[_FAILED] = failed

    def done(self, request: Request, message: str, path: str, *, failed: bool = False) -> Response:
        """After a write: go to ``path`` (303), which says ``message`` (red if ``failed``)."""
        self.notify(request, message, failed=failed)
        return RedirectResponse(path, status_code=303)

    async def read(self, load: Callable[..., _T], *args: object) -> _T:
        """Page data for an ``async`` handler, read in a worker thread (the loop never waits)."""
        return await asyncio.to_thread(load, *args)

    def context(self, user: User, *, force: bool = False) -> WriteContext:
        """The context of a write by ``user`` now: its cause in the journal is ``ui:<username>``."""
        return WriteContext.of(self.settings, self.clock(), Cause.ui(user.username), force=force)

    async def write(
        self, user: User, act: Callable[[Session, WriteContext], _T], *, force: bool = False
    ) -> _T:
        """Run ``user``'s service write in a worker thread, one transaction; wake the dispatcher.

        The journal records ``ui:<username>`` as the cause of every booking it changes.
        ``force`` books even when a capacity would be exceeded (a host's deliberate choice).
        """
        ctx = self.context(user, force=force)

        def run() -> _T:
            with self.store.write() as session:
                return act(session, ctx)

        answer = await asyncio.to_thread(run)
        if ctx.wake:
            self.wake()
        return answer
