"""Delivering the outbox: webhooks as Standard Webhooks, alerts through Apprise, leased like syncs.

Every ``alerts.delivery_tick_seconds`` the :class:`Deliverer` claims due
messages into a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so each goes
out from one replica at a time), sends them, and writes each attempt
(``webhook_deliveries``: status, duration, response code, error) and the
message's new state in one transaction. A webhook is the JSON body ``{type,
timestamp, data}`` signed with the endpoint's secret by the ``standardwebhooks``
package; its ``webhook-id`` is the event's id, so a repeat (a crash between the
send and the commit) carries the same id. It is POSTed through the fetcher, so
the SSRF guard and the ``fetch.*`` allow settings apply as for feeds. An answer
in 2xx delivers it; anything else is retried with exponential backoff (from
``alerts.retry_first_seconds``, at most 6 h apart) for ``alerts.retry_for_hours``
(72), then given up. An endpoint whose deliveries have failed for
``alerts.disable_after_days`` is disabled, which is an alert.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from standardwebhooks.webhooks import Webhook

from calsync.clock import utc_now
from calsync.core.schedule import SyncSchedule
from calsync.errors import CalsyncError, FetchError
from calsync.leases import owner_is_gone
from calsync.notify.alerts import AlertSender, describe
from calsync.services import webhooks
from calsync.services.context import iso
from calsync.services.journal import emit
from calsync.store import journal as stored_journal
from calsync.store import webhooks as store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from calsync.config import Settings
    from calsync.fetch import FeedFetcher
    from calsync.services.context import WriteContext
    from calsync.store.db import Store
    from calsync.store.models import WebhookEndpoint

log = structlog.get_logger("calsync.notify")
_BATCH = 64
_MAX_RETRY_INTERVAL = timedelta(hours=6)
_ERROR_CHARS = 500
_SUCCESS = range(200, 300)


@dataclass(frozen=True, slots=True)
class Attempt:
    """How sending one message went."""

    message: store.Claimed
    ok: bool
    response_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    deferred: bool = False
    """An alert held back by the throttle: not an attempt, sent later."""
    skipped: bool = False
    """An alert with nobody to tell (``alerts.notify`` is empty): not an attempt."""


def webhook_body(event_type: str, occurred_at: datetime, data: str) -> str:
    """The JSON body of a webhook: ``{type, timestamp, data}``."""
    return json.dumps(
        {"type": event_type, "timestamp": iso(occurred_at), "data": json.loads(data)},
        separators=(",", ":"),
    )


def signed_headers(secret: str, event_id: uuid.UUID, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers of a body sent at ``at``; ``webhook-id`` is the event id."""
    signature = Webhook(secret).sign(msg_id=str(event_id), timestamp=at, data=body)
    return {
        "webhook-id": str(event_id),
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class Deliverer:
    """Claims due messages of the outbox, sends them, and writes how it went."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        fetcher: FeedFetcher,
        *,
        owner: str,
        clock: Callable[[], datetime] = utc_now,
        alerts: AlertSender | None = None,
        observe: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.owner = owner
        self._store = store
        self._settings = settings
        self._fetcher = fetcher
        self._clock = clock
        self._alerts = alerts or AlertSender(
            settings.alerts.notify, digest_after=settings.alerts.digest_after
        )
        self._observe = observe
        self._lease = timedelta(seconds=settings.sync.lease_seconds)
        self._retry = SyncSchedule(
            interval=timedelta(seconds=settings.alerts.retry_first_seconds),
            max_backoff=_MAX_RETRY_INTERVAL,
        )

    async def deliver_due(self, *, event_id: uuid.UUID | None = None) -> list[Attempt]:
        """Claim the due messages (of one event only, if given), send them, record the outcomes."""
        now = self._clock()

        def claim() -> list[store.Claimed]:
            with self._store.read() as session:  # most ticks find nothing: no write lock for them
                due = store.next_due_at(session)
            if due is None or due > now:
                return []
            with self._store.write() as session:
                gone = {o for o in store.message_owners(session, now=now) if owner_is_gone(o)}
                return store.claim_messages(
                    session, owner=self.owner, now=now, lease_until=now + self._lease,
                    limit=_BATCH, gone_owners=gone - {self.owner}, event_id=event_id,
                )  # fmt: skip

        claimed = await asyncio.to_thread(claim)
        if not claimed:
            return []
        hooks = [message for message in claimed if message.endpoint_id is not None]
        alerts = [message for message in claimed if message.endpoint_id is None]
        attempts = list(await asyncio.gather(*(self._send_webhook(m) for m in hooks)))
        attempts.extend(await self._send_alerts(alerts))
        await asyncio.to_thread(self._record, attempts)
        for attempt in attempts:
            if self._observe is not None and not (attempt.deferred or attempt.skipped):
                self._observe(attempt)
        return attempts

    async def _send_webhook(self, message: store.Claimed) -> Attempt:
        assert message.url is not None  # noqa: S101 - claimed with its endpoint
        assert message.secret is not None  # noqa: S101
        body = webhook_body(message.event_type, message.occurred_at, message.data)
        # The signature's time is the wall clock: receivers check it against theirs.
        headers = signed_headers(message.secret, message.event_id, body, utc_now())
        started = time.monotonic()
        try:
            status = await self._fetcher.post(message.url, body.encode(), headers)
        except FetchError as exc:
            return Attempt(message, ok=False, error=str(exc)[:_ERROR_CHARS],
                           duration_ms=_since(started))  # fmt: skip
        ok = status in _SUCCESS
        error = None if ok else f"HTTP {status}"
        return Attempt(message, ok=ok, response_code=status, error=error,
                       duration_ms=_since(started))  # fmt: skip

    async def _send_alerts(self, messages: Sequence[store.Claimed]) -> list[Attempt]:
        if not messages:
            return []
        if not self._alerts.urls:
            return [Attempt(m, ok=True, skipped=True) for m in messages]
        planned = self._alerts.plan([describe(m.event_type, json.loads(m.data)) for m in messages])
        if planned is None:
            return [Attempt(m, ok=False, deferred=True) for m in messages]
        started = time.monotonic()
        errors = [await self._alerts.send(alert) for alert in planned]
        error = next((e for e in errors if e is not None), None)
        for alert in planned:
            log.info("alert.sent" if error is None else "alert.failed", title=alert.title,
                     error=error)  # fmt: skip
        return [
            Attempt(m, ok=error is None, error=error, duration_ms=_since(started)) for m in messages
        ]

    def _record(self, attempts: Sequence[Attempt]) -> None:
        """Each attempt, each message's new state and each endpoint's health, in one transaction."""
        now = self._clock()
        give_up = timedelta(hours=self._settings.alerts.retry_for_hours)
        with self._store.write() as session:
            rows: list[dict[str, object]] = []
            for attempt in attempts:
                message = attempt.message
                tries = message.attempts + (0 if attempt.deferred or attempt.skipped else 1)
                if attempt.skipped:
                    state, next_at = "skipped", now
                elif attempt.ok:
                    state, next_at = "delivered", now
                elif attempt.deferred:
                    state, next_at = "pending", now + timedelta(minutes=1)
                elif now - message.event_created_at >= give_up:
                    state, next_at = "failed", now
                else:
                    state, next_at = "pending", now + self._retry.next_delay(failures=tries)
                store.finish_message(
                    session, message.message_id, owner=self.owner, state=state, attempts=tries,
                    next_attempt_at=next_at, now=now,
                )  # fmt: skip
                if attempt.deferred or attempt.skipped:
                    continue
                if message.endpoint_id is not None and not self._note_health(
                    session, message.endpoint_id, ok=attempt.ok, now=now
                ):
                    continue  # the endpoint was removed meanwhile, with its deliveries
                rows.append(_attempt_row(attempt, tries, now))
            store.add_attempts(session, rows)
        for attempt in attempts:
            if not attempt.ok and not attempt.deferred:  # deferred and skipped ones are ok
                log.warning(
                    "webhook.failed", event_id=str(attempt.message.event_id),
                    endpoint_id=str(attempt.message.endpoint_id or ""), error=attempt.error,
                )  # fmt: skip

    def _note_health(
        self, session: Session, endpoint_id: uuid.UUID, *, ok: bool, now: datetime
    ) -> bool:
        """Note the endpoint's answer; False when it no longer exists.

        An endpoint failing for ``alerts.disable_after_days`` is disabled, with an alert.
        """
        endpoint = store.endpoint_answered(session, endpoint_id, ok=ok, now=now)
        if endpoint is None:
            return False
        disable_after = timedelta(days=self._settings.alerts.disable_after_days)
        failing = endpoint.failing_since
        if endpoint.active and failing is not None and now - failing >= disable_after:
            _disable(session, endpoint, now=now)
        return True

    async def oldest_pending_age(self) -> float:
        """Seconds since the oldest event still waiting for a delivery was written (0: none)."""

        def read() -> datetime | None:
            with self._store.read() as session:
                return stored_journal.oldest_pending_at(session)

        oldest = await asyncio.to_thread(read)
        return max(0.0, (self._clock() - oldest).total_seconds()) if oldest else 0.0

    async def release_leases(self) -> int:
        """Give up every message lease of this owner (shutting down)."""

        def release() -> int:
            with self._store.write() as session:
                return store.release_messages(session, self.owner)

        try:
            return await asyncio.to_thread(release)
        except CalsyncError as exc:
            log.warning("webhook.release_failed", error=str(exc))
            return 0


async def send_test(
    store: Store,
    settings: Settings,
    fetcher: FeedFetcher,
    endpoint_id: uuid.UUID,
    ctx: WriteContext,
    *,
    owner: str,
) -> tuple[uuid.UUID, list[Attempt]]:
    """Send a ``test`` event to one endpoint now (``webhooks test``, the web UI): id, attempts.

    No attempt when the endpoint is inactive: the event waits, as any other would.
    """

    def queue() -> uuid.UUID:
        with store.write() as session:
            return webhooks.queue_test(session, ctx, endpoint_id)

    event_id = await asyncio.to_thread(queue)
    deliverer = Deliverer(store, settings, fetcher, owner=owner, clock=lambda: ctx.now)
    return event_id, await deliverer.deliver_due(event_id=event_id)


def _disable(session: Session, endpoint: WebhookEndpoint, *, now: datetime) -> None:
    since = endpoint.failing_since or now
    endpoint.active = False
    endpoint.disabled_reason = f"every delivery failed since {iso(since)}"
    endpoint.updated_at = now
    data: dict[str, Any] = {
        "id": str(endpoint.id), "url": endpoint.url, "description": endpoint.description,
        "since": iso(since), "reason": endpoint.disabled_reason,
    }  # fmt: skip
    emit(session, [("webhook_endpoint.disabled", data)], now=now)
    log.warning("webhook.endpoint_disabled", endpoint_id=str(endpoint.id), since=iso(since))


def _attempt_row(attempt: Attempt, tries: int, now: datetime) -> dict[str, object]:
    message = attempt.message
    return {
        "id": uuid.uuid4(), "endpoint_id": message.endpoint_id, "event_id": message.event_id,
        "event_type": message.event_type, "attempt": tries,
        "status": "success" if attempt.ok else "failed", "response_code": attempt.response_code,
        "duration_ms": attempt.duration_ms, "error": attempt.error, "attempted_at": now,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
