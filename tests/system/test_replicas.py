"""Scale-out: several ``calsync run`` replicas over one PostgreSQL (DESIGN.md §9).

Each due calendar is claimed by exactly one replica (``FOR UPDATE SKIP LOCKED``
into a lease); a replica that freezes loses its leases when they expire, one
that dies on this host loses them at once (its pid is gone), and a late result
from a lost lease is never written. PostgreSQL only:
SQLite has no ``SKIP LOCKED``, and these tests never skip in CI.

No test sleeps for the schedule: intervals and leases are made short through
the settings, and every wait polls with a bound.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from calsync.clock import utc_now
from calsync.store import bookings as stored_bookings
from calsync.store import products as stored_products
from calsync.store.models import Booking, ExternalCalendar, SyncRun
from conftest import IN_CI, POSTGRES_URL, add_calendar, calendar, postgres_schema_url
from daemon_process import DaemonProcess, open_store, wait_until
from feedserver import FeedServer

pytestmark = pytest.mark.postgres

SUCCESS = ("changed", "unchanged")
PG_CTLCLUSTER = shutil.which("pg_ctlcluster")
#: Only with this set may a test restart the PostgreSQL cluster (it disturbs anything else using it).
RESTART_POSTGRES = os.environ.get("CALSYNC_TEST_RESTART_POSTGRES", "") == "1"
PG_ISREADY = shutil.which("pg_isready")
BASE_SETTINGS = {
    "sync__tick_seconds": 0.2,
    "sync__max_per_host": 50,  # every feed is on 127.0.0.1
    "sync__max_concurrent": 16,
}


class TimedFeedServer(FeedServer):
    """A FeedServer that also notes when each request arrived (monotonic seconds, per path)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: defaultdict[str, list[float]] = defaultdict(list)

    @contextlib.contextmanager
    def _track(self, target: str, headers: dict[str, str]) -> Iterator[None]:
        with self._lock:
            self.times[urlsplit(target).path].append(time.monotonic())
        with super()._track(target, headers):
            yield


