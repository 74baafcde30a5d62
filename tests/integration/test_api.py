"""The REST API at /v1, in-process, on SQLite and PostgreSQL: queries, writes, rules, auth."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.exceptions import HTTPException

from calsync.errors import CalsyncError
from calsync.store.models import ApiKey, Booking, ExternalCalendar, SyncRun
from calsync.web.api import api_router
from calsync.web.app import _error_response
from calsync.web.auth import create_api_key, revoke_api_key
from conftest import NOW, REPRESENTATION, add_calendar

DAY = timedelta(days=1)
COUNT = {"Prefer": "count=exact"}
"""A list answers with the total in Content-Range (PostgREST's default is ``*``)."""


def build_app(store, clock, wakes, **options) -> FastAPI:
    """A bare app with the API router and calsync's error presentation."""
    app = FastAPI()
    app.include_router(
        api_router(
            store=store,
            clock=clock,
            wake=lambda: wakes.append(clock()),
            default_timezone="Europe/Amsterdam",
            **options,
        )
    )
    for exc_class in (CalsyncError, RequestValidationError, HTTPException):
        app.add_exception_handler(exc_class, _error_response)
    return app


@pytest.fixture
def wakes() -> list[datetime]:
    """The times the API woke the dispatcher."""
    return []


@pytest.fixture
def api_key(store) -> str:
    """A valid API key."""
    with store.write() as session:
        _, secret = create_api_key(session, name="tests", now=NOW)
    return secret


@pytest.fixture
def client(store, clock, wakes, api_key):
    """A test client sending a valid API key."""
    app = build_app(store, clock, wakes)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def create(client, resource: str, body, status: int = 201, **params) -> list[dict[str, Any]]:
    response = client.post(f"/v1/{resource}", json=body, params=params, headers=REPRESENTATION)
    assert status == response.status_code, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def error(response, status: int, code: str) -> dict[str, Any]:
    assert (status, code) == (response.status_code, response.json()["code"]), response.text
    assert set(response.json()) == {"code", "message", "details", "hint", "request_id"}
    assert response.json()["request_id"] == response.headers["x-request-id"]
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def products(client) -> dict[str, dict[str, Any]]:
    """Three products by name: Beach house (1 unit), Cabin (2), Loft (3)."""
    rows = create(
        client,
        "products",
        [
            {"name": "Beach house", "capacity": 1},
            {"name": "Cabin", "capacity": 2, "timezone": "UTC"},
            {"name": "Loft", "capacity": 3},
        ],
    )
    return {row["name"]: row for row in rows}


def names(response) -> list[str]:
    assert response.status_code in {200, 206}, response.text
    return [row["name"] for row in response.json()]


# --- GET: filters, select, order, paging ----------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("capacity=eq.2", ["Cabin"]),
        ("capacity=neq.2", ["Beach house", "Loft"]),
        ("capacity=gt.1", ["Cabin", "Loft"]),
        ("capacity=gte.2", ["Cabin", "Loft"]),
        ("capacity=lt.2", ["Beach house"]),
        ("capacity=lte.2", ["Beach house", "Cabin"]),
        ("capacity=in.(1,3)", ["Beach house", "Loft"]),
        ('name=in.("Beach house",Loft)', ["Beach house", "Loft"]),
        ("capacity=in.()", []),
        ("capacity=not.in.(1,3)", ["Cabin"]),
        ("name=like.*a*", ["Beach house", "Cabin"]),
        ("name=like.C*", ["Cabin"]),
        ("name=like.c*", []),
        ("name=ilike.c*", ["Cabin"]),
        ("name=not.like.*o*", ["Cabin"]),
        ("timezone=eq.UTC", ["Cabin"]),
        ("capacity=gte.2&capacity=lte.2", ["Cabin"]),
        ("name=not.eq.Cabin", ["Beach house", "Loft"]),
    ],
)
def test_filter_operators(client, products, query, expected):
    """Each PostgREST operator selects the rows it names; several filters are ANDed."""
    assert expected == names(client.get(f"/v1/products?{query}&order=name"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("error=is.null", ["Airbnb", "vrbo.com"]),
        ("error=not.is.null", []),
        ("error=is.not_null", []),
        ("sync_requested_at=is.null", ["Airbnb", "vrbo.com"]),
        ("active=is.true", ["Airbnb"]),
        ("active=is.false", ["vrbo.com"]),
        ("active=eq.false", ["vrbo.com"]),
        ("active=not.is.true", ["vrbo.com"]),
        ("tld=eq.vrbo.com", ["vrbo.com"]),
    ],
)
def test_is_operators(client, products, query, expected):
    """is.null, not.is.null, is.not_null, is.true and is.false test NULLs and booleans."""
    product_id = products["Cabin"]["id"]
    create(
        client,
        "external_calendars",
        [
            {
                "product_id": product_id,
                "ical_url": "https://www.airbnb.com/a.ics",
                "name": "Airbnb",
            },
            {"product_id": product_id, "ical_url": "https://www.vrbo.com/v.ics", "active": False},
        ],
    )
    assert expected == sorted(names(client.get(f"/v1/external_calendars?{query}")))


def test_instant_filters(client, products):
    """Instants filter as RFC 3339 with Z or an offset, a bare date is midnight UTC, an unencoded + still works."""
    product_id = products["Loft"]["id"]
    create(
        client,
        "bookings",
        [
            {"product_id": product_id, "starts_at": "2026-12-01", "ends_at": "2026-12-03",
             "all_day": True, "summary": "first"},
            {"product_id": product_id, "starts_at": "2026-12-05T14:00:00Z",
             "ends_at": "2026-12-06T10:00:00Z", "summary": "second"},
        ],
    )  # fmt: skip

    def summaries(query: str) -> list[str]:
        response = client.get(f"/v1/bookings?{query}&order=starts_at")
        assert 200 == response.status_code, response.text
        return [row["summary"] for row in response.json()]

    assert ["first", "second"] == summaries("starts_at=gte.2026-12-01")
    assert ["second"] == summaries("starts_at=gt.2026-12-01")
    assert ["first"] == summaries("starts_at=eq.2026-12-01T00:00:00Z")
    assert ["second"] == summaries("starts_at=eq.2026-12-05T15:00:00%2B01:00")
    assert ["second"] == summaries("starts_at=eq.2026-12-05T15:00:00+01:00")
    assert ["second"] == summaries("starts_at=eq.2026-12-05 15:00:00+01:00")
    assert ["first"] == summaries("all_day=is.true")
    row = client.get("/v1/bookings?summary=eq.second").json()[0]
    assert ("2026-12-05T14:00:00Z", "2026-12-06T10:00:00Z") == (row["starts_at"], row["ends_at"])


def test_select_answers_only_the_named_fields(client, products):
    """select=name,capacity answers those fields only; * answers every field."""
    response = client.get("/v1/products?select=name,capacity&order=name")
    assert [{"name": "Beach house", "capacity": 1}, {"name": "Cabin", "capacity": 2},
            {"name": "Loft", "capacity": 3}] == response.json()  # fmt: skip
    row = client.get("/v1/products?select=*&limit=1").json()[0]
    assert {"id", "name", "timezone", "capacity", "feed_token", "created_at", "updated_at"} <= set(
        row
    )


