"""Bookings as booking platforms hand them over: group_id, reference, customer, notes, statuses.

Through the API (in-process, SQLite and PostgreSQL), the CLI, a real sync and the
outbound feed.
"""

# The API fixtures are test_api's, imported; each test names them as parameters.
# ruff: noqa: F811

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api import (  # noqa: F401 - fixtures
    api_key,
    booking,
    build_app,
    client,
    create,
    error,
    products,
    wakes,
)
from test_cli import cli, created_id, synced_calendar  # noqa: F401 - fixtures

from calsync.feeds import FeedService
from conftest import REPRESENTATION, make_settings


def bookings_of(client, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/v1/bookings?order=starts_at{query}")
    assert 200 == response.status_code, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


# --- group_id -------------------------------------------------------------------------


def test_issue_14_an_array_post_is_one_main_booking(client, products):
    """The rows of one array POST share a new group_id; a row that names one keeps it."""
    own_group = str(uuid.uuid4())
    rows = create(
        client,
        "bookings",
        [booking(products["Cabin"], "2026-12-01", "2026-12-03"),
         booking(products["Loft"], "2026-12-01", "2026-12-03"),
         booking(products["Loft"], "2026-12-05", "2026-12-06", group_id=own_group)],
    )  # fmt: skip
    assert rows[0]["group_id"] is not None
    assert rows[0]["group_id"] == rows[1]["group_id"] != own_group
    assert own_group == rows[2]["group_id"]
    [single] = create(client, "bookings", booking(products["Beach house"], "2026-12-01",
                                                   "2026-12-02"))  # fmt: skip
    assert single["group_id"] is None
    assert 2 == len(bookings_of(client, f"&group_id=eq.{rows[0]['group_id']}"))


def test_issue_14_patch_by_group_cancels_the_whole_group(client, products):
    """PATCH ?group_id=eq.… with status cancelled cancels every booking of the group, and frees them."""
    rows = create(client, "bookings", [booking(products["Beach house"], "2026-12-01", "2026-12-03"),
                                       booking(products["Cabin"], "2026-12-01", "2026-12-03")])  # fmt: skip
    group = rows[0]["group_id"]
    response = client.patch(f"/v1/bookings?group_id=eq.{group}", json={"status": "cancelled"})
    assert 204 == response.status_code, response.text
    assert ["cancelled", "cancelled"] == [row["status"] for row in bookings_of(client)]
    create(client, "bookings", booking(products["Beach house"], "2026-12-01", "2026-12-03"))


def test_a_group_changes_in_one_transaction(client, products):
    """Reviving a group where one booking no longer fits changes none of them (409)."""
    rows = create(client, "bookings", [booking(products["Beach house"], "2026-12-01", "2026-12-03"),
                                       booking(products["Cabin"], "2026-12-01", "2026-12-03")])  # fmt: skip
    group = rows[0]["group_id"]
    client.patch(f"/v1/bookings?group_id=eq.{group}", json={"status": "cancelled"})
    create(client, "bookings", booking(products["Beach house"], "2026-12-02", "2026-12-03"))
    response = client.patch(f"/v1/bookings?group_id=eq.{group}", json={"status": "confirmed"})
    error(response, 409, "conflict")
    assert ["cancelled", "cancelled"] == [
        row["status"] for row in bookings_of(client, f"&group_id=eq.{group}")
    ]


# --- the 409 of an array --------------------------------------------------------------


def test_issue_14_a_409_on_an_array_names_the_item_and_the_bookings_in_the_way(client, products):
    """Item 2 overlaps a stored booking and item 0: details.item is 2, each conflict says whose."""
    house = products["Beach house"]
    [stored] = create(client, "bookings", booking(house, "2026-12-10", "2026-12-12"))
    response = client.post(
        "/v1/bookings",
        json=[booking(house, "2026-12-01", "2026-12-05"), booking(house, "2026-12-05", "2026-12-08"),
              booking(house, "2026-12-04", "2026-12-11")],
    )  # fmt: skip
    answer = error(response, 409, "conflict")
    assert 2 == answer["details"]["item"]
    assert answer["message"].startswith("[2] ")
    conflicts = answer["details"]["conflicts"]
    assert [(0, "2026-12-01T00:00:00Z"), (1, "2026-12-05T00:00:00Z"), (None, None)] == [
        (c.get("item"), c["starts_at"] if "item" in c else None) for c in conflicts
    ]
    assert stored["id"] == conflicts[2]["booking_id"]
    assert [stored["id"]] == [row["id"] for row in bookings_of(client)]


# --- reference ------------------------------------------------------------------------


def test_issue_14_a_retried_post_with_the_same_reference_is_409_with_the_existing_id(
    client, products
):
    """A reference is unique per product: the same booking number again is 409 naming the booking."""
    body = booking(products["Cabin"], "2026-12-01", "2026-12-03", reference="BK-77")
    [made] = create(client, "bookings", body)
    answer = error(client.post("/v1/bookings", json=body), 409, "23505")
    assert (made["id"], "reference") == (
        answer["details"]["existing_id"],
        answer["details"]["field"],
    )
    assert made["id"] in answer["message"]
    other = create(client, "bookings", body | {"product_id": products["Loft"]["id"]})
    assert "BK-77" == other[0]["reference"]
    assert [made["id"]] == [r["id"] for r in bookings_of(client, "&reference=eq.BK-77&product_id=eq."
                                                          + products["Cabin"]["id"])]  # fmt: skip


def test_a_reference_taken_within_one_array_names_both_items(client, products):
    """Two items of one array with one reference: 409 on the second, naming the first."""
    body = booking(products["Loft"], "2026-12-01", "2026-12-03", reference="R1")
    answer = error(client.post("/v1/bookings", json=[body, body]), 409, "23505")
    assert (1, 0) == (answer["details"]["item"], answer["details"]["existing_item"])
    assert [] == bookings_of(client)


def test_a_patch_to_a_taken_reference_is_409(client, products):
    """Changing a booking's reference to another booking's (same product) is refused."""
    cabin = products["Cabin"]
    create(client, "bookings", booking(cabin, "2026-12-01", "2026-12-02", reference="A"))
    [second] = create(client, "bookings", booking(cabin, "2026-12-03", "2026-12-04", reference="B"))
    error(client.patch(f"/v1/bookings?id=eq.{second['id']}", json={"reference": "A"}), 409, "23505")
    patched = client.patch(f"/v1/bookings?id=eq.{second['id']}", json={"reference": None},
                           headers=REPRESENTATION)  # fmt: skip
    assert [None] == [row["reference"] for row in patched.json()]


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"reference": ""}, "reference"), ({"reference": "a\nb"}, "reference"),
     ({"customer": "Jan\nJansen"}, "customer"), ({"notes": "tab\there"}, "notes"),
     ({"notes": "x" * 10_001}, "notes")],
)  # fmt: skip
def test_platform_fields_follow_their_text_rules(client, products, fields, named):
    """A reference and a customer are one line; notes may break lines but hold no other control character."""
    body = booking(products["Cabin"], "2026-12-01", "2026-12-03", **fields)
    answer = error(client.post("/v1/bookings", json=body), 400, "bad_request")
    assert answer["message"].startswith(f"{named}: ")


