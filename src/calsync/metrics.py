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
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from calsync.services.journal import emitted_events

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from calsync.notify import Attempt
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

        self.deliveries = Counter(
            "calsync_webhook_deliveries",
            "Delivery attempts by channel (webhook, alert) and outcome (success, failed).",
            ["channel", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.alerts_sent = Counter(
            "calsync_alerts_sent", "Alerts handed to the alerts.notify URLs.",
            registry=self.registry,
        )  # fmt: skip
        self.oldest_undelivered_age = Gauge(
            "calsync_oldest_undelivered_event_age_seconds",
            "Age of the oldest event still waiting for a delivery (0: none waits).",
            registry=self.registry,
        )
        self.registry.register(_EventsCollector(emitted_events.counts))

    def observe_delivery(self, attempt: Attempt) -> None:
        """Count one delivery attempt (and a sent alert)."""
        channel = "alert" if attempt.message.endpoint_id is None else "webhook"
        outcome = "success" if attempt.ok else "failed"
        self.deliveries.labels(channel=channel, outcome=outcome).inc()
        if channel == "alert" and attempt.ok:
            self.alerts_sent.inc()

    def observe(self, result: SyncResult, tld: str) -> None:
        """Count one finished sync."""
        self.syncs.labels(outcome=result.outcome, tld=tld or "unknown").inc()
        self.sync_duration.labels(outcome=result.outcome).observe(result.duration_ms / 1000)
        self.feed_requests.labels(status=str(result.http_status or "none")).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class _EventsCollector(Collector):
    """``calsync_events_total{type}``: the events this process wrote to the outbox."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        """The counts so far."""
        family = CounterMetricFamily(
            "calsync_events", "Events written to the outbox, by type.", labels=["type"]
        )
        for event_type, count in sorted(self._counts().items()):
            family.add_metric([event_type], count)
        yield family
