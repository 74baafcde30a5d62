"""When a calendar is synced next: the interval, its jitter, and backoff after failures.

A small immutable policy with a pure :meth:`SyncSchedule.next_delay`, so the
sequence of delays is tested without sleeping (as urllib3's ``Retry`` is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class SyncSchedule:
    """The sync interval and the backoff policy of DESIGN §1 and issue 3."""

    interval: timedelta = timedelta(minutes=15)
    max_backoff: timedelta = timedelta(hours=6)
    jitter_fraction: float = 0.1

    def next_delay(
        self,
        *,
        failures: int,
        retry_after: timedelta | None = None,
        jitter: float = 0.5,
        retryable: bool = True,
    ) -> timedelta:
        """The wait before the next attempt.

        ``failures`` counts consecutive failures including this one (0 after a
        success). ``jitter`` is a number in [0, 1) chosen by the caller; it
        spreads successful calendars over ``interval ± jitter_fraction``. After a
        failure the delay never exceeds ``max_backoff``, whatever the interval and
        the count: the doubling is compared with the cap before it is computed, so
        it cannot overflow ``timedelta``. A failure that is not ``retryable`` (a
        404, a 403, a refused address: no retry passes until someone fixes
        something) waits ``max_backoff`` at once.
        """
        if failures <= 0:
            spread = self.jitter_fraction * (2 * jitter - 1)
            return self.interval * (1 + spread)
        if not retryable:
            return self.max_backoff
        if retry_after is not None:
            return min(max(retry_after, timedelta()), self.max_backoff)
        factor = 1 << min(failures - 1, 64)
        if self.interval > timedelta() and self.max_backoff // self.interval < factor:
            return self.max_backoff
        return min(self.interval * factor, self.max_backoff)
