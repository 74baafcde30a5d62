"""/docs and /redoc work offline: every asset is served by calsync itself, none from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.store.db import Store
from calsync.web.app import create_app
from conftest import make_settings


class _Assets(HTMLParser):
    """The URLs a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "redoc": "spec-url"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


@pytest.fixture
def web(tmp_path, clock):
    """The whole app, as calsync run serves it (on SQLite: the pages read no data)."""
    settings = make_settings(f"sqlite:///{tmp_path / 'calsync.db'}")
    store = Store.connect(settings.database)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    with TestClient(app) as client:
        yield client
    store.close()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_issue_14_docs_load_only_same_origin_assets(web, page):
    """The page and every script, style and icon it loads come from calsync (no CDN), and load."""
    response = web.get(page)
    assert (200, True) == (response.status_code, "text/html" in response.headers["content-type"])
    parser = _Assets()
    parser.feed(response.text)
    assert parser.urls, response.text
    for url in parser.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = web.get(url)
        assert (200, url) == (asset.status_code, url)
        assert asset.content, url
    assert not re.search(r"https?://", response.text.replace("http://www.w3.org", "")), (
        response.text
    )


def test_swagger_ui_reads_the_local_document_and_no_validator(web):
    """Swagger UI is pointed at /openapi.json, and its online validator (swagger.io) is off."""
    page = web.get("/docs").text
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page
