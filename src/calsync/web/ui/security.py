"""The web interface's guards: sessions, CSRF, security headers, Secure cookies.

Only the interface's routes pass through them (it is mounted as an app of its
own), so the REST API keeps its API keys and never sets a cookie.

* **Sessions**: Starlette's ``SessionMiddleware``, a cookie signed with
  itsdangerous (HttpOnly, SameSite=Lax), valid ``ui.session_hours``. It keeps the
  user's id and a stamp of the password hash, so a new password or a removed
  account ends every session at its next request.
* **CSRF**: ``asgi-csrf`` (double submit: a signed token in a cookie and in each
  form's ``csrftoken`` field) checks every POST, with or without cookies; a POST
  without the token is answered 403.
* **Headers**: a Content-Security-Policy that allows nothing but this origin
  (no inline script, no framing), ``X-Content-Type-Options``, ``Referrer-Policy``,
  and ``Cache-Control: no-store`` on pages.
* **Secure**: every cookie gets ``Secure`` when ``server.public_url`` is https or
  the request came over HTTPS.
* An ``Authorization`` header is dropped on the way in: the interface's only
  credential is its session (and asgi-csrf would let a Bearer request through).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from asgi_csrf import asgi_csrf
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from calsync.services.users import session_stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from calsync.services.users import Users
    from calsync.store.models import User

SESSION_COOKIE = "calsync_session"
CSRF_COOKIE = "calsync_csrf"
CSRF_FIELD = "csrftoken"
"""The form field asgi-csrf reads (fixed by the library)."""

_HEADERS = (
    (
        b"content-security-policy",
        (
            b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
            b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
_CSRF_REFUSED = (
    b"<!doctype html><html lang=en><meta charset=utf-8><title>Refused</title>"
    b"<h1>The form could not be checked</h1><p>It came without its security token "
    b"(from another site, or from a page opened before calsync restarted). "
    b'<a href="/">Reload calsync</a> and try again.</p></html>'
)


def guarded(app: ASGIApp, *, secret: str, session_seconds: int, always_secure: bool) -> ASGIApp:
    """``app`` behind the guards of the module docstring."""
    checked = asgi_csrf(
        app,
        signing_secret=secret,
        cookie_name=CSRF_COOKIE,
        always_protect=_EveryPath(),
        send_csrf_failed=_refuse,
    )
    sessions = SessionMiddleware(
        checked,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=session_seconds,
        same_site="lax",
    )
    return _Headers(sessions, always_secure=always_secure)


class _EveryPath:
    """asgi-csrf's ``always_protect``: every path, so a POST without cookies is checked too."""

    def __contains__(self, path: object) -> bool:
        return True


async def _refuse(scope: Scope, send: Send, message_id: object) -> None:  # noqa: ARG001 - asgi-csrf's hook
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": _CSRF_REFUSED})


class _Headers:
    """Security headers, Secure cookies and no ``Authorization`` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, always_secure: bool) -> None:
        self._app = app
        self._always_secure = always_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer with the guards' headers; the request goes in without ``Authorization``."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        secure = self._always_secure or scope.get("scheme") == "https"
        page = not scope["path"].startswith("/static/")
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _answer_headers(
                    list(message.get("headers", [])), secure=secure, page=page
                )
            await send(message)

        await self._app({**scope, "headers": headers}, receive, send_guarded)


def _answer_headers(
    headers: list[tuple[bytes, bytes]], *, secure: bool, page: bool
) -> list[tuple[bytes, bytes]]:
    names = {name.lower() for name, _ in headers}
    if secure:
        headers = [
            (name, value + b"; Secure")
            if name.lower() == b"set-cookie" and b"secure" not in value.lower()
            else (name, value)
            for name, value in headers
        ]
    extra = [*_HEADERS, (b"cache-control", b"no-store")] if page else list(_HEADERS)
    return headers + [(name, value) for name, value in extra if name not in names]


def log_in(request: Request, user: User) -> None:
    """Start a session for ``user`` (a new one: nothing of the old session is kept)."""
    request.session.clear()
    request.session.update({"user": str(user.id), "stamp": session_stamp(user)})


def log_out(request: Request) -> None:
    """End the session."""
    request.session.clear()


def session_user(request: Request, users: Users) -> User | None:
    """The account the request's session belongs to, if it is still valid."""
    user_id, stamp = request.session.get("user"), request.session.get("stamp")
    if not isinstance(user_id, str) or not isinstance(stamp, str):
        return None
    try:
        parsed = uuid.UUID(user_id)
    except ValueError:
        return None
    return users.for_session(parsed, stamp)


def csrf_token(request: Request) -> str:
    """The token this request's forms carry (asgi-csrf sets its cookie with the answer)."""
    make: Callable[[], str] = request.scope["csrftoken"]
    return make()


def local_path(target: str | None) -> str:
    """Where to go after logging in: a path on this site, else the dashboard."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


class Lazy:
    """An ASGI app built at its first request (its session secret may need the database)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Build the app if this is the first request, then let it answer."""
        if self._app is None:
            self._app = await run_in_threadpool(self._build)
        await self._app(scope, receive, send)