def test_select_unknown_column_is_400(client, products):
    """A select naming a column that does not exist is a 400 naming it."""
    body = error(client.get("/v1/products?select=name,secret"), 400, "42703")
    assert "secret" in body["message"]
    assert "secret" == body["details"]["column"]


def test_order_ascending_descending_and_two_columns(client, clock, products):
    """The order sorts by one or more columns, ascending or descending; oldest first by default."""
    clock.now = NOW + timedelta(hours=1)
    create(client, "products", {"name": "Annex", "capacity": 2})
    assert "Annex" == names(client.get("/v1/products"))[-1]
    assert ["Loft", "Cabin", "Beach house", "Annex"] == names(
        client.get("/v1/products?order=name.desc")
    )
    assert ["Beach house", "Annex", "Cabin", "Loft"] == names(
        client.get("/v1/products?order=capacity.asc,name.asc")
    )
    assert ["Loft", "Cabin", "Annex", "Beach house"] == names(
        client.get("/v1/products?order=capacity.desc,name.desc")
    )


def test_order_puts_nulls_last_ascending_unless_asked(client, products):
    """NULLs sort last ascending and first descending on every database; nullsfirst moves them."""
    product_id = products["Cabin"]["id"]
    create(
        client,
        "external_calendars",
        [
            {"product_id": product_id, "ical_url": "https://a.example.com/1.ics", "name": "one"},
            {"product_id": product_id, "ical_url": "https://b.example.com/2.ics", "name": "two"},
        ],
    )
    client.post(f"/v1/external_calendars/{names_to_ids(client)['two']}/sync")
    assert ["two", "one"] == names(client.get("/v1/external_calendars?order=sync_requested_at"))
    assert ["one", "two"] == names(
        client.get("/v1/external_calendars?order=sync_requested_at.desc")
    )
    assert ["one", "two"] == names(
        client.get("/v1/external_calendars?order=sync_requested_at.asc.nullsfirst")
    )


def names_to_ids(client) -> dict[str, str]:
    return {row["name"]: row["id"] for row in client.get("/v1/external_calendars").json()}


def test_limit_and_offset_answer_206_with_content_range(client, products):
    """limit/offset answer a part: 206 and Content-Range first-last/total."""
    response = client.get("/v1/products?order=name&limit=2", headers=COUNT)
    assert (206, "0-1/3") == (response.status_code, response.headers["content-range"])
    assert ["Beach house", "Cabin"] == names(response)
    response = client.get("/v1/products?order=name&limit=2&offset=2", headers=COUNT)
    assert (206, "2-2/3", ["Loft"]) == (
        response.status_code,
        response.headers["content-range"],
        names(response),
    )


def test_whole_answer_is_200_and_empty_is_star_over_zero(client, products):
    """Every matching row is 200 with 0-2/3; no match is 200 with */0 (with a count)."""
    response = client.get("/v1/products", headers=COUNT)
    assert (200, "0-2/3") == (response.status_code, response.headers["content-range"])
    response = client.get("/v1/products?name=eq.Nothing", headers=COUNT)
    assert (200, "*/0", []) == (
        response.status_code,
        response.headers["content-range"],
        response.json(),
    )


def test_range_header_answers_206(client, products):
    """Range: 0-1 (Range-Unit: items) answers the first two rows with 206 and Content-Range."""
    response = client.get(
        "/v1/products?order=name", headers={"Range": "0-1", "Range-Unit": "items", **COUNT}
    )
    assert (206, "0-1/3") == (response.status_code, response.headers["content-range"])
    assert ["Beach house", "Cabin"] == names(response)
    response = client.get("/v1/products?order=name", headers={"Range": "1-", **COUNT})
    assert (206, "1-2/3", ["Cabin", "Loft"]) == (
        response.status_code,
        response.headers["content-range"],
        names(response),
    )
    response = client.get("/v1/products", headers={"Range": "0-99", **COUNT})
    assert (200, "0-2/3") == (response.status_code, response.headers["content-range"])


def test_range_intersects_limit_and_offset(client, products):
    """A Range header and limit/offset together answer the rows both allow."""
    response = client.get("/v1/products?order=name&offset=1", headers={"Range": "0-1", **COUNT})
    assert (206, "1-1/3", ["Cabin"]) == (
        response.status_code,
        response.headers["content-range"],
        names(response),
    )


@pytest.mark.parametrize(
    ("query", "headers"),
    [("offset=4", COUNT), ("", {"Range": "5-9", **COUNT}), ("", {"Range": "3-1"})],
)
def test_unsatisfiable_range_is_416(client, products, query, headers):
    """An offset or Range past the counted rows, or a Range ending before it starts, is 416."""
    response = client.get(f"/v1/products?{query}", headers=headers)
    error(response, 416, "PGRST103")


@pytest.mark.parametrize(
    ("query", "headers", "named"),
    [
        ("limit=-1", {}, "limit"),
        ("offset=x", {}, "offset"),
        ("limit=99999999999", {}, "limit"),
        ("", {"Range": "first-last"}, "Range"),
        ("", {"Range-Unit": "bytes"}, "Range-Unit"),
        ("order=nothing.asc", {}, "nothing"),
        ("order=name.sideways", {}, "sideways"),
    ],
)
def test_bad_paging_and_order_are_400(client, products, query, headers, named):
    """Malformed limit, offset, Range, Range-Unit or order are 400 naming what is wrong."""
    code = "42703" if named == "nothing" else "PGRST100"
    body = error(client.get(f"/v1/products?{query}", headers=headers), 400, code)
    assert named in body["message"]


@pytest.mark.parametrize(
    ("query", "named", "code"),
    [
        ("secret=eq.1", "secret", "42703"),
        ("etag=eq.x", "etag", "42703"),
        ("capacity=about.2", "capacity", "PGRST100"),
        ("capacity=2", "capacity", "PGRST100"),
        ("capacity=eq.two", "capacity", "22P02"),
        ("capacity=eq.1.5", "capacity", "22P02"),
        ("id=eq.not-a-uuid", "id", "22P02"),
        ("created_at=gt.yesterday", "created_at", "22P02"),
        ("created_at=gt.2026-02-30", "created_at", "22P02"),
        ("created_at=gt.2026-12-01T25:00:00", "created_at", "22P02"),
        ("capacity=like.1*", "capacity", "PGRST100"),
        ("capacity=is.maybe", "capacity", "PGRST100"),
        ("name=is.true", "name", "PGRST100"),
        ("capacity=in.1,2", "capacity", "PGRST100"),
        ('name=in.("open', "name", "PGRST100"),
        ("name=eq.a%00b", "name", "22P02"),
    ],
)
def test_bad_filters_are_400(client, products, query, named, code):
    """Unknown columns (internal ones too), unknown operators and unconvertible values are 400 naming the field.

    Each with PostgREST's code for it: 42703 an unknown column, PGRST100 a filter it
    cannot parse, 22P02 a value not of the column's type.
    """
    resource = "external_calendars" if query.startswith("etag") else "products"
    body = error(client.get(f"/v1/{resource}?{query}"), 400, code)
    assert named in body["message"]


# --- POST ------------------------------------------------------------------------------


