"""Alerts for people: operational events as Apprise messages, throttled.

Each operational event is a change of state (a calendar turned failing, a
conflict appeared…), emitted once (:mod:`calsync.services.issues`), so each is
one message: which product and channel, what happened, since when, and what to
do. When more than ``alerts.digest_after`` (10) would go out within a minute,
they go as one digest instead, and the rest of that minute's wait for the next
digest, so a network outage does not send 500 e-mails.
Apprise sends in a worker thread: it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apprise

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

_WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for people: a title and a body."""

    title: str
    body: str


def _where(data: Mapping[str, Any]) -> str:
    product = data.get("product_name") or data.get("product_id") or "?"
    channel = data.get("tld") or data.get("channel")
    name = data.get("name")
    if channel and name and name != channel:
        return f"{product} / {name} ({channel})"
    return f"{product} / {channel}" if channel else str(product)


def describe(event_type: str, data: Mapping[str, Any]) -> Alert:  # noqa: PLR0911 - one per type
    """What the event says to a person: where, what happened, since when, what to do."""
    where, since = _where(data), data.get("since") or data.get("opened_at") or "?"
    calendar_id = data.get("id", "ID")
    show = f"`calsync calendars show {calendar_id}`"
    if event_type == "calendar.failing":
        return Alert(
            f"calsync: {where}: failing",
            f"{where}: {data.get('failures')} syncs in a row failed; no success since {since}. "
            f"Last error: {data.get('error')}. Bookings from this channel are not updated "
            f"until it syncs again. What to do: check the feed URL at the channel; {show}.",
        )
    if event_type == "calendar.recovered":
        return Alert(
            f"calsync: {where}: recovered",
            f"{where} syncs again, after {data.get('failures')} failures in a row since {since}. "
            "Nothing to do.",
        )
    if event_type == "calendar.held":
        return Alert(
            f"calsync: {where}: deletions held",
            f"{where}: the feed dropped {data.get('held_deletes')} bookings at once "
            f"({data.get('reason')}); their deletion is held since {since}. What to do: check "
            "the channel. If they are really cancelled, apply it now with "
            f"`calsync calendars release {calendar_id}`; otherwise the next fetch that "
            "confirms the absence applies it.",
        )
    if event_type == "calendar.stale":
        return Alert(
            f"calsync: {where}: stale",
            f"{where} has not synced successfully since {since}. What to do: check that "
            f"calsync runs and the calendar is active; {show}.",
        )
    if event_type == "feed.reader_stale":
        return Alert(
            f"calsync: {where}: stopped reading the feed",
            f"{where} has not read {data.get('product_name')}'s feed since {since}: it no "
            "longer learns of bookings made elsewhere. What to do: check the calendar import "
            "at that channel and paste the export URL again (`calsync calendars show ID`, "
            "`export_url`).",
        )
    if event_type == "conflict.detected":
        return Alert(
            f"calsync: {where}: double booking",
            f"{where} is booked {data.get('units_booked')} of {data.get('capacity')} from "
            f"{data.get('from')} to {data.get('until')} (found {since}). What to do: cancel one "
            "of the bookings at its channel; "
            f"`calsync conflicts --product {data.get('product_id')}`.",
        )
    if event_type == "conflict.resolved":
        return Alert(
            f"calsync: {where}: double booking resolved",
            f"The double booking of {where} from {data.get('from')} to {data.get('until')} "
            f"(found {since}) is over. Nothing to do.",
        )
    if event_type == "webhook_endpoint.disabled":
        return Alert(
            f"calsync: webhook {data.get('url')} disabled",
            f"The webhook endpoint {data.get('url')} failed every delivery since {since} and "
            "was disabled. What to do: fix the receiver, then make it active again "
            f"(PATCH /v1/webhook_endpoints?id=eq.{data.get('id')} with active true).",
        )
    return Alert(f"calsync: {event_type}", f"{where}: {event_type} since {since}.")


def digest(alerts: Sequence[Alert]) -> Alert:
    """Many alerts at once as one message: each title, then each body."""
    titles = "\n".join(f"- {alert.title}" for alert in alerts)
    bodies = "\n\n".join(alert.body for alert in alerts)
    return Alert(f"calsync: {len(alerts)} alerts", f"{titles}\n\n{bodies}")


class AlertSender:
    """Sends alerts to the ``alerts.notify`` Apprise URLs, as a digest when many come at once."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        digest_after: int = 10,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.urls = tuple(urls)
        self._digest_after = digest_after
        self._monotonic = monotonic
        self._sent: deque[float] = deque()

    def plan(self, alerts: Sequence[Alert]) -> list[Alert] | None:
        """The messages to send now for these alerts, or None: wait for the next minute.

        Up to ``digest_after`` messages a minute go one per alert; past that the
        alerts of a batch go as one digest, and once a digest went, the rest of
        the minute's alerts wait and go as one digest the next minute.
        """
        now = self._monotonic()
        while self._sent and now - self._sent[0] > _WINDOW_SECONDS:
            self._sent.popleft()
        if len(self._sent) + len(alerts) <= self._digest_after:
            self._sent.extend(now for _ in alerts)
            return list(alerts)
        if len(self._sent) > self._digest_after:
            return None
        self._sent.extend([now] * (self._digest_after + 1 - len(self._sent)))
        return [digest(alerts) if len(alerts) > 1 else alerts[0]]

    async def send(self, message: Alert) -> str | None:
        """Send one message to every URL in a thread; None, or why it failed."""
        return await asyncio.to_thread(self._send, message)

    def _send(self, message: Alert) -> str | None:
        notifier = apprise.Apprise()
        for url in self.urls:
            if not notifier.add(url):
                return "alerts.notify: an Apprise URL it cannot read (see the log)"
        if not notifier.notify(title=message.title, body=message.body):
            return "Apprise could not deliver to every alerts.notify URL"
        return None
