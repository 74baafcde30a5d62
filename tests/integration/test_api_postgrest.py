"""What PostgREST clients rely on, at /v1, in-process on SQLite and PostgreSQL.

One object (vnd.pgrst.object), % wildcards and non-ASCII ilike, columns=, logic
trees, upserts, Prefer (return, count, strict handling), HEAD, OPTIONS and 405,
timestamps with a space, api.max_rows, CSV and 406, and the filter syntax on
/v1/availability and /v1/conflicts. The official client against a real socket is
tests/integration/test_postgrest_client.py.
"""

# The API fixtures are test_api's, imported; each test names them as parameters.
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api import api_key, build_app, client, create, error, names, products, wakes  # noqa: F401

from calsync.config import ApiSettings
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.web.app import create_app
from conftest import REPRESENTATION, make_settings

OBJECT = {"Accept": "application/vnd.pgrst.object+json"}
COUNT = {"Prefer": "count=exact"}


def rows_of(client, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/{query}")
    assert response.status_code in {200, 206}, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


# --- one object -----------------------------------------------------------------------


def test_issue_14_single_object_answers_one_json_object(client, products):
    """Accept: application/vnd.pgrst.object+json answers the one row as an object, not an array."""
    response = client.get("/v1/products?name=eq.Cabin", headers=OBJECT)
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/vnd.pgrst.object+json")
    assert "Cabin" == response.json()["name"]


@pytest.mark.parametrize(("query", "rows"), [("name=eq.Nothing", 0), ("capacity=gte.2", 2)])
def test_issue_14_single_object_of_zero_or_several_rows_is_406(client, products, query, rows):
    """Zero or several rows for one object: 406 PGRST116 saying how many, never a silent array."""
    answer = error(client.get(f"/v1/products?{query}", headers=OBJECT), 406, "PGRST116")
    assert rows == answer["details"]["rows"]


def test_single_object_on_a_write_that_matches_two_rows_changes_nothing(client, products):
    """A PATCH asking for one object that matches two rows is 406 and rolled back."""
    response = client.patch(
        "/v1/products?capacity=gte.2", json={"capacity": 9}, headers={**OBJECT, **REPRESENTATION}
    )
    error(response, 406, "PGRST116")
    assert [1, 2, 3] == [row["capacity"] for row in rows_of(client, "products?order=name")]
    one = client.post(
        "/v1/products", json={"name": "Annex"}, headers={**OBJECT, **REPRESENTATION}
    ).json()
    assert "Annex" == one["name"]


# --- like and ilike -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=like.B%25", ["Beach house"]),
        ("name=like.%25a%25", ["Beach house", "Cabin"]),
        ("name=like.C_bin", ["Cabin"]),
        ("name=like.*o_t", ["Loft"]),
        ("name=ilike.cab%25", ["Cabin"]),
    ],
)
def test_issue_14_like_takes_percent_and_underscore(client, products, query, expected):
    """The like and ilike filters take % and _ as PostgreSQL does (and * for %); % matched nothing before."""
    assert expected == names(client.get(f"/v1/products?{query}&order=name"))


def test_issue_14_ilike_ignores_case_of_non_ascii_letters(client):
    """ilike.*müller* finds MÜLLER and Müller on every database; like keeps the case."""
    create(client, "products", [{"name": "Haus MÜLLER"}, {"name": "Haus Müller"}, {"name": "X"}])
    assert ["Haus MÜLLER", "Haus Müller"] == names(
        client.get("/v1/products?name=ilike.*müller*&order=name")
    )
    assert ["Haus Müller"] == names(client.get("/v1/products?name=like.*Müller*"))


def test_a_pattern_ending_with_a_lone_backslash_is_400(client, products):
    """A like pattern PostgreSQL would refuse is a 400 on both databases, naming the filter."""
    answer = error(client.get("/v1/products?name=like.abc%5C"), 400, "22P02")
    assert "name" in answer["message"]


# --- columns= -------------------------------------------------------------------------