def test_post_one_object_answers_an_array_with_defaults(client):
    """POST of one object is 201 with the created row in an array, defaults filled in."""
    [row] = create(client, "products", {"name": "Beach house"})
    assert ("Beach house", "Europe/Amsterdam", 1) == (row["name"], row["timezone"], row["capacity"])
    assert len(row["feed_token"]) >= 43
    assert str(uuid.UUID(row["id"])) == row["id"]
    assert "2026-11-15T12:00:00Z" == row["created_at"] == row["updated_at"]


def test_post_array_creates_every_row_in_one_transaction(client):
    """POST of an array creates all rows, or none when one is invalid."""
    rows = create(client, "products", [{"name": "A"}, {"name": "B", "capacity": 4}])
    assert [("A", 1), ("B", 4)] == [(r["name"], r["capacity"]) for r in rows]
    body = error(
        client.post("/v1/products", json=[{"name": "C"}, {"name": "D", "capacity": 0}]),
        400,
        "bad_request",
    )
    assert "[1] capacity" in body["message"]
    assert {"field": "capacity", "index": 1} == body["details"]
    assert ["A", "B"] == names(client.get("/v1/products?order=name"))


def test_post_prefer_return_minimal_answers_201_without_body(client):
    """Prefer: return=minimal creates the row and answers 201 with an empty body."""
    response = client.post(
        "/v1/products", json={"name": "Quiet"}, headers={"Prefer": "return=minimal"}
    )
    assert (201, b"") == (response.status_code, response.content)
    assert ["Quiet"] == names(client.get("/v1/products"))


def test_post_select_shapes_the_answer(client):
    """A select on POST answers only the named fields of the created rows."""
    assert [{"name": "Shaped"}] == create(client, "products", {"name": "Shaped"}, select="name")


@pytest.mark.parametrize(
    ("body", "code_word"),
    [
        ({"name": "X", "id": str(uuid.uuid4())}, "id"),
        ({"name": "X", "feed_token": "mine"}, "feed_token"),
        ({"name": "X", "created_at": "2026-01-01T00:00:00Z"}, "created_at"),
        ({"name": "X", "updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
    ],
)
def test_read_only_fields_are_refused(client, body, code_word):
    """Writing id, created_at, updated_at or feed_token is a 400 naming the field."""
    body_json = error(client.post("/v1/products", json=body), 400, "bad_request")
    assert "read-only" in body_json["message"]
    assert [code_word] == body_json["details"]["fields"]


@pytest.mark.parametrize(
    "field", ["tld", "error", "last_synced", "etag", "next_sync_at", "failure_count", "lease_owner"]
)
def test_read_only_calendar_fields_are_refused(client, products, field):
    """A calendar's status and internal sync fields cannot be written."""
    body = {
        "product_id": products["Cabin"]["id"],
        "ical_url": "https://www.airbnb.com/a.ics",
        field: None,
    }
    answer = error(client.post("/v1/external_calendars", json=body), 400, "bad_request")
    assert [field] == answer["details"]["fields"]


def test_internal_calendar_fields_are_hidden(client, products):
    """etag, content_digest, prodid and the lease are not shown; the sync status is."""
    [row] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "https://www.airbnb.com/a.ics"},
    )
    assert not {"etag", "last_modified", "content_digest", "prodid", "lease_owner",
                "lease_expires_at"} & set(row)  # fmt: skip
    assert {"last_synced", "error", "tld", "event_count", "held_since", "next_sync_at",
            "failure_count", "sync_requested_at", "time_offset"} <= set(row)  # fmt: skip


@pytest.mark.parametrize(
    ("body", "named", "message_part", "code"),
    [
        ({"name": "X", "colour": "blue"}, "colour", "unknown field", "PGRST204"),
        ({}, "name", "missing required", "bad_request"),
        ({"name": ""}, "name", "name", "bad_request"),
        ({"name": 7}, "name", "expected a string", "22P02"),
        ({"name": None}, "name", "must not be null", "bad_request"),
        ({"name": "X", "capacity": "two"}, "capacity", "expected an integer", "22P02"),
        ({"name": "X", "capacity": True}, "capacity", "expected an integer", "22P02"),
        ({"name": "X", "capacity": 2**40}, "capacity", "capacity", "bad_request"),
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone", "unknown IANA timezone",
         "bad_request"),
        ({"name": "X" * 201}, "name", "name", "bad_request"),
        ({"name": "a\x00b"}, "name", "NUL", "22P02"),
    ],
)  # fmt: skip
def test_invalid_product_bodies_are_400(client, body, named, message_part, code):
    """Unknown, missing, mistyped and out-of-range fields are a 400 naming the field.

    An unknown field is PostgREST's PGRST204, a value not of the field's type 22P02.
    """
    answer = error(client.post("/v1/products", json=body), 400, code)
    assert named in answer["message"]
    assert message_part in answer["message"]


CONTROL_TEXTS = ["Beach\r\nhouse", "X\nEND:VCALENDAR", "tab\there", "red\x1b[31m", "nel\x85"]