@pytest.fixture
def feeds() -> Iterator[TimedFeedServer]:
    with TimedFeedServer() as server:
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private schema on the test PostgreSQL, dropped once PostgreSQL runs again."""
    yield from postgres_schema_url(before_drop=_ensure_postgres_running)


def stay_starts(n: int) -> list[date]:
    """The arrival days of calendar ``n``'s two stays: a few weeks from today (the daemon's clock)."""
    first = datetime.now(UTC).date() + timedelta(days=10 + n % 7)
    return [first, first + timedelta(days=7)]


def stays(n: int, version: str = "v1") -> bytes:
    """A small feed of calendar ``n``: two three-night stays, UIDs ``<version>-<k>@cal<n>``."""
    return calendar(*(
        f"UID:{version}-{k}@cal{n}\nDTSTART;VALUE=DATE:{start:%Y%m%d}\n"
        f"DTEND;VALUE=DATE:{start + timedelta(days=3):%Y%m%d}\nSUMMARY:Reserved"
        for k, start in enumerate(stay_starts(n))
    ))  # fmt: skip


class Cluster:
    """One migrated PostgreSQL schema with one product, replicas started on it, and views of its tables."""

    def __init__(self, url: str, feeds: TimedFeedServer) -> None:
        self.url = url
        self.feeds = feeds
        self.store = open_store(url)
        self.store.upgrade()
        with self.store.write() as session:
            self.product_id = stored_products.add_product(
                session, name="House", timezone="UTC", capacity=1, now=utc_now()
            ).id
        self.daemons: list[DaemonProcess] = []

    def start(self, **settings: object) -> DaemonProcess:
        """One more replica: ``calsync run`` with the base settings and ``section__key=value`` ones."""
        env = {
            f"CALSYNC_{key.upper()}": str(value)
            for key, value in {**BASE_SETTINGS, **settings}.items()
        }
        daemon = DaemonProcess(self.url, env)
        self.daemons.append(daemon)
        return daemon

    def add_calendars(self, paths: list[str]) -> dict[uuid.UUID, str]:
        """Add one calendar per feed path, in one transaction; their ids → paths."""
        added = {}
        with self.store.write() as session:
            for path in paths:
                cal = add_calendar(
                    session, product_id=self.product_id, name=path, ical_url=self.feeds.url(path),
                    time_offset=0, active=True, now=utc_now(),
                )  # fmt: skip
                added[cal.id] = path
        return added

    def run_counts(self, *, since: datetime | None = None) -> Counter[uuid.UUID]:
        """Successful sync runs per calendar (started after ``since``)."""
        query = (
            select(SyncRun.external_calendar_id, func.count())
            .where(SyncRun.outcome.in_(SUCCESS))
            .group_by(SyncRun.external_calendar_id)
        )
        if since is not None:
            query = query.where(SyncRun.started_at > since)
        with self.store.read() as session:
            return Counter(dict(session.execute(query).all()))

    def runs(self) -> dict[uuid.UUID, list[SyncRun]]:
        """Every sync run, per calendar, oldest first."""
        found: dict[uuid.UUID, list[SyncRun]] = defaultdict(list)
        with self.store.read() as session:
            for run in session.scalars(select(SyncRun).order_by(SyncRun.started_at)):
                found[run.external_calendar_id].append(run)
        return found

    def calendars(self) -> dict[uuid.UUID, ExternalCalendar]:
        with self.store.read() as session:
            return {cal.id: cal for cal in session.scalars(select(ExternalCalendar))}

    def bookings(self) -> list[Booking]:
        with self.store.read() as session:
            return list(stored_bookings.list_bookings(session))


@pytest.fixture
def cluster(postgres_url: str, feeds: TimedFeedServer) -> Iterator[Cluster]:
    """A schema with one product, and a way to start replicas on it; all replicas killed after."""
    world = Cluster(postgres_url, feeds)
    yield world
    for daemon in world.daemons:
        daemon.stop()  # SIGKILL to the process group: also ends a SIGSTOPped one
    world.store.close()


def events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    return [line for line in list(daemon.logs) if line.get("event") == name]


def synced_by(daemon: DaemonProcess) -> Counter[str]:
    """Calendar ids (strings) this replica wrote a sync for, with how often."""
    return Counter(str(line["calendar_id"]) for line in events(daemon, "sync.finished"))


def assert_bookings_match_feeds(cluster: Cluster, expected: dict[uuid.UUID, int]) -> None:
    """Each calendar has as many bookings as its feed has events, and no booking twice."""
    bookings = cluster.bookings()
    keys = Counter((b.external_calendar_id, b.source_key) for b in bookings)
    assert [key for key, count in keys.items() if count > 1] == []
    per_calendar = Counter(b.external_calendar_id for b in bookings)
    assert {cal: per_calendar[cal] for cal in expected} == expected
    assert set(per_calendar) <= set(expected)


def test_three_replicas_sync_each_calendar_once_per_interval(
    cluster: Cluster, feeds: TimedFeedServer
) -> None:
    """Three replicas, 300 calendars: each is fetched once per interval by one replica, never booked twice."""
    interval = 15.0  # seconds: sync.interval_minutes = 0.25, ±10 % jitter after a success
    replicas = [cluster.start(sync__interval_minutes=interval / 60) for _ in range(3)]
    paths = [f"/c{n:03d}.ics" for n in range(300)]
    for n, path in enumerate(paths):
        feeds.serve(path, stays(n))
    ids = cluster.add_calendars(paths)  # all replicas are up: they race for the same 300
    started = time.monotonic()

    assert wait_until(lambda: len(cluster.run_counts()) == len(ids), timeout=90, interval=0.25), (
        f"only {len(cluster.run_counts())} of {len(ids)} calendars synced"
    )
    first_round = time.monotonic() - started
    # Observe two more intervals from the last calendar's first sync.
    assert wait_until(
        lambda: min(cluster.run_counts().values()) >= 3,
        timeout=2 * interval * 1.1 + 45,
        interval=0.5,
    ), f"not every calendar synced 3 times: {Counter(cluster.run_counts().values())}"
    for replica in replicas:
        replica.signal(signal.SIGTERM)
    for replica in replicas:
        assert replica.wait(timeout=45) == 0
        assert replica.wait_for_log("dispatcher.stopped")["abandoned"] == 0

    runs = cluster.runs()
    assert set(runs) == set(ids)
    assert [r.outcome for rs in runs.values() for r in rs if r.outcome not in SUCCESS] == []
    min_gap = interval
    for calendar_id, path in ids.items():
        own = runs[calendar_id]
        assert len(own) >= 3
        # One fetch per sync run: no replica fetched it without writing (a lost lease).
        assert feeds.hits(path) == len(own), path
        for a, b in pairwise(own):
            assert b.started_at >= a.finished_at, f"{path}: overlapping runs {a} {b}"
            gap = (b.started_at - a.finished_at).total_seconds()
            assert gap >= 0.85 * interval, f"{path} synced again after {gap:.2f} s"
            min_gap = min(min_gap, gap)
        fetch_gaps = [b - a for a, b in pairwise(feeds.times[path])]
        assert min(fetch_gaps) >= 0.85 * interval, f"{path} fetched at {feeds.times[path]}"
    assert_bookings_match_feeds(cluster, dict.fromkeys(ids, 2))

    per_replica = [synced_by(replica) for replica in replicas]
    assert all(per_replica), [sum(c.values()) for c in per_replica]
    total = sum(per_replica, Counter())
    assert total == Counter({str(cal): len(rs) for cal, rs in runs.items()})
    for replica in replicas:
        assert events(replica, "sync.lease_lost") == []
        assert events(replica, "lease.lost") == []
    print(
        f"first round of 300 in {first_round:.1f} s; syncs per replica "
        f"{[sum(c.values()) for c in per_replica]}; smallest gap between syncs of one "
        f"calendar {min_gap:.2f} s (interval {interval} s)"
    )


def test_sigkilled_replica_loses_its_leases_and_others_sync_its_calendars(
    cluster: Cluster, feeds: TimedFeedServer
) -> None:
    """SIGKILL a replica mid-sync: the others (same host) sync its calendars, nothing lost or doubled.

    The replicas share this host, so the dead replica's leases are taken over
    as soon as its pid is gone, not when they expire (issue "Reliability, round 2" §5).
    """
    lease = 3.0
    replicas = [
        cluster.start(sync__lease_seconds=lease, sync__max_concurrent=4, sync__interval_minutes=10)
        for _ in range(3)
    ]
    paths = [f"/k{n:02d}.ics" for n in range(24)]
    slow = set(paths[::2])  # these answer after 5 s: longer than the lease
    for n, path in enumerate(paths):
        feeds.serve(path, stays(n), delay=5 if path in slow else 0)
    ids = cluster.add_calendars(paths)
    by_path = {path: cal for cal, path in ids.items()}

    def fetching() -> tuple[str, uuid.UUID] | None:
        """A replica with a slow feed's request in flight, and that calendar."""
        calendars = cluster.calendars()
        for path in slow:
            cal = calendars[by_path[path]]
            if feeds.hits(path) and cal.lease_owner and cal.last_synced is None:
                return cal.lease_owner, cal.id
        return None

    found = wait_until(fetching, timeout=20)
    assert found, "no replica started fetching a slow feed"
    owner, mid_fetch = found
    victim = next(r for r in replicas if r.replica == owner)
    survivors = [r for r in replicas if r is not victim]
    victim.stop()  # os.killpg(pid, SIGKILL)
    killed = time.monotonic()
    orphaned = {cal.id for cal in cluster.calendars().values() if cal.lease_owner == victim.replica}
    assert mid_fetch in orphaned
    # The killed replica's half-done syncs left nothing: no run, no booking, no status.
    runs = cluster.runs()
    assert [runs[cal] for cal in orphaned if runs[cal]] == []
    assert [b for b in cluster.bookings() if b.external_calendar_id in orphaned] == []
    assert [cal.last_synced for cal in cluster.calendars().values() if cal.id in orphaned] == [
        None
    ] * len(orphaned)

    assert wait_until(lambda: len(cluster.run_counts()) == len(ids), timeout=60, interval=0.25), (
        f"calendars never synced: {sorted(set(ids) - set(cluster.run_counts()))}"
    )
    recovered = time.monotonic() - killed
    runs = cluster.runs()
    assert feeds.hits(ids[mid_fetch]) == 2  # the killed replica's request, then a survivor's
    for calendar_id, path in ids.items():
        assert [r.outcome for r in runs[calendar_id]] == ["changed"], path
        if calendar_id in orphaned:
            # Taken over from the dead replica (at once: its pid is gone); fetched at most twice.
            assert feeds.hits(path) <= 2, path
        else:
            assert feeds.hits(path) == 1, path
    assert_bookings_match_feeds(cluster, dict.fromkeys(ids, 2))
    for cal in cluster.calendars().values():
        # Nothing half-applied: synced ⇔ bookings present, and no lease left behind.
        assert cal.last_synced is not None
        assert (cal.lease_owner, cal.error, cal.failure_count) == (None, None, 0)
    victims_writes = synced_by(victim)
    assert not victims_writes.keys() & {str(cal) for cal in orphaned}
    survivors_writes = sum((synced_by(r) for r in survivors), Counter())
    assert {str(cal) for cal in orphaned} <= survivors_writes.keys()
    assert survivors_writes + victims_writes == Counter({str(cal): 1 for cal in ids})
    for replica in survivors:
        assert replica.alive
        assert events(replica, "sync.lease_lost") == []
    print(
        f"killed a replica holding {len(orphaned)} leases; all {len(ids)} calendars "
        f"synced exactly once {recovered:.1f} s later"
    )


