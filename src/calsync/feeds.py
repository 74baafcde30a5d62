"""Outbound feeds: one per product, rendered from the store, cached by a data-derived ETag.

The ETag is a hash of the product's ``bookings_changed_at`` (bumped by every
booking change), the excluded calendar, the day (the window moves daily) and the
feed settings, so every replica computes the same ETag and renders the same
bytes for the same data. Rendered bodies are kept in a small LRU cache.

Checking the version takes a round of queries (the token, the capacity links,
linked products' versions), so a checked feed is then served from memory,
without asking the store, until either of these happens:

- a transaction of this process that touched a product (every booking or link
  change bumps its product's version) or deleted a calendar commits
  (:data:`~calsync.store.products.local_feed_changes`): the next request checks
  again, so a change made here, an import included, is served at once;
- :data:`CHECK_VALIDITY` (0.25 s) passes: the bound on how late a change made
  by another process (a replica, the CLI) is seen, well under the 1 s in which
  an imported change must reach the outbound feed.

Every read is recorded in ``product_calendar_logs`` through :class:`FeedReadLog`,
which batches the inserts so logging never slows a feed down.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from calsync.channels import classify_user_agent
from calsync.clock import utc_now
from calsync.core.availability import Graph, blocked_ranges
from calsync.core.blocks import date_at_midnight
from calsync.core.ical_out import FeedEvent, render_feed
from calsync.store.bookings import blocking_bookings, load_occupancy
from calsync.store.calendars import existing_ids, product_of
from calsync.store.history import FeedReader, add_feed_reads, feed_readers
from calsync.store.products import (
    dependency_links,
    find_product,
    is_feed_token,
    local_feed_changes,
    product_by_token,
    product_versions,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

    from calsync.config import FeedSettings
    from calsync.store.db import Store
    from calsync.store.models import Product

log = structlog.get_logger("calsync.feeds")
_FORMAT = 3  # bump when the rendering changes, so every cached ETag changes with it
_HORIZON_DAYS = 1100  # nights exported ahead: beyond any channel's booking window
_LOCKS = 64  # checks of one feed run one at a time; of different feeds, mostly in parallel
CHECK_VALIDITY = 0.25
"""Seconds a feed checked against the store is served from memory (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """A feed's bytes and its validators, and the same bytes gzip-compressed.

    The compressed body is made once per rendering (a 365-booking feed of about
    30 KB becomes about 3 KB), with no timestamp in its header, so every replica
    compresses the same feed to the same bytes.
    """

    product_id: uuid.UUID
    body: bytes
    etag: str
    last_modified: datetime
    excluded: uuid.UUID | None = None
    """The calendar left out: the one asked for, if it is one of the product's."""
    gzipped: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gzipped", gzip.compress(self.body, mtime=0))

    @property
    def gzip_etag(self) -> str:
        """The compressed body's ETag: a strong ETag belongs to one representation."""
        return f'{self.etag[:-1]}-gzip"'


class FeedService:
    """Finds a product by its feed token and returns its feed, rendered at most once per version."""

    def __init__(
        self,
        store: Store,
        settings: FeedSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        cache_size: int = 1024,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self._cache: OrderedDict[tuple[uuid.UUID, uuid.UUID | None], RenderedFeed] = OrderedDict()
        self._checked: dict[tuple[str, uuid.UUID | None], _Checked] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._check_locks = [threading.Lock() for _ in range(_LOCKS)]

    def cached(self, token: str, exclude: uuid.UUID | None = None) -> RenderedFeed | None:
        """The feed if it was checked recently enough to serve without the store; no I/O."""
        checked = self._checked.get((token, exclude))
        if (
            checked is None
            or checked.changes != local_feed_changes.count
            or self._monotonic() - checked.at > CHECK_VALIDITY
            or checked.day != self._window_start(self._clock())
        ):
            return None
        return checked.feed

    def feed(self, token: str, exclude: uuid.UUID | None = None) -> RenderedFeed | None:
        """The feed of the product with this token, or None (unknown token).

        ``exclude`` leaves out what was imported from that calendar; one that is
        not the product's (removed, or another product's) leaves out nothing. A
        token that cannot be one (length, characters) is None without a query.
        """
        if not is_feed_token(token):
            return None
        key = (token, exclude)
        with self._check_locks[hash(key) % _LOCKS]:  # a burst of requests checks once
            cached = self.cached(token, exclude)
            if cached is not None:
                return cached
            changes, at = (
                local_feed_changes.count,
                self._monotonic(),
            )  # before reading: conservative
            now = self._clock()
            rendered = self._check(token, exclude, now)
            if rendered is not None:
                with self._lock:
                    self._checked.pop(key, None)
                    self._checked[key] = _Checked(rendered, changes, at, self._window_start(now))
                    while len(self._checked) > self._cache_size:
                        del self._checked[next(iter(self._checked))]
            return rendered

    def _check(self, token: str, exclude: uuid.UUID | None, now: datetime) -> RenderedFeed | None:
        """The feed as the store has it now: the cached body if its ETag still holds."""
        with self._store.read() as session:
            product = product_by_token(session, token)
            if product is None or not hmac.compare_digest(product.feed_token, token):
                return None
            key = (product.id, exclude)
            links = dependency_links(session)
            group = Graph.of(links).group(product.id)
            versions = _versions(session, product, group)
            last_modified = max(version for _, version, _ in versions)
            etag = self._etag(product.id, (versions, sorted(links)), exclude, now)
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None and cached.etag == etag:
                    self._cache.move_to_end(key)
                    return cached
            excluded = exclude
            if exclude is not None and product_of(session, exclude) != product.id:
                excluded = None  # a removed calendar's export URL still gets the product's feed
            simple = group == {product.id} and product.capacity == 1
            render = self._render_bookings if simple else self._render_nights
            body = render(session, product, excluded, last_modified, now)
        rendered = RenderedFeed(
            product.id, body, etag, last_modified.replace(microsecond=0), excluded
        )
        with self._lock:
            self._cache[key] = rendered
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return rendered

    def feed_of_product(self, product_id: uuid.UUID, exclude: uuid.UUID | None = None) -> bytes:
        """The same bytes as the product's feed URL serves (for ``calsync feed``)."""
        with self._store.read() as session:
            product = find_product(session, product_id)
            token = product.feed_token if product is not None else ""
        rendered = self.feed(token, exclude)
        return rendered.body if rendered is not None else b""

    def _etag(
        self, product_id: uuid.UUID, version: object, exclude: uuid.UUID | None, now: datetime
    ) -> str:
        parts = (
            _FORMAT,
            product_id,
            version,
            exclude,
            self._window_start(now).date().isoformat(),
            self._settings.summary,
            self._settings.refresh_minutes,
        )
        return '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:32] + '"'

    def _window_start(self, now: datetime) -> datetime:
        day = (now - timedelta(days=self._settings.past_days)).date()
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def _render_bookings(
        self,
        session: Session,
        product: Product,
        exclude: uuid.UUID | None,
        version: datetime,
        now: datetime,
    ) -> bytes:
        """A single-unit product with no links: one event per booking, at its exact times."""
        bookings = blocking_bookings(
            session, [product.id], after=self._window_start(now), exclude_calendar=exclude
        )
        events = [FeedEvent(f"{b.id}@calsync", b.starts_at, b.ends_at, b.all_day) for b in bookings]
        return self._calendar(events, product, version)

    def _render_nights(
        self,
        session: Session,
        product: Product,
        exclude: uuid.UUID | None,
        version: datetime,
        now: datetime,
    ) -> bytes:
        """Several units or linked products: the unavailable nights, merged into ranges.

        iCal cannot say "2 of 3 left", so only unavailable nights are exported: a
        room's feed blocks a night when any product above it is full, whichever
        of its siblings filled it (:mod:`calsync.core.availability`).
        """
        first = self._window_start(now).date()
        last = first + timedelta(days=self._settings.past_days + _HORIZON_DAYS)
        occupancy = load_occupancy(
            session, [product.id], first=first, last=last, exclude_calendar=exclude
        )
        nights = occupancy.nights(product.id, first, last)
        events = [
            FeedEvent(
                f"{product.id}-{first:%Y%m%d}-{checkout:%Y%m%d}@calsync",
                date_at_midnight(first),
                date_at_midnight(checkout),
                all_day=True,
            )
            for first, checkout in blocked_ranges(nights)
        ]
        return self._calendar(events, product, version)

    def _calendar(self, events: list[FeedEvent], product: Product, version: datetime) -> bytes:
        return render_feed(
            events,
            calendar_name=product.name,
            summary=self._settings.summary,
            stamp=version.replace(microsecond=0),
            refresh_interval=timedelta(minutes=self._settings.refresh_minutes),
        )


@dataclass(frozen=True, slots=True)
class _Checked:
    """A feed as a check found it, and what makes the check stale: a local change, time, a day."""

    feed: RenderedFeed
    changes: int
    at: float
    day: datetime


def _versions(
    session: Session, product: Product, group: frozenset[uuid.UUID]
) -> list[tuple[uuid.UUID, datetime, int]]:
    """(id, version, capacity) of each product of the group: what the product's feed depends on.

    A product with no links needs no query: its own row says it all.
    """
    if group == {product.id}:
        return [(product.id, product.bookings_changed_at or product.created_at, product.capacity)]
    return [
        (pid, version, capacity) for pid, version, capacity, _ in product_versions(session, group)
    ]


class FeedReadLog:
    """Collects feed reads in memory and writes them in batches (``flush``).

    A read is noted as a tuple; its row (id, channel) is built when it is written,
    off the request's path.
    """

    def __init__(self, store: Store, *, max_pending: int = 100_000) -> None:
        self._store = store
        self._pending: list[tuple[uuid.UUID, uuid.UUID | None, str, str, datetime]] = []
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self.dropped = 0

    def record(
        self,
        *,
        product_id: uuid.UUID,
        external_calendar_id: uuid.UUID | None,
        user_agent: str,
        status: str,
        read_at: datetime,
    ) -> None:
        """Note one read; cheap, no I/O."""
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                return
            self._pending.append(
                (product_id, external_calendar_id, user_agent[:500], status, read_at)
            )

    def flush(self) -> int:
        """Write the pending reads in one transaction; return how many.

        A read through the export URL of a calendar removed since is written
        without its calendar, as the database's ``SET NULL`` leaves older reads.
        """
        with self._lock:
            reads, self._pending = self._pending, []
        if not reads:
            return 0
        calendar_ids = {read[1] for read in reads if read[1] is not None}
        with self._store.write() as session:
            known = existing_ids(session, calendar_ids)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "product_id": product_id,
                    "external_calendar_id": external_calendar_id
                    if external_calendar_id in known
                    else None,
                    "read_at": read_at,
                    "user_agent": user_agent,
                    "channel": _channel(user_agent),
                    "status": status,
                    "created_at": read_at,
                    "updated_at": read_at,
                }
                for product_id, external_calendar_id, user_agent, status, read_at in reads
            ]
            add_feed_reads(session, rows)
        return len(reads)