def plain_text_bodies(products: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """A valid POST body of each resource with a name or summary, and that field's name."""
    product_id = products["Loft"]["id"]
    return {
        "products": ("name", {"name": "Room"}),
        "external_calendars": ("name", {"product_id": product_id, "name": "Airbnb",
                                        "ical_url": "https://www.airbnb.com/calendar/ical/1.ics"}),
        "bookings": ("summary", {"product_id": product_id, "starts_at": "2026-12-01",
                                 "ends_at": "2026-12-02", "all_day": True, "summary": "Owner"}),
    }  # fmt: skip


@pytest.mark.parametrize("text", CONTROL_TEXTS)
@pytest.mark.parametrize("resource", ["products", "external_calendars", "bookings"])
def test_control_characters_in_names_and_summaries_are_400(client, products, resource, text):
    """A control character in a name or summary: a 400 naming the field on POST and PATCH."""
    field, body = plain_text_bodies(products)[resource]
    before = client.get(f"/v1/{resource}").json()
    answer = error(client.post(f"/v1/{resource}", json={**body, field: text}), 400, "bad_request")
    assert answer["message"].startswith(f"{field}: control characters")
    assert {"field": field} == answer["details"]
    assert before == client.get(f"/v1/{resource}").json()
    [row] = create(client, resource, body)
    response = client.patch(f"/v1/{resource}?id=eq.{row['id']}", json={field: text})
    assert f"{field}: control characters" in error(response, 400, "bad_request")["message"]
    assert body[field] == client.get(f"/v1/{resource}?id=eq.{row['id']}").json()[0][field]


def test_names_with_punctuation_and_unicode_are_accepted(client):
    """Semicolons, commas, backslashes, umlauts and emoji are plain text: 201, stored as sent."""
    name = "Müller; Strandhaus, Zimmer 3 \\N 🏖"
    assert name == create(client, "products", {"name": name})[0]["name"]


def test_imported_summaries_with_control_characters_are_answered(client, store, products):
    """An imported booking's summary keeps what the channel sent, and the API answers it."""
    _, booking_id = imported(store, products["Loft"]["id"])
    with store.write() as session:
        session.get(Booking, uuid.UUID(booking_id)).summary = "Reserved\r\nEND:VCALENDAR\x1b\x7f"
    response = client.get(f"/v1/bookings?id=eq.{booking_id}&select=summary")
    assert [{"summary": "Reserved\r\nEND:VCALENDAR\x1b\x7f"}] == response.json()


def test_openapi_publishes_the_plain_text_rule(client):
    """Names and summaries carry the control-character rule as a JSON-schema pattern."""
    schemas = client.get("/openapi.json").json()["paths"]
    body = schemas["/v1/bookings"]["post"]["requestBody"]["content"]["application/json"]
    item = body["schema"]["oneOf"][0]
    assert "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" == item["properties"]["summary"]["pattern"]


@pytest.mark.parametrize(
    ("content", "message_part"),
    [(b"{not json", "not valid JSON"), (b"", "JSON body is required"), (b"[[[[", "not valid JSON"),
     (b"\xff\xfe\x00", "not valid JSON"), (b'"a string"', "JSON object"), (b"[1]", "[0]")],
)  # fmt: skip
def test_malformed_bodies_are_400(client, content, message_part):
    """Malformed JSON, a missing body or a body that is not an object is a 400 PGRST102, never a 422 or 500."""
    response = client.post(
        "/v1/products", content=content, headers={"Content-Type": "application/json"}
    )
    assert message_part in error(response, 400, "PGRST102")["message"]


def test_deeply_nested_json_is_400(client):
    """A body nested too deep for the parser is a 400."""
    content = b"[" * 100_000 + b"]" * 100_000
    error(client.post("/v1/products", content=content), 400, "PGRST102")


def test_post_with_filters_is_400(client):
    """POST takes no filters: an unknown query parameter is a 400."""
    response = client.post("/v1/products?name=eq.x", json={"name": "X"})
    assert "name" in error(response, 400, "PGRST100")["message"]


# --- PATCH and DELETE ------------------------------------------------------------------


def test_filtered_patch_changes_the_matching_rows_only(client, clock, products):
    """PATCH with a filter changes the rows it matches and answers them."""
    clock.now = NOW + timedelta(hours=1)
    response = client.patch(
        "/v1/products?capacity=gte.2", json={"capacity": 5}, headers=REPRESENTATION
    )
    assert 200 == response.status_code, response.text
    assert [("Cabin", 5), ("Loft", 5)] == sorted(
        (r["name"], r["capacity"]) for r in response.json()
    )
    assert {"2026-11-15T13:00:00Z"} == {r["updated_at"] for r in response.json()}
    assert [1, 5, 5] == [r["capacity"] for r in client.get("/v1/products?order=name").json()]


def test_patch_and_delete_prefer_minimal_answer_204(client, products):
    """Prefer: return=minimal answers PATCH and DELETE with 204 and no body."""
    minimal = {"Prefer": "return=minimal"}
    response = client.patch("/v1/products?name=eq.Loft", json={"capacity": 9}, headers=minimal)
    assert (204, b"") == (response.status_code, response.content)
    response = client.request("DELETE", "/v1/products?name=eq.Loft", headers=minimal)
    assert (204, b"") == (response.status_code, response.content)
    assert ["Beach house", "Cabin"] == names(client.get("/v1/products?order=name"))


def test_filtered_delete_answers_the_deleted_rows(client, products):
    """DELETE with a filter deletes the rows it matches and answers them."""
    response = client.delete("/v1/products?capacity=lt.3", headers=REPRESENTATION)
    assert 200 == response.status_code, response.text
    assert ["Beach house", "Cabin"] == sorted(r["name"] for r in response.json())
    assert ["Loft"] == names(client.get("/v1/products"))


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("query", ["", "?select=name"])
def test_patch_and_delete_without_filter_are_refused(client, products, method, query):
    """PATCH or DELETE without a filter is a 400 filter_required and changes nothing."""
    response = client.request(method, f"/v1/products{query}", json={"capacity": 9})
    error(response, 400, "filter_required")
    assert [1, 2, 3] == [r["capacity"] for r in client.get("/v1/products?order=name").json()]


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_patch_and_delete_refuse_paging(client, products, method):
    """limit, offset and order apply to GET only."""
    response = client.request(method, "/v1/products?name=eq.Loft&limit=1", json={"capacity": 9})
    assert "limit" in error(response, 400, "bad_request")["message"]


def test_patch_refuses_read_only_and_create_only_fields(client, products):
    """PATCH refuses id and fields set only at creation (a booking's product)."""
    response = client.patch("/v1/products?name=eq.Loft", json={"id": str(uuid.uuid4())})
    assert ["id"] == error(response, 400, "bad_request")["details"]["fields"]
    response = client.patch("/v1/bookings?units=eq.1", json={"product_id": products["Loft"]["id"]})
    assert ["product_id"] == error(response, 400, "bad_request")["details"]["fields"]


def test_patch_array_body_is_400(client, products):
    """PATCH takes one object, not an array."""
    error(client.patch("/v1/products?name=eq.Loft", json=[{"capacity": 2}]), 400, "bad_request")


# --- auth ------------------------------------------------------------------------------


@pytest.fixture
def anonymous(store, clock, wakes):
    """A test client sending no API key."""
    with TestClient(build_app(store, clock, wakes)) as test_client:
        yield test_client


def test_no_api_key_is_401(anonymous):
    """A request without Authorization is 401 with WWW-Authenticate: Bearer."""
    response = anonymous.get("/v1/products")
    error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization", ["Bearer calsync_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "calsync_x"]
)
def test_wrong_api_key_is_401(anonymous, api_key, authorization):
    """An unknown key, or a header that is not a Bearer key, is 401."""
    response = anonymous.get("/v1/products", headers={"Authorization": authorization})
    error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_api_key_is_401(anonymous, store, api_key):
    """A revoked key is refused on every route."""
    with store.write() as session:
        key = session.query(ApiKey).one()
        revoke_api_key(session, key.id, now=NOW)
    response = anonymous.post(
        "/v1/products", json={"name": "X"}, headers={"Authorization": f"Bearer {api_key}"}
    )
    assert "revoked" in error(response, 401, "unauthorized")["message"]


def test_last_used_at_is_written_at_most_once_a_minute(client, store, clock):
    """Using a key sets last_used_at, again only after a minute."""

    def last_used() -> datetime | None:
        with store.read() as session:
            moment: datetime | None = session.scalars(select(ApiKey)).one().last_used_at
            return moment

    client.get("/v1/products")
    assert NOW == last_used()
    clock.now = NOW + timedelta(seconds=30)
    client.get("/v1/products")
    assert NOW == last_used()
    clock.now = NOW + timedelta(seconds=61)
    client.get("/v1/products")
    assert NOW + timedelta(seconds=61) == last_used()


def test_api_keys_are_stored_hashed(store, api_key):
    """Only the SHA-256 of a key is stored, never the key."""
    with store.read() as session:
        key = session.query(ApiKey).one()
    assert api_key.startswith("calsync_")
    assert api_key not in key.hashed_secret
    assert 64 == len(key.hashed_secret)


# --- external calendars ----------------------------------------------------------------