def _no_lock_held(cluster: Cluster, calendar_id: uuid.UUID) -> bool:
    """Whether the calendar's row is free (no frozen transaction of a stopped replica holds it)."""
    try:
        with cluster.store.engine.begin() as conn:
            conn.execute(
                sqlalchemy.text(
                    "SELECT id FROM external_calendars WHERE id = :id FOR UPDATE NOWAIT"
                ),
                {"id": calendar_id},
            )
    except OperationalError:
        return False
    return True


def test_frozen_replica_past_its_lease_cannot_write_its_late_result(
    cluster: Cluster, feeds: TimedFeedServer
) -> None:
    """SIGSTOP a replica mid-fetch past its lease, another syncs newer data, SIGCONT: the late result is refused."""
    lease = 2.0
    v1, v2 = stays(1, "v1"), stays(2, "v2")
    feeds.serve("/frozen.ics", v1, delay=3)
    first = cluster.start(sync__lease_seconds=lease, sync__interval_minutes=10)
    ((calendar_id, _),) = cluster.add_calendars(["/frozen.ics"]).items()
    assert wait_until(lambda: feeds.hits("/frozen.ics") >= 1, timeout=15)
    # Freeze it; not in the middle of a transaction on the row (the other could not claim it).
    for _ in range(20):
        os.killpg(first.process.pid, signal.SIGSTOP)
        if _no_lock_held(cluster, calendar_id):
            break
        os.killpg(first.process.pid, signal.SIGCONT)
        time.sleep(0.05)
    else:
        pytest.fail("the first replica always held the calendar's row")
    frozen = time.monotonic()
    leased = cluster.calendars()[calendar_id]
    assert leased.lease_owner == first.replica
    assert feeds.hits("/frozen.ics") == 1  # its request got v1, the route as it was then
    feeds.serve("/frozen.ics", v2)

    second = cluster.start(sync__lease_seconds=lease, sync__interval_minutes=10)
    assert wait_until(lambda: cluster.run_counts().get(calendar_id), timeout=30), (
        "the second replica never took over the expired lease"
    )
    taken_over = time.monotonic() - frozen
    (run,) = cluster.runs()[calendar_id]
    assert (run.outcome, run.inserted) == ("changed", 2)
    assert leased.lease_expires_at is not None
    assert run.started_at >= leased.lease_expires_at
    assert synced_by(second) == Counter({str(calendar_id): 1})
    before = cluster.calendars()[calendar_id]

    os.killpg(first.process.pid, signal.SIGCONT)
    ended = ("sync.lease_lost", "sync.finished", "sync.failed")
    assert wait_until(
        lambda: [
            e
            for e in list(first.logs)
            if e.get("event") in ended and e.get("calendar_id") == str(calendar_id)
        ],
        timeout=30,
    ), f"the first replica's sync never ended: {first.logs[-10:]}"
    lost = [e for e in events(first, "sync.lease_lost") if e["calendar_id"] == str(calendar_id)]
    assert lost, f"the first replica did not report its lost lease: {first.logs[-10:]}"
    assert first.alive
    assert synced_by(first) == Counter()
    assert feeds.hits("/frozen.ics") == 2
    assert [r.id for r in cluster.runs()[calendar_id]] == [run.id]
    after = cluster.calendars()[calendar_id]
    fields = (
        "last_synced",
        "content_digest",
        "next_sync_at",
        "event_count",
        "error",
        "lease_owner",
    )
    assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}
    assert after.lease_owner is None
    # The data is the newer sync's: v2's stays, none of v1's.
    expected = {(f"v2-{k}@cal2", start) for k, start in enumerate(stay_starts(2))}
    assert {(b.source_key, b.starts_at.date()) for b in cluster.bookings()} == expected
    print(
        f"frozen replica's lease taken over {taken_over:.1f} s after SIGSTOP; its late v1 refused"
    )