def test_issue_14_columns_names_the_keys_of_a_bulk_insert(client):
    """columns= (quoted, as the clients send it) picks the keys; the others are ignored."""
    response = client.post(
        '/v1/products?columns="name","capacity"',
        json=[{"name": "A", "capacity": 2, "colour": "red"}, {"name": "B"}],
        headers=REPRESENTATION,
    )
    assert 201 == response.status_code, response.text
    assert [("A", 2), ("B", 1)] == [(r["name"], r["capacity"]) for r in response.json()]


def test_columns_naming_an_unknown_column_is_pgrst204(client):
    """A columns= name the resource does not have is 400 PGRST204 naming it."""
    answer = error(client.post("/v1/products?columns=name,colour", json={"name": "A"}), 400,
                   "PGRST204")  # fmt: skip
    assert "colour" in answer["message"]


# --- logic trees ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("or=(capacity.eq.1,name.eq.Loft)", ["Beach house", "Loft"]),
        ("or=(capacity.gte.3,and(capacity.gte.2,name.like.C*))", ["Cabin", "Loft"]),
        ("not.or=(capacity.eq.1,name.eq.Loft)", ["Cabin"]),
        ("and=(capacity.gte.2,capacity.lte.2)", ["Cabin"]),
        ("not.and=(capacity.gte.2,capacity.lte.2)", ["Beach house", "Loft"]),
        ('or=(name.eq."Beach house",name.in.(Loft,"a,b"))', ["Beach house", "Loft"]),
        ("or=(capacity.not.eq.2,timezone.is.null)", ["Beach house", "Loft"]),
        ("capacity=gte.2&or=(name.eq.Cabin,name.eq.Beach house)", ["Cabin"]),
        ("or=(capacity.eq(any).{1,3})", ["Beach house", "Loft"]),
    ],
)
def test_issue_14_logic_trees(client, products, query, expected):
    """or=, and=, nested trees and not.or= take the same operators as column filters."""
    assert expected == names(client.get(f"/v1/products?{query}&order=name"))


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("or=(secret.eq.1)", "42703"),
        ("or=capacity.eq.1", "PGRST100"),
        ("or=(capacity.eq.1", "PGRST100"),
        ("or=(capacity)", "PGRST100"),
        ("or=(capacity.eq.two)", "22P02"),
        ("or=(name.fts.house)", "PGRST127"),
    ],
)
def test_bad_logic_trees_are_400(client, products, query, code):
    """An unknown column, a tree without parentheses, an unknown operator or value: 400 with its code."""
    error(client.get(f"/v1/products?{query}"), 400, code)


def test_a_logic_tree_is_a_filter_for_patch(client, products):
    """PATCH ?or=(…) changes the rows the tree matches (and is enough of a filter)."""
    response = client.patch("/v1/products?or=(name.eq.Loft,name.eq.Cabin)", json={"capacity": 7})
    assert 204 == response.status_code, response.text
    assert [1, 7, 7] == [row["capacity"] for row in rows_of(client, "products?order=name")]


# --- upsert ---------------------------------------------------------------------------


MERGE = {"Prefer": "resolution=merge-duplicates,return=representation"}


def test_issue_14_upsert_merges_on_the_id_instead_of_inserting_again(client):
    """resolution=merge-duplicates with an id: the first call creates it, the second changes it."""
    product_id = str(uuid.uuid4())
    first = client.post("/v1/products", json={"id": product_id, "name": "A"}, headers=MERGE)
    assert (201, product_id) == (first.status_code, first.json()[0]["id"]), first.text
    again = client.post(
        "/v1/products", json={"id": product_id, "name": "B", "capacity": 3}, headers=MERGE
    )
    assert (200, "B", 3) == (
        again.status_code,
        again.json()[0]["name"],
        again.json()[0]["capacity"],
    )
    assert [("B", 3)] == [(r["name"], r["capacity"]) for r in rows_of(client, "products")]