def test_post_calendar_derives_tld_name_and_makes_it_due(client, products, wakes):
    """A new calendar is named after its channel, due at once, and wakes the dispatcher."""
    [row] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "webcal://www.airbnb.co.uk/c/1.ics"},
    )
    assert ("airbnb.co.uk", "airbnb.co.uk", True, 0, "import") == (
        row["tld"],
        row["name"],
        row["active"],
        row["time_offset"],
        row["event_status_sync"],
    )
    assert "2026-11-15T12:00:00Z" == row["next_sync_at"]
    assert [NOW] == wakes


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("ical_url", "ftp://example.com/x.ics", "bad_request"),
        ("ical_url", "https://", "bad_request"),
        ("ical_url", "not a url", "bad_request"),
        ("time_offset", 1.5, "22P02"),
        ("time_offset", 49, "bad_request"),
        ("event_status_sync", "confirmed", "bad_request"),
        ("product_id", "nope", "22P02"),
        ("product_id", "00000000-0000-4000-8000-000000000000", "bad_request"),
    ],
)
def test_invalid_calendar_fields_are_400(client, products, field, value, code):
    """Bad URL schemes, offsets, statuses and unknown products are a 400 naming the field."""
    body = {"product_id": products["Cabin"]["id"], "ical_url": "https://a.example.com/x.ics"}
    answer = error(client.post("/v1/external_calendars", json=body | {field: value}), 400,
                   code)  # fmt: skip
    assert field in answer["message"]


def test_transparent_events_defaults_to_the_setting_and_is_patchable(store, clock, wakes, api_key):
    """A new calendar takes transparent_events from the setting unless given; PATCH changes it."""
    app = build_app(store, clock, wakes, default_transparent_events="skip")
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        [product] = create(client, "products", {"name": "Cabin"})
        url = "https://calendar.google.com/calendar/ical/x/basic.ics"
        [by_setting, given] = create(
            client,
            "external_calendars",
            [
                {"product_id": product["id"], "ical_url": url},
                {"product_id": product["id"], "ical_url": url, "transparent_events": "block"},
            ],
        )
        assert ("skip", "block") == (by_setting["transparent_events"], given["transparent_events"])
        response = client.patch(
            f"/v1/external_calendars?id=eq.{by_setting['id']}",
            json={"transparent_events": "block"},
            headers=REPRESENTATION,
        )
        assert "block" == response.json()[0]["transparent_events"]
        answer = error(
            client.patch(
                f"/v1/external_calendars?id=eq.{given['id']}", json={"transparent_events": "free"}
            ),
            400,
            "bad_request",
        )
        assert "transparent_events: expected one of block, skip" == answer["message"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://0..0/x.ics", "host '0..0' has an empty label"),
        ("http://exa mple.com/x.ics", "has characters a host name cannot have"),
        (f"https://{'a' * 64}.example.com/x.ics", "label longer than 63 characters"),
        ("https://", "the URL has no host"),
    ],
    ids=["empty-label", "space", "long-label", "no-host"],
)
def test_issue_truth_6_unfetchable_hosts_are_400_on_create_and_update(
    client, products, url, reason
):
    """A host no resolver can look up is refused with the reason, on POST and on PATCH."""
    body = {"product_id": products["Cabin"]["id"], "ical_url": url}
    answer = error(client.post("/v1/external_calendars", json=body), 400, "bad_request")
    assert reason in answer["message"]
    [calendar] = create(client, "external_calendars", body | {"ical_url": "https://a.example/x"})
    patched = client.patch(f"/v1/external_calendars?id=eq.{calendar['id']}", json={"ical_url": url})
    assert reason in error(patched, 400, "bad_request")["message"]


def test_a_refused_url_is_not_echoed_with_its_password(client, products):
    """The 400 for a bad URL names the reason but not the URL's user info or query."""
    url = "http://user:s3cret@0..0/x.ics?t=token"
    body = {"product_id": products["Cabin"]["id"], "ical_url": url}
    answer = error(client.post("/v1/external_calendars", json=body), 400, "bad_request")
    assert "s3cret" not in answer["message"]
    assert "token" not in answer["message"]


def test_patch_sync_requested_at_wakes_the_dispatcher(client, clock, products, wakes):
    """PATCH of sync_requested_at, whatever its value, sets it to now and wakes the dispatcher."""
    [calendar] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "https://www.airbnb.com/a.ics"},
    )
    wakes.clear()
    clock.now = NOW + timedelta(minutes=5)
    response = client.patch(
        f"/v1/external_calendars?id=eq.{calendar['id']}",
        json={"sync_requested_at": "whenever"},
        headers=REPRESENTATION,
    )
    assert 200 == response.status_code, response.text
    assert "2026-11-15T12:05:00Z" == response.json()[0]["sync_requested_at"]
    assert [NOW + timedelta(minutes=5)] == wakes


def test_patch_other_fields_does_not_wake_or_touch_updated_at(client, clock, products, wakes):
    """Renaming a calendar neither wakes the dispatcher nor moves updated_at (last feed change)."""
    [calendar] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "https://www.airbnb.com/a.ics"},
    )
    wakes.clear()
    clock.now = NOW + timedelta(minutes=5)
    response = client.patch(
        f"/v1/external_calendars?id=eq.{calendar['id']}",
        json={"name": "Airbnb", "time_offset": -2},
        headers=REPRESENTATION,
    )
    [row] = response.json()
    assert ("Airbnb", -2, calendar["updated_at"]) == (
        row["name"],
        row["time_offset"],
        row["updated_at"],
    )
    assert [] == wakes


def test_patch_ical_url_rederives_tld_and_forgets_validators(client, store, products, wakes):
    """A new ical_url re-derives tld, clears etag/last_modified/digest/prodid and syncs at once."""
    [calendar] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "https://www.airbnb.com/a.ics"},
    )
    with store.write() as session:
        row = session.get(ExternalCalendar, uuid.UUID(calendar["id"]))
        row.etag, row.last_modified, row.content_digest, row.prodid = '"e"', "lm", "d", "p"
    response = client.patch(
        f"/v1/external_calendars?id=eq.{calendar['id']}",
        json={"ical_url": "https://admin.booking.com/hotel/ical.ics"},
        headers=REPRESENTATION,
    )
    assert "booking.com" == response.json()[0]["tld"]
    with store.read() as session:
        row = session.get(ExternalCalendar, uuid.UUID(calendar["id"]))
        assert (None, None, None, None) == (
            row.etag,
            row.last_modified,
            row.content_digest,
            row.prodid,
        )


def test_sync_trigger_answers_202_and_wakes(client, clock, products, wakes):
    """POST /external_calendars/{id}/sync sets sync_requested_at, answers 202 and wakes."""
    [calendar] = create(
        client,
        "external_calendars",
        {"product_id": products["Cabin"]["id"], "ical_url": "https://www.airbnb.com/a.ics"},
    )
    wakes.clear()
    response = client.post(f"/v1/external_calendars/{calendar['id']}/sync")
    assert 202 == response.status_code, response.text
    assert {"id": calendar["id"], "sync_requested_at": "2026-11-15T12:00:00Z"} == response.json()
    assert [NOW] == wakes


def test_sync_trigger_of_unknown_or_malformed_id(client, wakes):
    """Syncing an unknown calendar or an id that cannot be one is 404; neither wakes."""
    error(client.post(f"/v1/external_calendars/{uuid.uuid4()}/sync"), 404, "not_found")
    error(client.post("/v1/external_calendars/nope/sync"), 404, "not_found")
    assert [] == wakes


def test_sync_trigger_needs_an_api_key(anonymous):
    """The sync trigger is behind the API key too."""
    error(anonymous.post(f"/v1/external_calendars/{uuid.uuid4()}/sync"), 401, "unauthorized")