def test_issue_14_customer_and_notes_are_kept_and_never_exported(store, clock, api_key, products):
    """A customer and notes (with their line breaks) are stored and answered; the feed has neither."""
    app = build_app(store, clock, [])
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        [row] = create(client, "bookings", booking(
            products["Cabin"], "2026-12-01", "2026-12-03", customer="Jan Jansen",
            notes="Late arrival\r\nkey under the mat", reference="BK-9"))  # fmt: skip
    assert ("Jan Jansen", "Late arrival\r\nkey under the mat") == (row["customer"], row["notes"])
    feed = FeedService(store, make_settings("sqlite://").feeds, clock=clock).feed(
        products["Cabin"]["feed_token"]
    )
    assert feed is not None
    for secret in (b"Jan", b"Late arrival", b"key under", b"BK-9"):
        assert secret not in feed.body


# --- statuses -------------------------------------------------------------------------


def test_issue_14_booking_statuses_say_what_blocks(client):
    """GET /v1/booking_statuses: confirmed and tentative block availability, cancelled does not."""
    rows = client.get("/v1/booking_statuses").json()
    assert [("confirmed", True), ("tentative", True), ("cancelled", False)] == [
        (row["status"], row["blocks_availability"]) for row in rows
    ]
    assert all(row["description"] for row in rows)
    assert [{"status": "confirmed"}, {"status": "tentative"}, {"status": "cancelled"}] == (
        client.get("/v1/booking_statuses?select=status").json()
    )


# --- the CLI and imports --------------------------------------------------------------


def test_issue_14_cli_bookings_add_takes_reference_customer_and_notes(cli):
    """Bookings add --reference --customer --notes stores them; a taken reference exits 1 naming it."""
    room = created_id(cli("products", "add", "Room", "--json")[1])
    code, out, _ = cli(
        "bookings", "add", room, "--from", "2026-12-01", "--until", "2026-12-03",
        "--reference", "BK-1", "--customer", "Jan", "--notes", "two\nlines", "--json",
    )  # fmt: skip
    [row] = json.loads(out)
    assert (0, "BK-1", "Jan", "two\nlines") == (code, row["reference"], row["customer"],
                                                row["notes"])  # fmt: skip
    code, _, err = cli("bookings", "add", room, "--from", "2026-12-05", "--until", "2026-12-06",
                       "--reference", "BK-1")  # fmt: skip
    assert (1, True) == (code, row["id"] in err), err
    code, _, err = cli("bookings", "add", room, "--from", "2026-12-05", "--until", "2026-12-06",
                       "--customer", "a\tb")  # fmt: skip
    assert (2, True) == (code, "customer: control characters" in err), err


def test_issue_14_imported_bookings_have_no_reference(cli, synced_calendar):
    """A sync's bookings keep reference, customer and notes empty, and no group."""
    rows = json.loads(cli("bookings", "list", "--json")[1])
    assert 2 == len(rows)
    assert {(None, "", "", None)} == {
        (row["reference"], row["customer"], row["notes"], row["group_id"]) for row in rows
    }