def test_upsert_ignore_duplicates_leaves_existing_rows_alone(client):
    """resolution=ignore-duplicates creates the new rows and answers only them."""
    [kept] = create(client, "products", {"name": "Kept"})
    response = client.post(
        "/v1/products",
        json=[{"id": kept["id"], "name": "Changed"}, {"name": "New"}],
        headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
    )
    assert (201, ["New"]) == (response.status_code, [r["name"] for r in response.json()])
    assert ["Kept", "New"] == names(client.get("/v1/products?order=name"))


def test_upsert_on_a_bookings_reference_updates_the_booking(client, products):
    """on_conflict=product_id,reference: a platform's retried booking updates the one it made."""
    body = {"product_id": products["Cabin"]["id"], "starts_at": "2026-12-01",
            "ends_at": "2026-12-03", "all_day": True, "reference": "BK-1"}  # fmt: skip
    url = "/v1/bookings?on_conflict=product_id,reference"
    [made] = client.post(url, json=body, headers=MERGE).json()
    response = client.post(url, json=body | {"ends_at": "2026-12-04"}, headers=MERGE)
    assert [(made["id"], "2026-12-04T00:00:00Z")] == [
        (r["id"], r["ends_at"]) for r in response.json()
    ]
    assert 1 == len(rows_of(client, "bookings"))


@pytest.mark.parametrize(
    ("url", "body", "code"),
    [
        ("/v1/products?on_conflict=name", {"name": "A"}, "42P10"),
        ("/v1/products", [{"id": "6c9a93dd-0000-4000-8000-000000000000", "name": "A"},
                          {"id": "6c9a93dd-0000-4000-8000-000000000000", "name": "B"}],
         "bad_request"),
    ],
)  # fmt: skip
def test_bad_upserts_are_400(client, url, body, code):
    """An on_conflict that is no unique key, or one key twice in one body, is a 400."""
    error(client.post(url, json=body, headers=MERGE), 400, code)
    assert [] == rows_of(client, "products")


def test_an_id_is_read_only_without_an_upsert(client):
    """Without resolution=… the id stays read-only, as before."""
    answer = error(client.post("/v1/products", json={"id": str(uuid.uuid4()), "name": "A"}), 400,
                   "bad_request")  # fmt: skip
    assert ["id"] == answer["details"]["fields"]


# --- Prefer, HEAD, OPTIONS, 405 -------------------------------------------------------


def test_issue_14_writes_answer_without_a_body_unless_asked(client, products):
    """POST 201, PATCH and DELETE 204 with no body; return=representation answers the rows."""
    posted = client.post("/v1/products", json={"name": "Quiet"})
    assert (201, b"") == (posted.status_code, posted.content)
    patched = client.patch("/v1/products?name=eq.Quiet", json={"capacity": 2})
    assert (204, b"") == (patched.status_code, patched.content)
    deleted = client.delete("/v1/products?name=eq.Quiet")
    assert (204, b"") == (deleted.status_code, deleted.content)
    assert ["Beach house", "Cabin", "Loft"] == names(client.get("/v1/products?order=name"))


def test_issue_14_count_exact_on_every_method(client, products):
    """Prefer: count=exact puts the total (or the rows written) in Content-Range."""
    assert "0-0/3" == client.get("/v1/products?limit=1", headers=COUNT).headers["content-range"]
    assert "0-0/*" == client.get("/v1/products?limit=1").headers["content-range"]
    posted = client.post("/v1/products", json=[{"name": "A"}, {"name": "B"}], headers=COUNT)
    assert (201, "*/2") == (posted.status_code, posted.headers["content-range"])
    patched = client.patch("/v1/products?name=in.(A,B)", json={"capacity": 4}, headers=COUNT)
    assert (204, "0-1/2") == (patched.status_code, patched.headers["content-range"])
    deleted = client.delete("/v1/products?name=in.(A,B)", headers=COUNT)
    assert (204, "*/2", "count=exact") == (
        deleted.status_code, deleted.headers["content-range"],
        deleted.headers["preference-applied"],
    )  # fmt: skip


def test_return_headers_only_answers_the_location(client):
    """Prefer: return=headers-only answers 201 with the created row's Location."""
    response = client.post(
        "/v1/products", json={"name": "A"}, headers={"Prefer": "return=headers-only"}
    )
    [row] = rows_of(client, "products")
    assert (201, b"", f"/v1/products?id=eq.{row['id']}") == (
        response.status_code, response.content, response.headers["location"],
    )  # fmt: skip