def test_release_applies_held_deletions_and_answers_the_count_and_the_calendar(
    client, store, products
):
    """POST …/{id}/release deletes the held bookings, clears held_since and error, says how many."""
    calendar_id, booking_id = imported(store, products["Loft"]["id"])
    with store.write() as session:
        session.get(Booking, uuid.UUID(booking_id)).delete_held_at = NOW
        calendar = session.get(ExternalCalendar, uuid.UUID(calendar_id))
        calendar.held_since, calendar.error = NOW, "1 deletions held: …"
    response = client.post(f"/v1/external_calendars/{calendar_id}/release")
    assert 200 == response.status_code, response.text
    answer = response.json()
    assert (1, calendar_id, None, None) == (
        answer["released"],
        answer["external_calendar"]["id"],
        answer["external_calendar"]["held_since"],
        answer["external_calendar"]["error"],
    )
    assert [] == client.get("/v1/bookings").json()
    assert 0 == client.post(f"/v1/external_calendars/{calendar_id}/release").json()["released"]


def test_release_of_an_unknown_or_malformed_id(client):
    """Releasing an unknown calendar or an id that cannot be one is 404."""
    error(client.post(f"/v1/external_calendars/{uuid.uuid4()}/release"), 404, "not_found")
    error(client.post("/v1/external_calendars/nope/release"), 404, "not_found")


def test_rotate_feed_token_answers_the_product_with_a_new_token(client, products):
    """POST /v1/products/{id}/rotate_feed_token answers the product with a new feed_token."""
    product = products["Cabin"]
    response = client.post(f"/v1/products/{product['id']}/rotate_feed_token")
    assert 200 == response.status_code, response.text
    rotated = response.json()
    assert (product["id"], product["name"]) == (rotated["id"], rotated["name"])
    assert product["feed_token"] != rotated["feed_token"]
    stored = client.get(f"/v1/products?id=eq.{product['id']}&select=feed_token").json()
    assert [{"feed_token": rotated["feed_token"]}] == stored
    error(client.post(f"/v1/products/{uuid.uuid4()}/rotate_feed_token"), 404, "not_found")


def test_the_actions_are_documented(client):
    """openapi.json describes sync, release and rotate_feed_token with their answers."""
    paths = client.get("/openapi.json").json()["paths"]
    assert {"202", "404"} <= set(
        paths["/v1/external_calendars/{calendar_id}/sync"]["post"]["responses"]
    )
    release = paths["/v1/external_calendars/{calendar_id}/release"]["post"]["responses"]["200"]
    schema = release["content"]["application/json"]["schema"]
    assert {"released", "external_calendar"} == set(schema["properties"])
    assert "200" in paths["/v1/products/{product_id}/rotate_feed_token"]["post"]["responses"]


