"""The web interface: log in, the dashboard, products and calendars, served from the package.

:func:`ui_app` builds it as an ASGI app of its own, which :mod:`calsync.web.app`
mounts under every path the API does not answer, so its guards (sessions, CSRF,
security headers: :mod:`calsync.web.ui.security`) touch no API request. Pages
are Jinja2 templates (``templates/``), styled and scripted by ``static/``
(served at ``/static/``); nothing is loaded from another host.
"""

from __future__ import annotations

from calsync.web.ui.routes import ui_app

__all__ = ["ui_app"]