def _pg_cluster_version() -> str | None:
    """The version of the local ``main`` cluster, if this process may restart it (root, pg_ctlcluster)."""
    root = Path("/etc/postgresql")
    if PG_CTLCLUSTER is None or PG_ISREADY is None or os.geteuid() != 0 or not root.is_dir():
        return None
    versions = sorted(
        (v.name for v in root.iterdir() if (v / "main").is_dir()),
        key=lambda v: [int(p) for p in v.split(".") if p.isdigit()],
    )
    return versions[-1] if versions else None


def _postgres_port() -> str:
    return str(sqlalchemy.engine.make_url(POSTGRES_URL).port or 5432)


def _postgres_ready() -> bool:
    ready = subprocess.run(
        [str(PG_ISREADY), "-q", "-h", "127.0.0.1", "-p", _postgres_port()],
        check=False,
        timeout=15,
    )
    return ready.returncode == 0


def _ensure_postgres_running() -> None:
    """Start the local cluster again if a test left it down (only where this test may restart it)."""
    version = _pg_cluster_version()
    if version is None or not POSTGRES_URL or wait_until(_postgres_ready, timeout=5, interval=0.5):
        return
    subprocess.run(
        [str(PG_CTLCLUSTER), "--skip-systemctl-redirect", version, "main", "start"],
        check=False,
        timeout=120,
    )
    wait_until(_postgres_ready, timeout=60, interval=0.5)


