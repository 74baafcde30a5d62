"""Prometheus metrics of one calsync process (``/metrics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

if TYPE_CHECKING:
    from calsync.sync import SyncResult

disable_created_metrics()  # type: ignore[no-untyped-call] # *_created only repeats the start time
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The daemon's counters and gauges, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.syncs = Counter(
            "calsync_syncs", "Syncs by outcome and channel domain.", ["outcome", "tld"],
            registry=self.registry,
        )  # fmt: skip
        self.sync_duration = Histogram(
            "calsync_sync_duration_seconds", "Time from fetch to commit of one sync.", ["outcome"],
            buckets=_DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.feed_requests = Counter(
            "calsync_feed_requests", "Feed fetches by HTTP status ('none': no answer).", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.calendars_due = Gauge(
            "calsync_calendars_due", "Active calendars due for a sync and not leased.",
            registry=self.registry,
        )  # fmt: skip
        self.stale_feed_readers = Gauge(
            "calsync_stale_feed_readers",
            "Channels that read a product's feed and stopped (feeds.stale_reader_hours).",
            registry=self.registry,
        )
        self.conflicts = Gauge(
            "calsync_conflicts",
            "Double bookings from today on: runs of nights a product holds more than it can.",
            registry=self.registry,
        )
        self.last_success_age = Gauge(
            "calsync_last_successful_sync_age_seconds",
            "Age of the oldest last_synced among active calendars.",
            registry=self.registry,
        )

    def observe(self, result: SyncResult, tld: str) -> None:
        """Count one finished sync."""
        self.syncs.labels(outcome=result.outcome, tld=tld or "unknown").inc()
        self.sync_duration.labels(outcome=result.outcome).observe(result.duration_ms / 1000)
        self.feed_requests.labels(status=str(result.http_status or "none")).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