def test_strict_handling_refuses_unknown_preferences_and_enforces_max_affected(client, products):
    """handling=strict: an unknown preference is 400 PGRST122; max-affected is 400 PGRST124."""
    error(client.get("/v1/products", headers={"Prefer": "handling=strict, tx=maybe"}), 400,
          "PGRST122")  # fmt: skip
    assert 200 == client.get("/v1/products", headers={"Prefer": "tx=maybe"}).status_code
    strict = {"Prefer": "handling=strict, max-affected=1"}
    error(client.patch("/v1/products?capacity=gte.2", json={"capacity": 5}, headers=strict),
          400, "PGRST124")  # fmt: skip
    assert [1, 2, 3] == [row["capacity"] for row in rows_of(client, "products?order=name")]
    assert 204 == client.delete("/v1/products?name=eq.Loft", headers=strict).status_code


def test_issue_14_head_counts_without_a_body(client, products):
    """HEAD answers a GET's status and headers (the count too) without the rows."""
    response = client.head("/v1/products?limit=2", headers=COUNT)
    assert (206, "0-1/3", b"") == (
        response.status_code, response.headers["content-range"], response.content,
    )  # fmt: skip


def test_issue_14_options_and_405_carry_a_true_allow(client):
    """OPTIONS lists the methods; an unsupported method is 405 PGRST117 with the same Allow."""
    assert "OPTIONS,GET,HEAD,POST,PATCH,DELETE" == client.options("/v1/products").headers["allow"]
    assert "OPTIONS,GET,HEAD" == client.options("/v1/sync_runs").headers["allow"]
    response = client.put("/v1/products", json={})
    error(response, 405, "PGRST117")
    assert "OPTIONS,GET,HEAD,POST,PATCH,DELETE" == response.headers["allow"]
    sync = client.get(f"/v1/external_calendars/{uuid.uuid4()}/sync")
    assert (405, "POST") == (sync.status_code, sync.headers["allow"])


# --- timestamps, max rows, representations ---------------------------------------------


def test_issue_14_timestamps_with_a_space_and_no_offset_are_utc(client, products):
    """2027-06-10 09:00:00 (a space, no offset) is read as UTC in bodies and in filters."""
    [row] = create(client, "bookings", {"product_id": products["Cabin"]["id"],
                                        "starts_at": "2027-06-10 09:00:00",
                                        "ends_at": "2027-06-10 17:30"})  # fmt: skip
    assert ("2027-06-10T09:00:00Z", "2027-06-10T17:30:00Z") == (row["starts_at"], row["ends_at"])
    assert [row["id"]] == [
        r["id"] for r in rows_of(client, "bookings?starts_at=gte.2027-06-10 09:00:00")
    ]
    assert [] == rows_of(client, "bookings?starts_at=gt.2027-06-10 09:00:00")
    assert [row["id"]] == [
        r["id"] for r in rows_of(client, "bookings?starts_at=eq.2027-06-10T11:00+02")
    ]


def test_issue_14_max_rows_caps_a_page_and_content_range_tells_the_truth(store, clock, api_key):
    """api.max_rows caps every page, a larger limit too; with a count the total is the true one."""
    app = build_app(store, clock, [], limits=ApiSettings(max_rows=2))
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        create(client, "products", [{"name": n} for n in ("A", "B", "C")])
        for query in ("order=name", "order=name&limit=10"):
            response = client.get(f"/v1/products?{query}", headers=COUNT)
            assert (206, "0-1/3", ["A", "B"]) == (
                response.status_code, response.headers["content-range"], names(response),
            )  # fmt: skip
        response = client.get("/v1/products?order=name&offset=2")
        assert ("2-2/*", ["C"]) == (response.headers["content-range"], names(response))


