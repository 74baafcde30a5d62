"""Supabase's Python PostgREST client (``postgrest``) against calsync on a real 127.0.0.1 socket.

Written as an integrator writes it: ``client.from_("bookings").select("*").eq(…)
.single().execute()``, bulk inserts (which send ``columns=``), upserts, logic
trees, patterns, ranges with counts, HEAD counts, CSV, updates and deletes, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from postgrest import APIError, CountMethod, SyncPostgrestClient

from appserver import serve_in_thread
from calsync.feeds import FeedReadLog, FeedService
from calsync.metrics import Metrics
from calsync.services.keys import create_api_key
from calsync.web.app import create_app
from conftest import NOW


@pytest.fixture
def rest(store, settings, clock):
    """A postgrest client of calsync's /v1, served on 127.0.0.1, with an API key."""
    with store.write() as session:
        _, key = create_api_key(session, name="integrator", now=NOW)
    app = create_app(
        store=store, metrics=Metrics(), feed_service=FeedService(store, settings.feeds),
        read_log=FeedReadLog(store), settings=settings, clock=clock,
    )  # fmt: skip
    url, stop = serve_in_thread(app)
    client = SyncPostgrestClient(f"{url}/v1", headers={"Authorization": f"Bearer {key}"})
    yield client
    client.session.close()
    stop()


@pytest.fixture
def rooms(rest):
    """Three products made with one bulk insert (the client sends columns=): their rows by name."""
    made = (
        rest.from_("products")
        .insert(
            [
                {"name": "Beach house"},
                {"name": "Cabin", "capacity": 2, "timezone": "UTC"},
                {"name": "Loft", "capacity": 3},
            ]
        )
        .execute()
    )
    return {row["name"]: row for row in made.data}


def test_a_bulk_insert_answers_the_rows_with_their_defaults(rooms):
    """insert([...]) sends columns= of the keys of all rows; missing keys take their defaults."""
    assert [("Beach house", 1, "UTC"), ("Cabin", 2, "UTC"), ("Loft", 3, "UTC")] == [
        (row["name"], row["capacity"], row["timezone"]) for row in rooms.values()
    ]


def test_single_answers_one_object_and_fails_loudly_otherwise(rest, rooms):
    """single() gives the row as a dict; no row or several raise PGRST116; maybe_single() gives None."""
    cabin = rest.from_("products").select("*").eq("name", "Cabin").single().execute()
    assert ("Cabin", 2) == (cabin.data["name"], cabin.data["capacity"])
    for query in (rest.from_("products").select("*").eq("name", "Nothing"),
                  rest.from_("products").select("*").gte("capacity", 2)):  # fmt: skip
        with pytest.raises(APIError) as raised:
            query.single().execute()
        assert "PGRST116" == raised.value.code
    assert (
        rest.from_("products").select("id").eq("name", "Nothing").maybe_single().execute() is None
    )


def test_patterns_logic_trees_and_lists(rest, rooms):
    """like/ilike with %, or_, not_.or_, in_ and like_any_of select what PostgREST would."""

    def names(query) -> list[str]:
        return [row["name"] for row in query.order("name").execute().data]

    products = rest.from_("products")
    assert ["Beach house"] == names(products.select("name").like("name", "B%"))
    assert ["Cabin"] == names(products.select("name").ilike("name", "%CAB%"))
    assert ["Beach house", "Loft"] == names(
        products.select("name").or_("capacity.eq.1,name.eq.Loft")
    )
    assert ["Cabin"] == names(products.select("name").not_.or_("capacity.eq.1,name.eq.Loft"))
    assert ["Cabin", "Loft"] == names(products.select("name").in_("name", ["Cabin", "Loft", "a,b"]))
    assert ["Beach house", "Cabin"] == names(products.select("name").like_any_of("name", "B*,C*"))
    assert ["Loft"] == names(products.select("name").neq("capacity", 1).gt("capacity", 2))


def test_ilike_ignores_the_case_of_umlauts(rest):
    """ilike('%müller%') finds Haus MÜLLER on both databases."""
    rest.from_("products").insert([{"name": "Haus MÜLLER"}, {"name": "Other"}]).execute()
    found = rest.from_("products").select("name").ilike("name", "%müller%").execute()
    assert [{"name": "Haus MÜLLER"}] == found.data


def test_range_with_an_exact_count_and_a_head_count(rest, rooms):
    """range() pages the rows and count='exact' gives the total; a HEAD select counts without rows."""
    page = (
        rest.from_("products").select("name", count=CountMethod.exact)
        .order("name", desc=True).range(0, 1).execute()
    )  # fmt: skip
    assert (["Loft", "Cabin"], 3) == ([row["name"] for row in page.data], page.count)
    head = rest.from_("products").select("*", count=CountMethod.exact, head=True).execute()
    assert ([], 3) == (head.data, head.count)
    later = rest.from_("products").select("name").order("name").limit(2).offset(2).execute()
    assert ["Loft"] == [row["name"] for row in later.data]


def test_csv(rest, rooms):
    """csv() answers the rows as CSV with a header row."""
    text = rest.from_("products").select("name,capacity").order("name").csv().execute().data
    assert [["name", "capacity"], ["Beach house", "1"], ["Cabin", "2"], ["Loft", "3"]] == list(
        csv.reader(io.StringIO(text))
    )