_channel = functools.lru_cache(maxsize=256)(classify_user_agent)
"""The channel of a User-Agent; channels send the same few over and over."""


class StaleReaderWatch:
    """Reports channels that used to read a feed and stopped: a silent cause of double bookings."""

    def __init__(
        self, store: Store, settings: FeedSettings, *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._store = store
        self._after = timedelta(hours=settings.stale_reader_hours)
        self._clock = clock
        self._warned: set[tuple[uuid.UUID, str, uuid.UUID | None]] = set()

    def check(self) -> list[FeedReader]:
        """The stale readers now; one warning log line when a reader turns stale."""
        now = self._clock()
        with self._store.read() as session:
            readers = feed_readers(session)
        stale = [reader for reader in readers if reader.is_stale(now=now, after=self._after)]
        keys = {(r.product_id, r.channel, r.external_calendar_id) for r in stale}
        for reader in stale:
            key = (reader.product_id, reader.channel, reader.external_calendar_id)
            if key not in self._warned:
                log.warning(
                    "feed.reader_stale",
                    product_id=str(reader.product_id),
                    channel=reader.channel,
                    external_calendar_id=str(reader.external_calendar_id or ""),
                    last_read_at=reader.last_read_at.isoformat(),
                )
        self._warned = keys
        return stale
