"""How long failed logins lock a door: none at first, then a lockout that doubles, capped. Pure.

A :class:`Lockout` is a value, as urllib3's ``Retry`` is: the web interface keeps
one per kind of key (a user name from one address, an address) and asks it how
long to refuse attempts after ``n`` consecutive failures. The cap is what keeps an
attacker from locking a door for longer than a short while after they stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

_MAX_DOUBLINGS = 30  # 2**30 × a second is decades: past the cap of any sane setting


@dataclass(frozen=True, slots=True)
class Lockout:
    """``free_failures`` failures are free; then a lock of ``first``, doubling up to ``longest``."""

    free_failures: int
    first: timedelta
    longest: timedelta

    def after(self, failures: int) -> timedelta:
        """How long attempts wait after ``failures`` consecutive failures (zero: no wait)."""
        if failures < self.free_failures:
            return timedelta(0)
        doublings = min(failures - self.free_failures, _MAX_DOUBLINGS)
        return min(self.first * (1 << doublings), self.longest)