def test_update_and_delete_answer_the_rows_they_changed(rest, rooms):
    """update().eq() and delete().eq() answer the changed rows (the client asks for them)."""
    changed = rest.from_("products").update({"capacity": 4}).eq("name", "Cabin").execute()
    assert [("Cabin", 4)] == [(row["name"], row["capacity"]) for row in changed.data]
    gone = rest.from_("products").delete().eq("name", "Loft").execute()
    assert ["Loft"] == [row["name"] for row in gone.data]
    left = rest.from_("products").select("name").order("name").execute()
    assert ["Beach house", "Cabin"] == [row["name"] for row in left.data]


def test_upsert_by_id_merges_and_ignore_duplicates_skips(rest):
    """upsert() by id creates then merges (one row); ignore_duplicates leaves the row alone."""
    product_id = str(uuid.uuid4())
    rest.from_("products").upsert({"id": product_id, "name": "A"}).execute()
    merged = rest.from_("products").upsert({"id": product_id, "name": "B", "capacity": 2}).execute()
    assert [(product_id, "B", 2)] == [(r["id"], r["name"], r["capacity"]) for r in merged.data]
    skipped = (
        rest.from_("products").upsert({"id": product_id, "name": "C"}, ignore_duplicates=True)
        .execute()
    )  # fmt: skip
    assert [] == skipped.data
    assert [{"name": "B"}] == rest.from_("products").select("name").execute().data


def test_a_platform_books_a_main_booking_retries_it_and_cancels_it(rest, rooms):
    """A platform's main booking: one group, a retry refused, an upsert, a cancel by group.

    The bookings of one insert share a group; a retry with the same reference is 409
    naming the booking; an upsert on product_id,reference updates it; an update by
    group cancels them all.
    """
    cabin, loft = rooms["Cabin"]["id"], rooms["Loft"]["id"]
    stays = [
        {"product_id": cabin, "starts_at": "2027-06-10 15:00:00", "ends_at": "2027-06-12 10:00:00",
         "reference": "PB-1", "customer": "Jan Jansen", "notes": "two\nlines"},
        {"product_id": loft, "starts_at": "2027-06-10", "ends_at": "2027-06-12", "all_day": True,
         "reference": "PB-1"},
    ]  # fmt: skip
    made = rest.from_("bookings").insert(stays).execute().data
    group = made[0]["group_id"]
    assert (group, "2027-06-10T15:00:00Z") == (made[1]["group_id"], made[0]["starts_at"])
    with pytest.raises(APIError) as raised:
        rest.from_("bookings").insert(stays[0]).execute()
    details = raised.value.details
    assert isinstance(details, dict)
    assert ("23505", made[0]["id"]) == (raised.value.code, details["existing_id"])
    moved = (
        rest.from_("bookings")
        .upsert(stays[0] | {"ends_at": "2027-06-13 10:00:00"}, on_conflict="product_id,reference")
        .execute().data
    )  # fmt: skip
    assert [(made[0]["id"], "2027-06-13T10:00:00Z")] == [(r["id"], r["ends_at"]) for r in moved]
    cancelled = (
        rest.from_("bookings").update({"status": "cancelled"}).eq("group_id", group).execute()
    )
    assert ["cancelled", "cancelled"] == [row["status"] for row in cancelled.data]
    found = rest.from_("bookings").select("id").gte("starts_at", "2027-06-10 12:00:00").execute()
    assert [{"id": made[0]["id"]}] == found.data


def test_a_409_on_a_bulk_insert_names_the_item(rest, rooms):
    """The item of a bulk insert that does not fit is details['item'], with the bookings in the way."""
    house = rooms["Beach house"]["id"]
    with pytest.raises(APIError) as raised:
        rest.from_("bookings").insert(
            [{"product_id": house, "starts_at": "2027-01-01", "ends_at": "2027-01-05"},
             {"product_id": house, "starts_at": "2027-01-04", "ends_at": "2027-01-06"}]
        ).execute()  # fmt: skip
    error = raised.value
    assert isinstance(error.details, dict)
    assert ("conflict", 1, [0]) == (
        error.code, error.details["item"], [c["item"] for c in error.details["conflicts"]],
    )  # fmt: skip
    assert [] == rest.from_("bookings").select("id").execute().data


def test_is_null_filters_and_statuses(rest, rooms):
    """is_(col, None) and not_.is_ test NULLs; booking_statuses is listed like a table."""
    assert 3 == len(
        rest.from_("products").select("id").is_("bookings_changed_at", "null").execute().data
    )
    assert (
        []
        == rest.from_("products")
        .select("id")
        .not_.is_("bookings_changed_at", "null")
        .execute()
        .data
    )
    statuses = rest.from_("booking_statuses").select("status,blocks_availability").execute()
    assert {"confirmed": True, "tentative": True, "cancelled": False} == {
        row["status"]: row["blocks_availability"] for row in statuses.data
    }


def test_conflicts_take_the_client_filter(rest, rooms):
    """Conflicts answers a select with eq('product_id', …) as the resources do."""
    answer = rest.from_("conflicts").select("*").eq("product_id", rooms["Cabin"]["id"]).execute()
    assert [] == answer.data


def test_strip_nulls_and_max_affected(rest, rooms):
    """strip_nulls() leaves nulls out; max_affected() refuses (and rolls back) a larger update."""
    row = (
        rest.from_("products").select("name,bookings_changed_at").eq("name", "Cabin").strip_nulls()
    )
    assert [{"name": "Cabin"}] == row.execute().data
    with pytest.raises(APIError) as raised:
        rest.from_("products").update({"capacity": 9}).gte("capacity", 1).max_affected(1).execute()
    assert "PGRST124" == raised.value.code
    assert [1, 2, 3] == [
        r["capacity"]
        for r in rest.from_("products").select("capacity").order("name").execute().data
    ]
