"""One write path: the API and the CLI refuse the same bad inputs with the same message.

Every row of :data:`BAD_INPUTS` is sent through the REST API (a 4xx) and through
the ``calsync`` command (exit 2 for a bad value, 1 for a conflict) on the same
database; both answer with the same message, and neither writes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from calsync.cli import app as cli_app
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.services.keys import create_api_key
from calsync.web.app import create_app
from conftest import NOW, REPRESENTATION, make_settings

UNKNOWN = "6c9a93dd-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Bad:
    """One bad input, as an API request and as a command line (``{product}`` is a product's id)."""

    id: str
    method: str
    path: str
    body: dict[str, Any]
    command: tuple[str, ...]
    status: int = 400


BAD_INPUTS = [
    Bad("empty-name", "POST", "/v1/products", {"name": ""}, ("products", "add", "")),
    Bad("control-characters", "POST", "/v1/products", {"name": "Beach\nhouse"},
        ("products", "add", "Beach\nhouse")),
    Bad("posix-timezone", "POST", "/v1/products", {"name": "X", "timezone": "posix/Europe/Paris"},
        ("products", "add", "X", "--timezone", "posix/Europe/Paris")),
    Bad("capacity-0", "POST", "/v1/products", {"name": "X", "capacity": 0},
        ("products", "add", "X", "--capacity", "0")),
    Bad("update-capacity-0", "PATCH", "/v1/products?id=eq.{product}", {"capacity": 0},
        ("products", "update", "{product}", "--capacity", "0")),
    Bad("url-without-host", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "https://"},
        ("calendars", "add", "{product}", "https://")),
    Bad("url-empty-label", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "http://0..0/x.ics"},
        ("calendars", "add", "{product}", "http://0..0/x.ics")),
    Bad("url-with-secrets", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "ftp://user:s3cret@example.com/x.ics?t=token"},
        ("calendars", "add", "{product}", "ftp://user:s3cret@example.com/x.ics?t=token")),
    Bad("calendar-name-tab", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "https://a.example/x.ics", "name": "Air\tbnb"},
        ("calendars", "add", "{product}", "https://a.example/x.ics", "--name", "Air\tbnb")),
    Bad("time-offset-49", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "https://a.example/x.ics", "time_offset": 49},
        ("calendars", "add", "{product}", "https://a.example/x.ics", "--time-offset", "49")),
    Bad("calendar-units-0", "POST", "/v1/external_calendars",
        {"product_id": "{product}", "ical_url": "https://a.example/x.ics", "units": 0},
        ("calendars", "add", "{product}", "https://a.example/x.ics", "--units", "0")),
    Bad("calendar-of-unknown-product", "POST", "/v1/external_calendars",
        {"product_id": UNKNOWN, "ical_url": "https://a.example/x.ics"},
        ("calendars", "add", UNKNOWN, "https://a.example/x.ics")),
    Bad("update-url-ftp", "PATCH", "/v1/external_calendars?id=eq.{calendar}",
        {"ical_url": "ftp://example.com/x.ics"},
        ("calendars", "update", "{calendar}", "--url", "ftp://example.com/x.ics")),
    Bad("ends-before-it-starts", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-05", "ends_at": "2026-12-01",
         "all_day": True},
        ("bookings", "add", "{product}", "--from", "2026-12-05", "--until", "2026-12-01")),
    Bad("booking-units-0", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-01", "ends_at": "2026-12-05",
         "all_day": True, "units": 0},
        ("bookings", "add", "{product}", "--from", "2026-12-01", "--until", "2026-12-05",
         "--units", "0")),
    Bad("booking-summary-line-break", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-01", "ends_at": "2026-12-05",
         "all_day": True, "summary": "Owner\r\nstay"},
        ("bookings", "add", "{product}", "--from", "2026-12-01", "--until", "2026-12-05",
         "--summary", "Owner\r\nstay")),
    Bad("booking-of-unknown-product", "POST", "/v1/bookings",
        {"product_id": UNKNOWN, "starts_at": "2026-12-01", "ends_at": "2026-12-05",
         "all_day": True},
        ("bookings", "add", UNKNOWN, "--from", "2026-12-01", "--until", "2026-12-05")),
    Bad("booking-over-capacity", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-18", "ends_at": "2026-12-22",
         "all_day": True},
        ("bookings", "add", "{product}", "--from", "2026-12-18", "--until", "2026-12-22"),
        status=409),
    Bad("booking-reference-taken", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-01", "ends_at": "2026-12-05",
         "all_day": True, "reference": "PB-1"},
        ("bookings", "add", "{product}", "--from", "2026-12-01", "--until", "2026-12-05",
         "--reference", "PB-1"), status=409),
    Bad("booking-notes-tab", "POST", "/v1/bookings",
        {"product_id": "{product}", "starts_at": "2026-12-01", "ends_at": "2026-12-05",
         "all_day": True, "notes": "key\tunder the mat"},
        ("bookings", "add", "{product}", "--from", "2026-12-01", "--until", "2026-12-05",
         "--notes", "key\tunder the mat")),
    Bad("self-link", "POST", "/v1/capacity_group_dependencies",
        {"accumulator_id": "{product}", "element_id": "{product}"},
        ("products", "link", "{product}", "{product}"), status=409),
]  # fmt: skip


