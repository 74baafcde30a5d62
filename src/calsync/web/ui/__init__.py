"""The web interface: log in, the dashboard, products and calendars, and the forms that change them.

:func:`ui_routes` builds it as an ASGI app of its own and gives
:mod:`calsync.web.app` one route for each of its paths, so its guards (sessions,
CSRF, security headers: :mod:`calsync.web.ui.security`) touch no API request,
and a path it does not have is still the API's JSON 404. Pages
are Jinja2 templates (``templates/``), styled and scripted by ``static/``
(served at ``/static/``); nothing is loaded from another host.
"""

from __future__ import annotations

from calsync.web.ui.routes import ui_routes

__all__ = ["ui_routes"]
