"""Telling people what happened: the outbox delivered as webhooks and as alerts (DESIGN §12).

* :mod:`~calsync.notify.delivery`: :class:`Deliverer` claims due messages of the
  outbox into leases, sends webhooks (Standard Webhooks, through the SSRF-guarded
  fetcher) and alerts, and writes every attempt.
* :mod:`~calsync.notify.alerts`: operational events as Apprise messages for
  people, throttled into digests.

The events themselves are written by :mod:`calsync.services.journal` and
:mod:`calsync.services.issues`, in the transactions of what they tell.
"""

from calsync.notify.alerts import AlertSender
from calsync.notify.delivery import Attempt, Deliverer, send_test, signed_headers, webhook_body

__all__ = ["AlertSender", "Attempt", "Deliverer", "send_test", "signed_headers", "webhook_body"]