@pytest.fixture
def world(store, database_url, clock, monkeypatch, tmp_path):
    """An API client and a CLI on one database, with a product (booked 20–22 Dec) and a calendar."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.setenv("CALSYNC_LOGGING__LEVEL", "warning")
    monkeypatch.chdir(tmp_path)
    settings = make_settings(database_url)
    with store.write() as session:
        _, key = create_api_key(session, name="parity", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    runner = CliRunner()
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        [product] = client.post(
            "/v1/products", json={"name": "Room"}, headers=REPRESENTATION
        ).json()
        [calendar] = client.post(
            "/v1/external_calendars",
            json={"product_id": product["id"], "ical_url": "https://a.example/x.ics"},
            headers=REPRESENTATION,
        ).json()
        booked = {"product_id": product["id"], "starts_at": "2026-12-20",
                  "ends_at": "2026-12-22", "all_day": True, "reference": "PB-1"}  # fmt: skip
        assert 201 == client.post("/v1/bookings", json=booked).status_code
        ids = {"product": product["id"], "calendar": calendar["id"]}
        yield client, lambda *args: runner.invoke(cli_app, list(args)), ids


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_filled(v, ids) for v in value)
    return value


def _stored(client) -> list[Any]:
    return [client.get(f"/v1/{name}").json() for name in
            ("products", "external_calendars", "bookings", "capacity_group_dependencies")]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[bad.id for bad in BAD_INPUTS])
def test_api_and_cli_refuse_a_bad_input_with_the_same_message(world, bad):
    """A 400 is exit 2 and a 409 exit 1, with the same message from both edges; nothing is written."""
    client, cli, ids = world
    before = _stored(client)
    response = client.request(bad.method, _filled(bad.path, ids), json=_filled(bad.body, ids))
    result = cli(*_filled(bad.command, ids))
    assert (bad.status, {400: 2, 409: 1}[bad.status]) == (response.status_code, result.exit_code)
    assert f"calsync: {response.json()['message']}" == result.stderr.strip()
    assert "s3cret" not in result.stderr
    assert before == _stored(client)


def test_cli_json_prints_exactly_the_fields_the_api_answers(world):
    """Calendars list --json and products list --json: the API's fields, no internal sync state."""
    client, cli, _ = world
    for resource, command in (("external_calendars", "calendars"), ("products", "products")):
        api_rows = client.get(f"/v1/{resource}").json()
        cli_rows = json.loads(cli(command, "list", "--json").stdout)
        assert [sorted(row) for row in api_rows] == [sorted(row) for row in cli_rows]
        assert not {"etag", "last_modified", "content_digest", "prodid", "lease_owner",
                    "lease_expires_at"} & set(cli_rows[0])  # fmt: skip
