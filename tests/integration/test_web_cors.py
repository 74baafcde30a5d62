"""CORS for browser apps on /v1 only, for the origins of server.cors_origins (none by default)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from calsync.errors import ConfigError
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.store.db import Store
from calsync.web.app import create_app
from calsync.web.auth import create_api_key
from conftest import NOW, make_settings

APP_ORIGIN = "https://app.example.com"


@pytest.fixture
def web(tmp_path, clock, request):
    """The whole app with the cors_origins the test is parametrized with, and an API key."""
    settings = make_settings(
        f"sqlite:///{tmp_path / 'calsync.db'}", server={"cors_origins": request.param}
    )
    store = Store.connect(settings.database)
    store.upgrade()
    with store.write() as session:
        _, key = create_api_key(session, name="browser", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    with TestClient(app) as client:
        yield client, key
    store.close()


def preflight(client, origin: str, method: str = "POST"):
    return client.options(
        "/v1/bookings",
        headers={"Origin": origin, "Access-Control-Request-Method": method,
                 "Access-Control-Request-Headers": "authorization, prefer, range, content-type, "
                                                   "x-client-info"},
    )  # fmt: skip


@pytest.mark.parametrize("web", [f'["{APP_ORIGIN}"]'], indirect=True)
def test_issue_14_a_listed_origin_gets_preflight_and_sees_content_range(web):
    """A listed origin's preflight names the methods and headers; answers expose Content-Range."""
    client, key = web
    answer = preflight(client, APP_ORIGIN, "PATCH")
    assert (200, APP_ORIGIN) == (answer.status_code, answer.headers["access-control-allow-origin"])
    methods = answer.headers["access-control-allow-methods"]
    assert {"GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"} <= set(methods.split(", "))
    allowed = answer.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "prefer", "range", "content-type", "accept", "x-client-info"):
        assert header in allowed
    listing = client.get(
        "/v1/products", headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {key}"}
    )
    assert APP_ORIGIN == listing.headers["access-control-allow-origin"]
    assert "Content-Range" in listing.headers["access-control-expose-headers"]
    refused = client.get("/v1/products", headers={"Origin": APP_ORIGIN})
    assert (401, APP_ORIGIN) == (
        refused.status_code,
        refused.headers["access-control-allow-origin"],
    )


@pytest.mark.parametrize("web", [f'["{APP_ORIGIN}"]'], indirect=True)
def test_an_unlisted_origin_and_other_paths_get_no_cors_headers(web):
    """Another origin is not allowed; /healthz and the feeds never answer with CORS headers."""
    client, _ = web
    assert "access-control-allow-origin" not in preflight(client, "https://evil.example").headers
    health = client.get("/healthz", headers={"Origin": APP_ORIGIN})
    assert "access-control-allow-origin" not in health.headers


@pytest.mark.parametrize("web", ["[]"], indirect=True)
def test_without_origins_there_are_no_cors_headers(web):
    """By default (no origins) a browser's preflight gets no CORS answer."""
    client, key = web
    answer = preflight(client, APP_ORIGIN)
    assert "access-control-allow-origin" not in answer.headers
    listing = client.get(
        "/v1/products", headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {key}"}
    )
    assert "access-control-allow-origin" not in listing.headers


def test_an_origin_with_a_path_is_a_config_error(tmp_path):
    """cors_origins takes origins (scheme and host), not URLs with a path."""
    with pytest.raises(ConfigError, match="cors_origins"):
        make_settings("sqlite://", server={"cors_origins": '["https://app.example.com/x"]'})