class ReadyzWatch:
    """Poll each replica's /readyz in a thread and note every status seen."""

    def __init__(self, replicas: list[DaemonProcess]) -> None:
        self.replicas = replicas
        self.seen: list[set[int | None]] = [set() for _ in replicas]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.1):
            for n, replica in enumerate(self.replicas):
                try:
                    status: int | None = replica.get("/readyz", timeout=2)[0]
                except OSError:
                    status = None
                self.seen[n].add(status)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_replicas_ride_out_a_postgresql_restart(cluster: Cluster, feeds: TimedFeedServer) -> None:
    """PostgreSQL restarted under load: both replicas stay up, /readyz recovers, syncs resume."""
    if not RESTART_POSTGRES:
        pytest.skip(
            "restarts the PostgreSQL cluster: opt in with CALSYNC_TEST_RESTART_POSTGRES=1 "
            "(.ci/run does)"
        )
    version = _pg_cluster_version()
    host = sqlalchemy.engine.make_url(POSTGRES_URL).host
    if version is None or host not in ("127.0.0.1", "localhost"):
        reason = "needs root, pg_ctlcluster and the test PostgreSQL as a local cluster"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    # A short lease: a sync cut off by the restart keeps its lease until it expires.
    replicas = [
        cluster.start(sync__interval_minutes=0.05, sync__lease_seconds=10) for _ in range(2)
    ]
    paths = [f"/r{n:02d}.ics" for n in range(50)]
    for n, path in enumerate(paths):
        feeds.serve(path, stays(n))
    ids = cluster.add_calendars(paths)
    assert wait_until(lambda: len(cluster.run_counts()) == len(ids), timeout=60, interval=0.25)
    assert wait_until(lambda: min(cluster.run_counts().values()) >= 2, timeout=30, interval=0.25)

    watch = ReadyzWatch(replicas)
    try:
        restart = subprocess.run(
            [str(PG_CTLCLUSTER), "--skip-systemctl-redirect", version, "main", "restart"],
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert restart.returncode == 0, restart.stderr
        assert wait_until(_postgres_ready, timeout=60, interval=0.2), "PostgreSQL did not come back"
        back = utc_now()
        marks = [len(replica.logs) for replica in replicas]
        cluster.store.engine.dispose()  # the test's own connections died with the server too
        recovered = wait_until(
            lambda: all(replica.get("/readyz")[0] == 200 for replica in replicas), timeout=30
        )
    finally:
        watch.stop()
        _ensure_postgres_running()
    assert recovered, f"/readyz did not recover: {[r.get('/readyz') for r in replicas]}"
    assert all(replica.alive for replica in replicas)
    assert [len(events(replica, "daemon.started")) for replica in replicas] == [1, 1]
    assert wait_until(
        lambda: len(cluster.run_counts(since=back)) == len(ids), timeout=60, interval=0.25
    ), f"calendars not synced since the restart: {len(ids) - len(cluster.run_counts(since=back))}"
    for mark, replica in zip(marks, replicas, strict=True):
        after = [e for e in list(replica.logs)[mark:] if e.get("event") == "sync.finished"]
        assert after, "a replica synced nothing after the restart"
    assert all(replica.alive for replica in replicas)
    assert_bookings_match_feeds(cluster, dict.fromkeys(ids, 2))
    print(
        f"/readyz statuses seen during the restart: {[sorted(s, key=str) for s in watch.seen]} "
        f"(503 while the database was away: {any(503 in s for s in watch.seen)})"
    )