def imported(store, product_id: str, *, name: str = "Airbnb", starts: str = "2026-12-10"):
    """An external calendar of the product with one imported booking; returns both ids."""
    with store.write() as session:
        calendar = add_calendar(
            session,
            product_id=uuid.UUID(product_id),
            name=name,
            ical_url="https://www.airbnb.com/calendar/ical/1.ics",
            time_offset=0,
            active=True,
            now=NOW,
        )
        booking = Booking(
            product_id=calendar.product_id,
            external_calendar_id=calendar.id,
            source_key="uid-1@airbnb.com",
            starts_at=NOW.fromisoformat(f"{starts}T00:00:00+00:00"),
            ends_at=NOW.fromisoformat(f"{starts}T00:00:00+00:00") + 3 * DAY,
            all_day=True,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(booking)
        session.flush()
        return str(calendar.id), str(booking.id)


def test_delete_calendar_deletes_its_imported_bookings(client, store, products):
    """Deleting an external calendar deletes the bookings imported from it, not the others."""
    product_id = products["Loft"]["id"]
    calendar_id, _ = imported(store, product_id)
    create(client, "bookings", {"product_id": product_id, "starts_at": "2026-12-20",
                                "ends_at": "2026-12-22", "all_day": True})  # fmt: skip
    response = client.delete(f"/v1/external_calendars?id=eq.{calendar_id}", headers=REPRESENTATION)
    assert [calendar_id] == [row["id"] for row in response.json()]
    assert [None] == [row["external_calendar_id"] for row in client.get("/v1/bookings").json()]


def test_delete_calendars_counts_the_bookings_deleted_with_them(client, store, products):
    """DELETE of calendars answers Calsync-Deleted-Bookings and deleted_bookings on each row."""
    product_id = products["Loft"]["id"]
    imported(store, product_id, name="Airbnb")
    imported(store, product_id, name="Vrbo", starts="2026-12-20")
    create(client, "external_calendars", {"product_id": product_id, "name": "Empty",
                                          "ical_url": "https://example.com/empty.ics"})  # fmt: skip
    response = client.delete(
        f"/v1/external_calendars?product_id=eq.{product_id}&select=name", headers=REPRESENTATION
    )
    assert 200 == response.status_code, response.text
    assert "2" == response.headers["Calsync-Deleted-Bookings"]
    assert [{"name": "Airbnb", "deleted_bookings": 1}, {"name": "Empty", "deleted_bookings": 0},
            {"name": "Vrbo", "deleted_bookings": 1}] == sorted(
        response.json(), key=lambda row: row["name"])  # fmt: skip
    assert [] == client.get("/v1/bookings").json()


def test_delete_calendar_minimal_answers_204_with_the_count(client, store, products):
    """Prefer: return=minimal still says how many bookings went: 204 with the header."""
    calendar_id, _ = imported(store, products["Loft"]["id"])
    response = client.delete(
        f"/v1/external_calendars?id=eq.{calendar_id}", headers={"Prefer": "return=minimal"}
    )
    assert (204, b"", "1") == (
        response.status_code,
        response.content,
        response.headers["Calsync-Deleted-Bookings"],
    )


def test_delete_product_cascades(client, store, products):
    """Deleting a product deletes its calendars and bookings."""
    product_id = products["Loft"]["id"]
    imported(store, product_id)
    client.delete(f"/v1/products?id=eq.{product_id}")
    assert [] == client.get("/v1/external_calendars").json()
    assert [] == client.get("/v1/bookings").json()


# --- bookings --------------------------------------------------------------------------


def booking(product: dict[str, Any], starts: str, ends: str, **fields: object) -> dict[str, Any]:
    return {"product_id": product["id"], "starts_at": starts, "ends_at": ends, **fields}


def test_post_direct_booking(client, products):
    """A direct booking is created with its defaults and no external calendar."""
    [row] = create(
        client, "bookings", booking(products["Cabin"], "2026-12-01", "2026-12-04", all_day=True)
    )
    assert (None, True, 1, "confirmed", "", None) == (
        row["external_calendar_id"],
        row["all_day"],
        row["units"],
        row["status"],
        row["summary"],
        row["source_key"],
    )
    assert ("2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z") == (row["starts_at"], row["ends_at"])


def test_post_booking_with_external_calendar_is_400(client, store, products):
    """POST cannot make an imported booking: external_calendar_id must be null."""
    calendar_id, _ = imported(store, products["Cabin"]["id"])
    body = booking(products["Cabin"], "2026-12-20", "2026-12-22", external_calendar_id=calendar_id)
    answer = error(client.post("/v1/bookings", json=body), 400, "bad_request")
    assert "external_calendar_id" in answer["message"]
    [row] = create(client, "bookings", body | {"external_calendar_id": None})
    assert row["external_calendar_id"] is None


@pytest.mark.parametrize(
    ("starts", "ends", "fields", "named", "code"),
    [
        ("2026-12-04", "2026-12-01", {}, "ends_at", "bad_request"),
        ("2026-12-04", "2026-12-04", {}, "ends_at", "bad_request"),
        ("2026-12-01T14:00:00Z", "2026-12-04", {"all_day": True}, "starts_at", "bad_request"),
        ("2026-12-01", "2026-12-04T11:00:00+01:00", {"all_day": True}, "ends_at", "bad_request"),
        ("2026-12-01T14:00:00+25:00", "2026-12-04", {}, "starts_at", "22P02"),
        ("2026-13-01", "2026-12-04", {}, "starts_at", "22P02"),
        ("2026-12-01", "2026-12-04", {"units": 0}, "units", "bad_request"),
        ("2026-12-01", "2026-12-04", {"status": "paid"}, "status", "bad_request"),
    ],
)
def test_invalid_booking_times_are_400(client, products, starts, ends, fields, named, code):
    """ends_at after starts_at, midnight UTC for all-day, valid instants, units and status."""
    body = booking(products["Cabin"], starts, ends, **fields)
    assert named in error(client.post("/v1/bookings", json=body), 400, code)["message"]


def test_all_day_at_midnight_utc_with_offset_is_accepted(client, products):
    """An all-day booking given as 01:00+01:00 is midnight UTC and accepted."""
    body = booking(products["Cabin"], "2026-12-01T01:00:00+01:00", "2026-12-03", all_day=True)
    assert "2026-12-01T00:00:00Z" == create(client, "bookings", body)[0]["starts_at"]


def test_overlap_beyond_capacity_is_409_listing_conflicts(client, store, products):
    """A booking that would exceed capacity is 409 conflict listing the nights and bookings in the way."""
    product = products["Beach house"]
    calendar_id, imported_id = imported(store, product["id"], starts="2026-12-10")
    response = client.post("/v1/bookings", json=booking(product, "2026-12-12", "2026-12-15"))
    answer = error(response, 409, "conflict")
    assert ["2026-12-12"] == answer["details"]["nights"]
    assert [
        {
            "booking_id": imported_id,
            "product_id": product["id"],
            "starts_at": "2026-12-10T00:00:00Z",
            "ends_at": "2026-12-13T00:00:00Z",
            "external_calendar_id": calendar_id,
        }
    ] == answer["details"]["conflicts"]
    assert 1 == len(client.get("/v1/bookings").json())


def test_force_true_books_anyway(client, store, products):
    """force=true books even when capacity would be exceeded."""
    product = products["Beach house"]
    imported(store, product["id"], starts="2026-12-10")
    create(client, "bookings", booking(product, "2026-12-12", "2026-12-15"), force="true")
    assert 2 == len(client.get("/v1/bookings").json())


def test_force_must_be_a_boolean(client, products):
    """The force parameter takes true or false only."""
    body = booking(products["Cabin"], "2026-12-12", "2026-12-15")
    assert "force" in error(client.post("/v1/bookings?force=yes", json=body), 400,
                            "PGRST100")["message"]  # fmt: skip


def test_back_to_back_bookings_do_not_conflict(client, products):
    """A stay starting on another's check-out day fits a capacity of 1."""
    product = products["Beach house"]
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-05", all_day=True))
    create(client, "bookings", booking(product, "2026-12-05", "2026-12-08", all_day=True))


def test_cancelled_bookings_never_conflict(client, products):
    """A cancelled booking neither blocks others nor is checked itself."""
    product = products["Beach house"]
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-05", status="cancelled"))
    create(client, "bookings", booking(product, "2026-12-02", "2026-12-04"))
    create(client, "bookings", booking(product, "2026-12-02", "2026-12-04", status="cancelled"))


def test_peak_concurrency_not_the_sum_decides(client, products):
    """Two stays one after the other and one across both fit a capacity of 2; a third overlap does not."""
    product = products["Cabin"]
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-03"))
    create(client, "bookings", booking(product, "2026-12-03", "2026-12-05"))
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-05"))
    response = client.post("/v1/bookings", json=booking(product, "2026-12-04", "2026-12-06"))
    conflicts = error(response, 409, "conflict")["details"]["conflicts"]
    assert [("2026-12-01T00:00:00Z", "2026-12-05T00:00:00Z"),
            ("2026-12-03T00:00:00Z", "2026-12-05T00:00:00Z")] == [
        (c["starts_at"], c["ends_at"]) for c in conflicts
    ]  # fmt: skip
    create(client, "bookings", booking(product, "2026-12-05", "2026-12-06", units=2))


def test_units_beyond_capacity_alone_conflict(client, products):
    """Booking more units than the product has is a 409 even with nothing else booked."""
    response = client.post("/v1/bookings", json=booking(products["Cabin"], "2026-12-01",
                                                         "2026-12-02", units=3))  # fmt: skip
    assert [] == error(response, 409, "conflict")["details"]["conflicts"]


def test_bulk_bookings_conflict_with_each_other(client, products):
    """Bookings in one POST array are checked against each other, and none is kept on a conflict."""
    product = products["Beach house"]
    response = client.post(
        "/v1/bookings",
        json=[booking(product, "2026-12-01", "2026-12-05"),
              booking(product, "2026-12-03", "2026-12-06")],
    )  # fmt: skip
    error(response, 409, "conflict")
    assert [] == client.get("/v1/bookings").json()


def test_patch_moving_into_an_overlap_is_409(client, products):
    """Moving or enlarging a direct booking onto another is refused unless forced."""
    product = products["Beach house"]
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-05"))
    [second] = create(client, "bookings", booking(product, "2026-12-10", "2026-12-12"))
    target = f"/v1/bookings?id=eq.{second['id']}"
    error(client.patch(target, json={"starts_at": "2026-12-04"}), 409, "conflict")
    response = client.patch(
        target + "&force=true", json={"starts_at": "2026-12-04"}, headers=REPRESENTATION
    )
    assert "2026-12-04T00:00:00Z" == response.json()[0]["starts_at"]


def test_patch_summary_of_an_overlapping_booking_is_allowed(client, products):
    """A change that does not move, grow or revive a booking is not checked."""
    product = products["Beach house"]
    create(client, "bookings", booking(product, "2026-12-01", "2026-12-05"))
    [forced] = create(
        client, "bookings", booking(product, "2026-12-02", "2026-12-03"), force="true"
    )
    response = client.patch(
        f"/v1/bookings?id=eq.{forced['id']}", json={"summary": "Owner"}, headers=REPRESENTATION
    )
    assert "Owner" == response.json()[0]["summary"]


def test_uncancelling_into_an_overlap_is_409(client, products):
    """Reviving a cancelled booking whose nights were taken meanwhile is a conflict."""
    product = products["Beach house"]
    [cancelled] = create(
        client, "bookings", booking(product, "2026-12-01", "2026-12-05", status="cancelled")
    )
    create(client, "bookings", booking(product, "2026-12-02", "2026-12-04"))
    response = client.patch(f"/v1/bookings?id=eq.{cancelled['id']}", json={"status": "confirmed"})
    error(response, 409, "conflict")
    response = client.patch(f"/v1/bookings?id=eq.{cancelled['id']}", json={"status": "tentative"})
    error(response, 409, "conflict")


def test_cancel_a_direct_booking(client, products):
    """PATCH status=cancelled cancels a direct booking and frees its nights."""
    product = products["Beach house"]
    [first] = create(client, "bookings", booking(product, "2026-12-01", "2026-12-05"))
    client.patch(f"/v1/bookings?id=eq.{first['id']}", json={"status": "cancelled"})
    create(client, "bookings", booking(product, "2026-12-02", "2026-12-04"))


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_imported_bookings_are_read_only(client, store, products, method):
    """PATCH or DELETE touching an imported booking is 409 imported_booking naming its calendar."""
    product = products["Loft"]
    calendar_id, booking_id = imported(store, product["id"], name="Airbnb Loft")
    create(client, "bookings", booking(product, "2026-12-20", "2026-12-22"))
    response = client.request(method, "/v1/bookings?units=eq.1", json={"summary": "mine"})
    answer = error(response, 409, "imported_booking")
    assert "Airbnb Loft" in answer["message"]
    assert [{"booking_id": booking_id, "external_calendar_id": calendar_id,
             "external_calendar_name": "Airbnb Loft"}] == answer["details"]["bookings"]  # fmt: skip
    assert {"", "mine"} >= {row["summary"] for row in client.get("/v1/bookings").json()}
    assert 2 == len(client.get("/v1/bookings").json())


def test_delete_direct_booking(client, products):
    """A direct booking is deleted with a filter."""
    [row] = create(client, "bookings", booking(products["Loft"], "2026-12-01", "2026-12-02"))
    deleted = client.delete(f"/v1/bookings?id=eq.{row['id']}", headers=REPRESENTATION)
    assert [row["id"]] == [r["id"] for r in deleted.json()]


# --- capacity group dependencies -------------------------------------------------------


def test_capacity_group_dependencies(client, products):
    """A dependency links two products; self-links, duplicates and cycles are 409."""
    house, room, loft = (products[n]["id"] for n in ("Beach house", "Cabin", "Loft"))
    [row] = create(client, "capacity_group_dependencies",
                   {"accumulator_id": house, "element_id": room})  # fmt: skip
    assert (house, room) == (row["accumulator_id"], row["element_id"])
    for body in (
        {"accumulator_id": house, "element_id": house},
        {"accumulator_id": house, "element_id": room},
        {"accumulator_id": room, "element_id": house},
    ):
        error(client.post("/v1/capacity_group_dependencies", json=body), 409, "conflict")
    create(client, "capacity_group_dependencies", {"accumulator_id": room, "element_id": loft})
    cycle = {"accumulator_id": loft, "element_id": house}
    assert "cycle" in error(client.post("/v1/capacity_group_dependencies", json=cycle), 409,
                            "conflict")["message"]  # fmt: skip
    response = client.patch(
        f"/v1/capacity_group_dependencies?id=eq.{row['id']}", json={"element_id": house}
    )
    error(response, 409, "conflict")


def test_capacity_group_dependency_needs_existing_products(client, products):
    """A dependency naming a product that does not exist is a 400 naming the field."""
    body = {"accumulator_id": products["Loft"]["id"], "element_id": str(uuid.uuid4())}
    answer = error(client.post("/v1/capacity_group_dependencies", json=body), 400, "bad_request")
    assert "element_id" == answer["details"]["field"]


# --- read-only resources and extra fields ----------------------------------------------


@pytest.mark.parametrize("resource", ["sync_runs", "product_calendar_logs"])
@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_read_only_resources_refuse_writes_with_405(client, resource, method):
    """sync_runs and product_calendar_logs answer writes with 405 method_not_allowed and the true Allow."""
    response = client.request(method, f"/v1/{resource}?id=eq.x", json={})
    error(response, 405, "method_not_allowed")
    assert "OPTIONS,GET,HEAD" == response.headers["allow"]


def test_sync_runs_are_listed_and_filtered(client, store, products):
    """sync_runs are read with the same query language."""
    calendar_id, _ = imported(store, products["Loft"]["id"])
    with store.write() as session:
        for outcome, minutes in (("changed", 0), ("failed", 15)):
            session.add(
                SyncRun(
                    external_calendar_id=uuid.UUID(calendar_id),
                    started_at=NOW + timedelta(minutes=minutes),
                    finished_at=NOW + timedelta(minutes=minutes, seconds=2),
                    outcome=outcome,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    response = client.get("/v1/sync_runs?outcome=eq.failed&select=outcome,started_at")
    assert [{"outcome": "failed", "started_at": "2026-11-15T12:15:00Z"}] == response.json()
    response = client.get("/v1/sync_runs?order=started_at.desc&select=outcome")
    assert [{"outcome": "failed"}, {"outcome": "changed"}] == response.json()


def test_extra_fields_are_merged_into_answers(store, clock, wakes, api_key):
    """extra_fields adds computed fields to GET, POST and PATCH answers; select may name them.

    Its factory is called once per answer with the answer's rows, so they can share
    work, and not at all when select names no computed field.
    """
    answers = []

    def shout_fields(rows):
        answers.append(sorted(row.name for row in rows))
        return lambda row: {"shout": row.name.upper()}

    app = build_app(
        store,
        clock,
        wakes,
        extra_fields={"products": shout_fields},
        extra_schema={"products": {"shout": {"type": "string"}}},
    )
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        assert "HUT" == create(test_client, "products", {"name": "hut"})[0]["shout"]
        create(test_client, "products", {"name": "barn"})
        answers.clear()
        assert [{"shout": "BARN"}, {"shout": "HUT"}] == test_client.get(
            "/v1/products?select=shout&order=name"
        ).json()
        assert [["barn", "hut"]] == answers
        assert [{"name": "hut"}] == test_client.get("/v1/products?select=name&name=eq.hut").json()
        assert [["barn", "hut"]] == answers
        response = test_client.patch(
            "/v1/products?name=eq.hut", json={"name": "shed"}, headers=REPRESENTATION
        )
        assert "SHED" == response.json()[0]["shout"]


def test_every_operation_is_documented(client):
    """openapi.json lists every operation with its parameters, body and error responses."""
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for resource in ("products", "external_calendars", "bookings", "capacity_group_dependencies"):
        assert {"get", "post", "patch", "delete"} == set(paths[f"/v1/{resource}"])
        post = paths[f"/v1/{resource}"]["post"]
        assert "requestBody" in post
        assert {"201", "400", "401", "409"} <= set(post["responses"])
    assert {"get"} == set(paths["/v1/sync_runs"])
    listing = paths["/v1/bookings"]["get"]
    parameter_names = {p["name"] for p in listing["parameters"]}
    assert {"select", "order", "limit", "offset", "Range", "starts_at", "status"} <= parameter_names
    assert {"200", "206", "400", "401", "416"} <= set(listing["responses"])
    assert "col" in listing["description"] or "column=operator.value" in listing["description"]
    assert "202" in paths["/v1/external_calendars/{calendar_id}/sync"]["post"]["responses"]
    assert "ErrorBody" in document["components"]["schemas"]