def test_issue_14_csv(client, products):
    """Accept: text/csv answers a header row and one line per row; null is empty."""
    response = client.get(
        "/v1/products?select=name,capacity,bookings_changed_at&order=name",
        headers={"Accept": "text/csv"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert [["name", "capacity", "bookings_changed_at"], ["Beach house", "1", ""],
            ["Cabin", "2", ""], ["Loft", "3", ""]] == list(csv.reader(io.StringIO(response.text)))  # fmt: skip
    empty = client.get("/v1/products?name=eq.X&select=name", headers={"Accept": "text/csv"})
    assert "name\n" == empty.text


@pytest.mark.parametrize(
    ("headers", "code"),
    [({"Accept": "application/xml"}, "PGRST107"), ({"Accept": "text/html, image/*"}, "PGRST107"),
     ({"Accept-Profile": "private"}, "PGRST106")],
)  # fmt: skip
def test_issue_14_an_accept_the_api_cannot_serve_is_406(client, products, headers, code):
    """An Accept (or a schema profile) the API cannot answer with is 406, before anything runs."""
    error(client.get("/v1/products", headers=headers), 406, code)
    error(client.post("/v1/products", json={"name": "New"}, headers=headers), 406, code)
    assert "New" not in names(client.get("/v1/products"))


def test_accept_by_quality_and_stripped_nulls(client, products):
    """The best acceptable type by quality wins; nulls=stripped leaves null fields out."""
    response = client.get(
        "/v1/products?name=eq.Cabin&select=name,bookings_changed_at",
        headers={
            "Accept": "application/xml;q=1, application/vnd.pgrst.array+json;nulls=stripped;q=0.5"
        },
    )
    assert [{"name": "Cabin"}] == response.json()


# --- availability and conflicts ---------------------------------------------------------


@pytest.fixture
def app_client(store, clock, api_key):
    """A client of the whole app (availability and conflicts are not the resources' router)."""
    settings = make_settings("sqlite://")
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


@pytest.mark.parametrize("prefix", ["eq.", ""])
def test_issue_14_availability_and_conflicts_take_product_id_eq(app_client, prefix):
    """product_id=eq.<uuid> as everywhere else; the bare uuid still works (deprecated alias)."""
    client = app_client
    [product] = create(client, "products", {"name": "Cabin"})
    product_id = product["id"]
    nights = client.get(
        f"/v1/availability?product_id={prefix}{product_id}&from=2026-12-01&until=2026-12-03"
    )
    assert (200, ["2026-12-01", "2026-12-02"]) == (
        nights.status_code, [night["date"] for night in nights.json()],
    )  # fmt: skip
    assert [] == client.get(f"/v1/conflicts?product_id={prefix}{product_id}").json()
    bad = client.get("/v1/availability?product_id=eq.nope&from=2026-12-01&until=2026-12-03")
    assert 400 == bad.status_code


# --- the document -----------------------------------------------------------------------


def test_issue_14_the_document_lists_every_answer_and_header(app_client):
    """The document lists every status, header and media type an operation can answer.

    Every /v1 operation documents 400, 401, 406 and 413; lists 416, writes 409;
    /metrics is text/plain; Prefer, Range and the media types of rows are described.
    """
    paths = app_client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if path.startswith("/v1/"):
                assert {"400", "401", "406", "413"} <= set(operation["responses"]), (path, method)
    listing = paths["/v1/bookings"]["get"]
    assert {"200", "206", "416"} <= set(listing["responses"])
    assert {"application/json", "application/vnd.pgrst.object+json", "text/csv"} <= set(
        listing["responses"]["200"]["content"]
    )
    headers = {p["name"] for p in listing["parameters"] if p["in"] == "header"}
    assert {"Prefer", "Range"} <= headers
    assert "Accept" in listing["description"]
    assert {"201", "409"} <= set(paths["/v1/bookings"]["post"]["responses"])
    assert {"200", "204", "409"} <= set(paths["/v1/bookings"]["patch"]["responses"])
    assert {"404"} <= set(paths["/v1/availability"]["get"]["responses"])
    assert ["text/plain"] == list(paths["/metrics"]["get"]["responses"]["200"]["content"])
