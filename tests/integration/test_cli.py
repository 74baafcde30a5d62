"""The calsync command, in-process (Typer's runner) and as a real subprocess for exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from calsync import __version__
from calsync.cli import app
from calsync.store import calendars as stored_calendars
from calsync.store import products as stored_products
from calsync.store.db import Store
from conftest import FEEDS, calendar, dead_pid, make_settings

STAYS = calendar(
    "UID:a@airbnb.com\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205\nSUMMARY:Reserved",
    "UID:b@airbnb.com\nDTSTART;VALUE=DATE:20261215\nDTEND;VALUE=DATE:20261220\nSUMMARY:Airbnb (Not available)",
)


@pytest.fixture
def cli(database_url, monkeypatch, tmp_path):
    """Run calsync commands against the test database; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("CALSYNC_DATABASE__URL", database_url)
    monkeypatch.setenv("CALSYNC_FETCH__ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("CALSYNC_LOGGING__LEVEL", "warning")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # noqa: A002 - CliRunner's name
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def created_id(output: str) -> str:
    return str(json.loads(output)[0]["id"])


def test_walk_through(cli, feed_server):
    """README walk-through: add a product and an Airbnb calendar, sync, list bookings and status."""
    feed_server.serve("/airbnb.ics", STAYS)
    code, out, _ = cli("products", "add", "Beach house", "--timezone", "Europe/Amsterdam", "--json")
    assert code == 0
    product_id = created_id(out)
    code, out, _ = cli(
        "calendars", "add", product_id, feed_server.url("/airbnb.ics"), "--name", "Airbnb", "--json"
    )
    assert code == 0
    calendar_id = created_id(out)

    code, out, _ = cli("sync", "--all")
    assert code == 0
    assert f"{calendar_id} changed: +2 ~0 -0" in out

    code, out, _ = cli("bookings", "list", "--product", product_id, "--json")
    rows = json.loads(out)
    assert [(r["starts_at"], r["ends_at"], r["all_day"]) for r in rows] == [
        ("2026-12-01T00:00:00Z", "2026-12-05T00:00:00Z", True),
        ("2026-12-15T00:00:00Z", "2026-12-20T00:00:00Z", True),
    ]
    code, out, _ = cli("calendars", "show", calendar_id, "--json")
    shown = json.loads(out)
    assert (shown["name"], shown["tld"], shown["error"], shown["event_count"]) == (
        "Airbnb",
        "127.0.0.1",
        None,
        2,
    )
    assert [run["outcome"] for run in shown["sync_runs"]] == ["changed"]

    code, out, _ = cli("sync", calendar_id)
    assert "unchanged" in out
    code, out, _ = cli("calendars", "list")
    assert "Airbnb" in out
    code, out, _ = cli("products", "list", "--json")
    assert json.loads(out)[0]["name"] == "Beach house"


def test_failed_sync_exits_1_with_the_error(cli, feed_server):
    """A feed answering an HTML page: the summary line names the error, exit code 1."""
    feed_server.serve(
        "/broken.ics", b"<html><title>Sign in</title></html>", content_type="text/html"
    )
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    calendar_id = created_id(
        cli("calendars", "add", product_id, feed_server.url("/broken.ics"), "--json")[1]
    )
    code, out, _ = cli("sync", calendar_id)
    assert code == 1
    assert "failed" in out
    assert "an HTML page titled 'Sign in'" in out


def test_remove_and_release(cli, feed_server):
    """Calendars release applies held deletes; calendars remove deletes the calendar and its bookings."""
    feed_server.serve("/feed.ics", STAYS)
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    calendar_id = created_id(
        cli("calendars", "add", product_id, feed_server.url("/feed.ics"), "--json")[1]
    )
    cli("sync", calendar_id)
    feed_server.serve("/feed.ics", calendar())
    _, out, _ = cli("sync", calendar_id)
    assert "held 2" in out
    assert "calsync calendars release" in out
    _, out, _ = cli("calendars", "release", calendar_id)
    assert "deleted 2 held bookings" in out
    assert json.loads(cli("bookings", "list", "--json")[1]) == []
    code, out, _ = cli("calendars", "remove", calendar_id, "--yes")
    assert code == 0
    assert json.loads(cli("calendars", "list", "--json")[1]) == []


@pytest.fixture
def synced_calendar(cli, feed_server) -> str:
    """An Airbnb calendar synced with two stays; its id."""
    feed_server.serve("/feed.ics", STAYS)
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    calendar_id = created_id(
        cli("calendars", "add", product_id, feed_server.url("/feed.ics"), "--name", "Airbnb",
            "--json")[1]
    )  # fmt: skip
    assert cli("sync", calendar_id)[0] == 0
    return calendar_id


def still_there(cli, calendar_id: str) -> tuple[list[str], int]:
    calendars = [row["id"] for row in json.loads(cli("calendars", "list", "--json")[1])]
    return calendars, len(json.loads(cli("bookings", "list", "--json")[1]))


def test_remove_says_how_many_bookings_go_and_a_no_keeps_them(cli, synced_calendar):
    """Remove asks, naming the calendar and its 2 bookings; answering no exits 1."""
    code, out, err = cli("calendars", "remove", synced_calendar, input="n\n")
    question = "Removing calendar 'Airbnb' (127.0.0.1) and its 2 imported bookings. Continue? [y/N]"
    assert (1, "not removed") == (code, err.strip())
    assert out.startswith(question)
    assert ([synced_calendar], 2) == still_there(cli, synced_calendar)


def test_remove_without_an_answer_refuses_and_names_yes(cli, synced_calendar):
    """With stdin closed and no --yes, remove exits 2 saying to add --yes; nothing is removed."""
    code, _, err = cli("calendars", "remove", synced_calendar, input="")
    assert (2, "not removed: no answer (add --yes to remove without asking)") == (code, err.strip())
    assert ([synced_calendar], 2) == still_there(cli, synced_calendar)


@pytest.mark.parametrize(("args", "answer"), [((), "y\n"), (("--yes",), None)])
def test_remove_confirmed_or_with_yes_removes_and_counts(cli, synced_calendar, args, answer):
    """A yes (or --yes, which asks nothing) removes the calendar and its bookings and says so."""
    code, out, _ = cli("calendars", "remove", synced_calendar, *args, input=answer)
    assert code == 0
    assert out.endswith(f"removed {synced_calendar} and its 2 imported bookings\n")
    assert ("Continue?" in out) == (answer is not None)
    assert ([], 0) == still_there(cli, synced_calendar)


def test_unknown_calendar_is_a_clear_error(database_url, tmp_path):
    """Syncing an id that does not exist says so on stderr and exits 1."""
    env = {**os.environ, "CALSYNC_DATABASE__URL": database_url}
    result = run_calsync("sync", "00000000-0000-0000-0000-000000000000", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "calsync: no external calendar with id 00000000-0000-0000-0000-000000000000"
    )


def test_bad_arguments_are_usage_errors(cli):
    """A bad URL scheme, timezone or missing --all exits 2 with a message."""
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    assert cli("calendars", "add", product_id, "ftp://example.com/x.ics")[0] == 2
    assert cli("products", "add", "X", "--timezone", "Mars/Base")[0] == 2
    assert cli("sync")[0] == 2


def test_control_characters_in_names_are_usage_errors(cli):
    """A line break or tab in a product or calendar name exits 2 naming it; nothing is added."""
    code, _, err = cli("products", "add", "Beach\nhouse")
    assert (2, True) == (code, "U+000A at position 5" in err), err
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    code, _, err = cli(
        "calendars", "add", product_id, "https://example.com/a.ics", "--name", "Air\tbnb"
    )
    assert (2, True) == (code, "control characters" in err)
    assert ["Room"] == [row["name"] for row in json.loads(cli("products", "list", "--json")[1])]
    assert [] == json.loads(cli("calendars", "list", "--json")[1])


def test_feed_of_a_stored_name_with_line_breaks(cli, store):
    """The feed command prints a product whose stored name has CR/LF, escaped: no traceback."""
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    with store.write() as session:
        stored_products.get_product(session, uuid.UUID(product_id)).name = "Room\r\nEND:VCALENDAR"
    code, out, _ = cli("feed", product_id)
    assert (0, 1) == (code, out.splitlines().count("END:VCALENDAR"))
    assert "X-WR-CALNAME:Room\\nEND:VCALENDAR" in out.splitlines()


def test_issue_truth_6_unfetchable_host_is_a_usage_error(cli):
    """`calendars add` with http://0..0/x.ics exits 2 naming the empty label; nothing is added."""
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    code, _, err = cli("calendars", "add", product_id, "http://0..0/x.ics")
    assert code == 2
    assert "host '0..0' has an empty label" in err
    assert cli("calendars", "list", "--json")[1].strip() == "[]"


def lease(database_url: str, calendar_id: str, owner: str) -> None:
    """Give the calendar a lease of ``owner`` valid for a day."""
    store = Store.connect(make_settings(database_url).database)
    try:
        with store.write() as session:
            row = stored_calendars.get_calendar(session, uuid.UUID(calendar_id))
            row.lease_owner = owner
            row.lease_expires_at = datetime.now(UTC) + timedelta(days=1)
    finally:
        store.close()


def test_issue_reliability_5_sync_takes_over_the_lease_of_a_dead_process(
    cli, feed_server, database_url
):
    """A lease of this host's pid that has exited (a crashed daemon): `calsync sync ID` syncs now."""
    feed_server.serve("/airbnb.ics", STAYS)
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    calendar_id = created_id(
        cli("calendars", "add", product_id, feed_server.url("/airbnb.ics"), "--json")[1]
    )
    lease(database_url, calendar_id, f"{socket.gethostname()}:{dead_pid()}:abc123")
    code, out, _ = cli("sync", calendar_id)
    assert (code, feed_server.hits("/airbnb.ics")) == (0, 1)
    assert f"{calendar_id} changed: +2" in out
    assert "queued" not in out


def test_sync_of_a_calendar_a_live_process_holds_is_queued(cli, feed_server, database_url):
    """A valid lease of a live process: `calsync sync ID` queues it and fetches nothing."""
    feed_server.serve("/airbnb.ics", STAYS)
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    calendar_id = created_id(
        cli("calendars", "add", product_id, feed_server.url("/airbnb.ics"), "--json")[1]
    )
    lease(database_url, calendar_id, f"{socket.gethostname()}:{os.getppid()}:abc123")
    code, out, _ = cli("sync", calendar_id)
    assert (code, feed_server.hits("/airbnb.ics")) == (0, 0)
    assert f"{calendar_id} queued: a running calsync is syncing it now" in out


def test_preview_json_of_a_local_file(cli):
    """Preview --json prints blocks sorted by start: dates for all-day, UTC instants for timed."""
    code, out, _ = cli(
        "preview", str(FEEDS / "outlook_exchange_windows_tzid_vtimezone.ics"),
        "--now", "2026-11-15T12:00:00Z", "--timezone", "Europe/Amsterdam", "--json",
    )  # fmt: skip
    assert code == 0
    expected = json.loads(
        (FEEDS / "expected" / "outlook_exchange_windows_tzid_vtimezone.json").read_text()
    )
    assert json.loads(out) == expected


def test_calendars_add_transparent_events(cli, monkeypatch):
    """Calendars add takes --transparent-events; without it, sync.transparent_events decides."""
    monkeypatch.setenv("CALSYNC_SYNC__TRANSPARENT_EVENTS", "skip")
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    url = "https://calendar.google.com/calendar/ical/x/basic.ics"
    _, by_setting, _ = cli("calendars", "add", product_id, url, "--inactive", "--json")
    _, given, _ = cli(
        "calendars", "add", product_id, url, "--inactive", "--transparent-events", "block", "--json"
    )
    assert [
        json.loads(by_setting)[0]["transparent_events"],
        json.loads(given)[0]["transparent_events"],
    ] == ["skip", "block"]
    assert cli("calendars", "add", product_id, url, "--transparent-events", "free")[0] == 2


def test_preview_json_reports_skipped_events_and_warnings_on_stderr(cli, tmp_path):
    """Regression: preview --json printed no skip reasons or warnings; they go to stderr, JSON stays clean."""
    path = tmp_path / "feed.ics"
    path.write_bytes(
        calendar(
            "UID:c\nDTSTART;VALUE=DATE:20261201\nSTATUS:CANCELLED",
            "UID:e\nDTSTART;TZID=:20261203T150000\nDURATION:PT1H",
        )
    )
    code, out, err = cli("preview", str(path), "--now", "2026-11-15T12:00:00Z", "--json")
    assert code == 0
    assert [row["key"] for row in json.loads(out)] == ["e"]
    assert err.splitlines() == [
        "skipped c: cancelled (STATUS:CANCELLED)",
        "warning: empty TZID, read in UTC",
    ]


def test_preview_transparent_events(cli, tmp_path):
    """Preview blocks on transparent events by default; --transparent-events skip skips them."""
    path = tmp_path / "feed.ics"
    path.write_bytes(calendar("UID:g\nDTSTART;VALUE=DATE:20261201\nTRANSP:TRANSPARENT"))
    args = ("preview", str(path), "--now", "2026-11-15T12:00:00Z", "--json")
    assert [row["key"] for row in json.loads(cli(*args)[1])] == ["g"]
    code, out, err = cli(*args, "--transparent-events", "skip")
    assert (code, json.loads(out)) == (0, [])
    assert "skipped g: does not block time" in err


def test_preview_applies_time_offset(cli, tmp_path):
    """Preview --time-offset shifts timed events by hours."""
    path = tmp_path / "feed.ics"
    path.write_bytes(calendar("UID:t\nDTSTART:20261201T150000Z\nDTEND:20261201T160000Z"))
    code, out, _ = cli(
        "preview", str(path), "--now", "2026-11-15T12:00:00Z", "--time-offset", "-2", "--json"
    )
    assert code == 0
    assert json.loads(out) == [
        {
            "key": "t",
            "start": "2026-12-01T13:00:00Z",
            "end": "2026-12-01T14:00:00Z",
            "all_day": False,
            "summary": "",
        }
    ]


def test_preview_of_a_url(cli, feed_server):
    """Preview fetches a URL and writes nothing."""
    feed_server.serve("/feed.ics", STAYS)
    code, out, _ = cli(
        "preview", feed_server.url("/feed.ics"), "--now", "2026-11-15T12:00:00Z", "--json"
    )
    assert code == 0
    assert [row["key"] for row in json.loads(out)] == ["a@airbnb.com", "b@airbnb.com"]
    assert json.loads(cli("bookings", "list", "--json")[1]) == []


def test_preview_of_a_broken_feed_exits_1(tmp_path):
    """A feed preview cannot read: exit 1 and the FeedError message on stderr."""
    path = tmp_path / "login.html"
    path.write_text("<!DOCTYPE html><html><title>Log in</title></html>")
    env = {**os.environ, "CALSYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'x.db'}"}
    result = run_calsync("preview", str(path), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "calsync: not a valid iCalendar feed: expected BEGIN:VCALENDAR but received an HTML page titled 'Log in'"
    )


def run_calsync(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calsync", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_version_and_config_errors_as_a_process(tmp_path):
    """`calsync --version` prints the version; a bad setting is one line on stderr and exit 2."""
    env = {**os.environ, "CALSYNC_DATABASE__URL": f"sqlite:///{tmp_path / 'x.db'}"}
    version = run_calsync("--version", env=env, cwd=tmp_path)
    assert (version.returncode, version.stdout.strip()) == (0, f"calsync {__version__}")
    bad = run_calsync(
        "products", "list", env={**env, "CALSYNC_SYNC__PAST_DAYS": "many"}, cwd=tmp_path
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "calsync: invalid setting sync.past_days: Input should be a valid integer, unable to parse string as an integer (got 'many')"
    ]


def test_db_upgrade(cli):
    """`calsync db upgrade` migrates and says so."""
    code, out, _ = cli("db", "upgrade")
    assert (code, out.strip()) == (0, "database is up to date")


# Issue "One write path": what the API does, the CLI does.


@pytest.fixture
def room(cli) -> str:
    """A product of one unit; its id."""
    return created_id(cli("products", "add", "Room", "--timezone", "Europe/Amsterdam", "--json")[1])


def test_products_update_changes_name_timezone_and_capacity(cli, room):
    """Products update sets what it is given and leaves the rest; an unknown id exits 1."""
    code, out, _ = cli("products", "update", room, "--name", "Suite", "--capacity", "2", "--json")
    [row] = json.loads(out)
    assert (0, "Suite", "Europe/Amsterdam", 2) == (
        code,
        row["name"],
        row["timezone"],
        row["capacity"],
    )
    code, _, err = cli("products", "update", "00000000-0000-0000-0000-000000000000", "--name", "X")
    assert (1, "calsync: no product with id 00000000-0000-0000-0000-000000000000") == (
        code,
        err.strip(),
    )


def test_products_remove_is_refused_while_it_holds_calendars_or_bookings(cli, room):
    """Without --force a product with a calendar and bookings stays (exit 1, saying what would go)."""
    cli("calendars", "add", room, "https://a.example/x.ics", "--inactive")
    cli("bookings", "add", room, "--from", "2026-12-01", "--until", "2026-12-03")
    code, _, err = cli("products", "remove", room)
    assert (1, True) == (code, "has 1 external calendar and 1 booking" in err), err
    assert "--force" in err
    assert [room] == [row["id"] for row in json.loads(cli("products", "list", "--json")[1])]


def test_products_remove_with_force_says_what_went(cli, room):
    """--force removes the product with its calendars and bookings, and counts them."""
    cli("calendars", "add", room, "https://a.example/x.ics", "--inactive")
    cli("bookings", "add", room, "--from", "2026-12-01", "--until", "2026-12-03")
    code, out, _ = cli("products", "remove", room, "--force")
    assert (0, f"removed {room} with 1 external calendar and 1 booking") == (code, out.strip())
    assert ([], []) == (
        json.loads(cli("products", "list", "--json")[1]),
        json.loads(cli("bookings", "list", "--json")[1]),
    )


def test_products_remove_of_an_empty_product_needs_no_force(cli, room):
    """A product with nothing in it is removed without --force."""
    assert 0 == cli("products", "remove", room)[0]
    assert [] == json.loads(cli("products", "list", "--json")[1])


def test_calendars_update_changes_the_url_and_the_settings(cli, room):
    """A new URL re-derives tld and makes the calendar due; name, offset, units, activity change."""
    calendar_id = created_id(
        cli("calendars", "add", room, "https://www.airbnb.com/c/1.ics", "--inactive", "--json")[1]
    )
    code, out, _ = cli(
        "calendars", "update", calendar_id, "--url", "https://admin.booking.com/ical.ics",
        "--name", "Booking", "--time-offset", "-2", "--units", "2", "--active",
        "--transparent-events", "skip", "--json",
    )  # fmt: skip
    [row] = json.loads(out)
    assert (0, "booking.com", "Booking", -2, 2, True, "skip") == (
        code, row["tld"], row["name"], row["time_offset"], row["units"], row["active"],
        row["transparent_events"],
    )  # fmt: skip
    code, out, _ = cli("calendars", "update", calendar_id, "--inactive", "--json")
    assert (0, False, "Booking") == (code, json.loads(out)[0]["active"], json.loads(out)[0]["name"])


def test_bookings_add_and_cancel_a_direct_booking(cli, room):
    """Bookings add books dates all-day with units and a summary; cancel frees the nights."""
    code, out, _ = cli(
        "bookings", "add", room, "--from", "2026-12-01", "--until", "2026-12-04",
        "--summary", "Owner stay", "--json",
    )  # fmt: skip
    [row] = json.loads(out)
    assert (0, "2026-12-01T00:00:00Z", "2026-12-04T00:00:00Z", True, "Owner stay", None) == (
        code, row["starts_at"], row["ends_at"], row["all_day"], row["summary"],
        row["external_calendar_id"],
    )  # fmt: skip
    code, out, _ = cli("bookings", "cancel", row["id"])
    assert (0, f"cancelled {row['id']}") == (code, out.strip())
    assert ["cancelled"] == [b["status"] for b in json.loads(cli("bookings", "list", "--json")[1])]
    assert 0 == cli("bookings", "add", room, "--from", "2026-12-02", "--until", "2026-12-03")[0]


def test_bookings_add_over_capacity_exits_1_unless_forced(cli, room):
    """The 409 rule: an overlapping booking exits 1 naming the nights; --force books it anyway."""
    cli("bookings", "add", room, "--from", "2026-12-01", "--until", "2026-12-04")
    code, _, err = cli("bookings", "add", room, "--from", "2026-12-03", "--until", "2026-12-05")
    assert (1, True) == (code, "1 night not available for 1 unit: 2026-12-03" in err), err
    assert 0 == cli("bookings", "add", room, "--from", "2026-12-03", "--until", "2026-12-05",
                    "--force")[0]  # fmt: skip
    assert 2 == len(json.loads(cli("bookings", "list", "--json")[1]))


def test_bookings_add_timed_and_refuses_mixed_bounds(cli, room):
    """Instants with an offset book a timed stay; a date with an instant is a usage error (exit 2)."""
    code, out, _ = cli(
        "bookings", "add", room, "--from", "2026-12-01T15:00:00+01:00",
        "--until", "2026-12-03T11:00:00+01:00", "--json",
    )  # fmt: skip
    [row] = json.loads(out)
    assert (0, "2026-12-01T14:00:00Z", False) == (code, row["starts_at"], row["all_day"])
    assert 2 == cli("bookings", "add", room, "--from", "2026-12-05", "--until",
                    "2026-12-06T11:00:00+01:00")[0]  # fmt: skip


def test_an_imported_booking_cannot_be_cancelled_here(cli, synced_calendar):
    """Cancelling a booking imported from a feed exits 1: it changes through its feed."""
    booking_id = json.loads(cli("bookings", "list", "--json")[1])[0]["id"]
    code, _, err = cli("bookings", "cancel", booking_id)
    assert (1, True) == (code, "can only be changed through that calendar's feed" in err), err


def test_sync_all_fetches_concurrently_within_max_per_host(cli, feed_server, monkeypatch):
    """`sync --all` fetches several feeds of one host at once, never more than max_per_host."""
    monkeypatch.setenv("CALSYNC_SYNC__MAX_PER_HOST", "3")
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    ids = []
    for n in range(6):
        feed_server.serve(f"/{n}.ics", STAYS, delay=0.2)
        url = feed_server.url(f"/{n}.ics")
        ids.append(created_id(cli("calendars", "add", product_id, url, "--json")[1]))

    code, out, _ = cli("sync", "--all")

    assert (code, feed_server.max_concurrent["*"]) == (0, 3)
    assert [line.split()[:3] for line in out.splitlines()] == [
        [ident, "changed:", "+2"] for ident in ids
    ]


def test_sync_all_queues_a_calendar_a_live_process_holds_and_syncs_the_rest(
    cli, feed_server, database_url
):
    """Claimed together: the calendar a live process holds is queued, the others are synced."""
    feed_server.serve("/airbnb.ics", STAYS)
    product_id = created_id(cli("products", "add", "Room", "--json")[1])
    url = feed_server.url("/airbnb.ics")
    ids = [created_id(cli("calendars", "add", product_id, url, "--json")[1]) for _ in range(3)]
    lease(database_url, ids[1], f"{socket.gethostname()}:{os.getppid()}:abc123")

    code, out, _ = cli("sync", "--all")

    assert (code, feed_server.hits("/airbnb.ics")) == (0, 2)
    assert [line.split()[:2] for line in out.splitlines()] == [
        [ids[0], "changed:"], [ids[1], "queued:"], [ids[2], "changed:"],
    ]  # fmt: skip
