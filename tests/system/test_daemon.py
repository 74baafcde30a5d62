"""`calsync run` as a subprocess on a temporary SQLite file, against a real feed server.

No test sleeps for the schedule: intervals are made short through the settings,
and every wait polls with a bound.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest

from calsync.clock import utc_now
from calsync.services.keys import create_api_key
from calsync.store import bookings as stored_bookings
from calsync.store import calendars as stored_calendars
from calsync.store import history
from calsync.store import products as stored_products
from calsync.store.models import Booking, SyncRun
from conftest import add_calendar, calendar
from daemon_process import DaemonProcess, open_store, wait_until
from feedserver import OVERALL

STAYS = calendar(
    "UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205",
    "UID:b\nDTSTART;VALUE=DATE:20261215\nDTEND;VALUE=DATE:20261220",
)


@pytest.fixture
def world(tmp_path, feed_server):
    """A migrated SQLite file with one product, and a way to start daemons on it."""
    database = tmp_path / "daemon.db"
    store = open_store(f"sqlite:///{database}")
    store.upgrade()
    with store.write() as session:
        product_id = stored_products.add_product(
            session, name="House", timezone="UTC", capacity=1, now=utc_now()
        ).id
        _, api_key = create_api_key(session, name="tests", now=utc_now())
    daemons: list[DaemonProcess] = []

    class World:
        key = api_key

        def add_calendar(self, path: str) -> uuid.UUID:
            with store.write() as session:
                return add_calendar(
                    session, product_id=product_id, name=path, ical_url=feed_server.url(path),
                    time_offset=0, active=True, now=utc_now(),
                ).id  # fmt: skip

        def start(self, **settings: object) -> DaemonProcess:
            env = {
                f"CALSYNC_{key.upper().replace('__', '__', 1)}": str(value)
                for key, value in settings.items()
            }
            daemon = DaemonProcess(database, env)
            daemons.append(daemon)
            return daemon

        def runs(self, calendar_id: uuid.UUID) -> list[SyncRun]:
            with store.read() as session:
                return list(reversed(history.recent_runs(session, calendar_id, limit=100)))

        def calendar(self, calendar_id: uuid.UUID):
            with store.read() as session:
                return stored_calendars.get_calendar(session, calendar_id)

        def bookings(self) -> list[Booking]:
            with store.read() as session:
                return list(stored_bookings.list_bookings(session))

    yield World()
    for daemon in daemons:
        daemon.stop()
    store.close()


def test_calendars_are_synced_on_schedule(world, feed_server):
    """Every active calendar is fetched, then fetched again one interval later."""
    feed_server.serve("/a.ics", STAYS)
    feed_server.serve("/b.ics", STAYS)
    ids = [world.add_calendar("/a.ics"), world.add_calendar("/b.ics")]
    daemon = world.start(sync__interval_minutes=0.02, sync__tick_seconds=0.2)
    assert wait_until(lambda: all(len(world.runs(i)) >= 2 for i in ids), timeout=30)
    for calendar_id in ids:
        first, second = world.runs(calendar_id)[:2]
        assert (first.outcome, second.outcome) == ("changed", "unchanged")
        assert second.started_at - first.finished_at >= timedelta(seconds=0.02 * 60 * 0.9)
    assert len(world.bookings()) == 4
    status, body = daemon.get("/metrics")
    assert status == 200
    assert b'calsync_syncs_total{outcome="changed",tld="127.0.0.1"} 2.0' in body


def test_startup_logs_version_database_address_and_calendars(world, feed_server):
    """One daemon.started line: version, database, listen address, active calendars."""
    feed_server.serve("/a.ics", STAYS)
    world.add_calendar("/a.ics")
    daemon = world.start()
    started = daemon.wait_for_log("daemon.started")
    assert started["database"].startswith("sqlite:///")
    assert started["listen"].startswith("http://127.0.0.1:")
    assert (started["version"], started["active_calendars"]) == ("0.1.0", 1)


def test_manual_trigger_wakes_the_dispatcher(world, feed_server):
    """With a one-hour tick, POST …/sync still gets the calendar synced at once."""
    daemon = world.start(sync__tick_seconds=3600)
    daemon.wait_for_log("daemon.started")
    feed_server.serve("/late.ics", STAYS)
    calendar_id = world.add_calendar("/late.ics")  # added after the first tick ran
    status, _ = daemon.post(f"/v1/external_calendars/{calendar_id}/sync", api_key=world.key)
    assert status == 202
    triggered = time.monotonic()
    assert wait_until(lambda: world.runs(calendar_id), timeout=15), "the trigger was not picked up"
    print(f"trigger → sync run recorded in {time.monotonic() - triggered:.3f} s")
    assert world.calendar(calendar_id).sync_requested_at is None


def test_trigger_needs_a_key_and_a_known_calendar(world):
    """POST …/sync: 401 without an API key, 404 for an unknown id and for one that cannot be one."""
    daemon = world.start()
    assert daemon.post(f"/v1/external_calendars/{uuid.uuid4()}/sync")[0] == 401
    assert daemon.post(f"/v1/external_calendars/{uuid.uuid4()}/sync", api_key=world.key)[0] == 404
    assert daemon.post("/v1/external_calendars/not-a-uuid/sync", api_key=world.key)[0] == 404


def test_failing_feed_backs_off_exponentially(world, feed_server):
    """A 500ing feed is retried after interval, 2×, 4× …; a success returns to the interval."""
    feed_server.serve("/down.ics", b"", status=500)
    calendar_id = world.add_calendar("/down.ics")
    interval = 0.6  # seconds: sync.interval_minutes = 0.01
    world.start(sync__interval_minutes=0.01, sync__tick_seconds=0.1)
    assert wait_until(lambda: len(world.runs(calendar_id)) >= 4, timeout=30)
    runs = world.runs(calendar_id)[:4]
    assert [r.outcome for r in runs] == ["failed"] * 4
    gaps = [(b.started_at - a.finished_at).total_seconds() for a, b in itertools.pairwise(runs)]
    for n, gap in enumerate(gaps):
        assert gap >= interval * 2**n * 0.99, gaps
    assert world.calendar(calendar_id).failure_count >= 4
    feed_server.serve("/down.ics", STAYS)
    assert wait_until(lambda: world.calendar(calendar_id).failure_count == 0, timeout=30)


def test_retry_after_is_honoured(world, feed_server):
    """A 429 with Retry-After: 3 waits at least 3 s, though the interval is 0.6 s."""
    feed_server.serve("/busy.ics", b"", status=429, headers={"Retry-After": "3"})
    calendar_id = world.add_calendar("/busy.ics")
    world.start(sync__interval_minutes=0.01, sync__tick_seconds=0.1)
    assert wait_until(lambda: len(world.runs(calendar_id)) >= 2, timeout=30)
    first, second = world.runs(calendar_id)[:2]
    assert first.http_status == 429
    assert (second.started_at - first.finished_at).total_seconds() >= 3 * 0.99


def test_per_host_limit_holds(world, feed_server):
    """Six slow feeds on one host, max_per_host = 2: never more than 2 requests at once."""
    ids = []
    for n in range(6):
        feed_server.serve(f"/slow{n}.ics", STAYS, delay=0.5)
        ids.append(world.add_calendar(f"/slow{n}.ics"))
    world.start(sync__max_per_host=2, sync__max_concurrent=16, sync__tick_seconds=0.1)
    assert wait_until(lambda: all(world.runs(i) for i in ids), timeout=30)
    assert feed_server.max_concurrent[OVERALL] == 2


def test_sigterm_during_a_slow_feed_exits_0_and_writes_nothing_half(world, feed_server):
    """SIGTERM mid-fetch: exit 0 within the grace, no booking or status written, lease released; the next start syncs."""
    feed_server.serve("/slow.ics", STAYS, delay=30)
    calendar_id = world.add_calendar("/slow.ics")
    daemon = world.start(sync__shutdown_grace_seconds=1)
    assert wait_until(lambda: feed_server.hits("/slow.ics") >= 1, timeout=15)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    stopped = daemon.wait_for_log("dispatcher.stopped")
    assert (stopped["abandoned"], stopped["leases_released"]) == (1, 1)
    cal = world.calendar(calendar_id)
    assert (cal.last_synced, cal.error, cal.lease_owner, cal.failure_count) == (None, None, None, 0)
    assert world.bookings() == []
    assert world.runs(calendar_id) == []

    feed_server.serve("/slow.ics", STAYS)
    world.start()
    assert wait_until(lambda: world.runs(calendar_id), timeout=15)
    assert len(world.bookings()) == 2


def test_sync_finishing_within_the_grace_is_written(world, feed_server):
    """SIGTERM while a feed answers in 1 s with a 10 s grace: the sync completes before exit 0."""
    feed_server.serve("/slowish.ics", STAYS, delay=1)
    calendar_id = world.add_calendar("/slowish.ics")
    daemon = world.start(sync__shutdown_grace_seconds=10)
    assert wait_until(lambda: feed_server.hits("/slowish.ics") >= 1, timeout=15)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert [r.outcome for r in world.runs(calendar_id)] == ["changed"]
    assert world.calendar(calendar_id).lease_owner is None


def test_second_signal_exits_at_once_without_partial_writes(world, feed_server):
    """A second SIGTERM during the grace exits at once (code 130); nothing is half written."""
    feed_server.serve("/slow.ics", STAYS, delay=30)
    calendar_id = world.add_calendar("/slow.ics")
    daemon = world.start(sync__shutdown_grace_seconds=60)
    assert wait_until(lambda: feed_server.hits("/slow.ics") >= 1, timeout=15)
    daemon.signal(signal.SIGTERM)
    daemon.wait_for_log("daemon.stopping")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=10) == 130
    assert world.bookings() == []
    assert world.runs(calendar_id) == []


def big_feed(events: int) -> bytes:
    return calendar(*(
        f"UID:{n}@big\nDTSTAMP:20261115T120000Z\nDTSTART:20261201T{n % 24:02d}0000Z\nDURATION:PT30M\nSUMMARY:Blocked {n}"
        for n in range(events)
    ))  # fmt: skip


def test_healthz_answers_while_a_10000_event_feed_is_parsed(world, feed_server):
    """Parsing runs in a worker process: /healthz keeps answering while the big feed is parsed."""
    daemon = world.start(sync__tick_seconds=3600)
    feed_server.serve("/big.ics", big_feed(10_000))
    calendar_id = world.add_calendar("/big.ics")
    daemon.post(f"/v1/external_calendars/{calendar_id}/sync", api_key=world.key)
    assert wait_until(lambda: feed_server.hits("/big.ics") >= 1, timeout=15)
    latencies = []
    deadline = time.monotonic() + 120
    while not world.runs(calendar_id) and time.monotonic() < deadline:
        started = time.monotonic()
        assert daemon.get("/healthz", timeout=30)[0] == 200
        latencies.append(time.monotonic() - started)
    assert [r.outcome for r in world.runs(calendar_id)] == ["changed"]
    assert len(latencies) >= 3, "the event loop was blocked during the parse"
    latencies.sort()
    print(
        f"/healthz during the parse: {len(latencies)} answers, median {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )


def test_readyz_reports_database_and_scheduler(world):
    """/readyz is 200 with both checks true while the daemon runs."""
    daemon = world.start()
    status, body = daemon.get("/readyz")
    assert status == 200
    assert b'"database":true' in body
    assert b'"scheduler":true' in body


def _big_feed(events: int, *, shift: timedelta = timedelta(0)) -> bytes:
    """``events`` half-hour events 45 minutes apart from tomorrow (+ ``shift``), in the window."""
    first = utc_now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1) + shift
    starts = (first + timedelta(minutes=45 * n) for n in range(events))
    return calendar(
        *(
            f"UID:big-{n}\nDTSTART:{start:%Y%m%dT%H%M%SZ}\n"
            f"DTEND:{start + timedelta(minutes=30):%Y%m%dT%H%M%SZ}"
            for n, start in enumerate(starts)
        )
    )


def _post_product(daemon: DaemonProcess, api_key: str, name: str) -> int:
    request = urllib.request.Request(
        daemon.url + "/v1/products",
        method="POST",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_api_writes_and_other_syncs_go_on_while_20_000_events_move(world, feed_server):
    """While 20 000 events of one feed move a day, API writes answer 201 and a small calendar syncs.

    Regression: such a sync held SQLite's write lock for about 61 s; API writes
    answered 503 after the 30 s busy timeout and the dispatcher logged "database is locked".
    """
    feed_server.serve("/big.ics", _big_feed(20_000))
    feed_server.serve("/small.ics", STAYS)
    daemon = world.start(
        sync__tick_seconds=0.2, sync__interval_minutes=1440, sync__parse_workers=2,
        sync__parse_time_budget_seconds=300,
    )  # fmt: skip
    big = world.add_calendar("/big.ics")
    wait_until(lambda: world.runs(big), timeout=300)
    feed_server.serve("/big.ics", _big_feed(20_000, shift=timedelta(days=1)))
    assert daemon.post(f"/v1/external_calendars/{big}/sync", api_key=world.key)[0] == 202
    wait_until(lambda: feed_server.hits("/big.ics") == 2, timeout=30)
    small = world.add_calendar("/small.ics")
    statuses: list[int] = []
    deadline = time.monotonic() + 300
    while not (len(world.runs(big)) == 2 and world.runs(small)) and time.monotonic() < deadline:
        statuses.append(_post_product(daemon, world.key, f"p{len(statuses)}"))
    runs = [(r.outcome, r.inserted, r.updated) for r in world.runs(big)]
    assert runs == [("changed", 20_000, 0), ("changed", 0, 20_000)]
    assert [r.outcome for r in world.runs(small)] == ["changed"]
    assert statuses, "no API write was made during the sync"
    assert set(statuses) == {201}
    problems = [
        e for e in daemon.logs if "locked" in json.dumps(e) or e["event"].endswith("_failed")
    ]
    assert problems == []
