"""Resources as calsync shows them: the one serializer of the API and of the CLI's ``--json``.

A resource is a row's shown columns (every column of its table but the internal
ones in :data:`HIDDEN`: a calendar's sync state, a key's hash) with JSON values
(UUIDs as strings, instants in RFC 3339 UTC with ``Z``), and computed fields
(:data:`COMPUTED_SCHEMA`): a product's ``feed_url`` and ``stale_readers``, a
calendar's ``export_url`` and ``conflicts``. Internal fields never leave the
process.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from calsync.clock import utc_now
from calsync.core.feed_path import feed_path
from calsync.store.history import feed_readers
from calsync.store.products import feed_tokens

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy.orm import Session

    from calsync import reports
    from calsync.config import Settings
    from calsync.store.db import Store
    from calsync.store.models import Base, ExternalCalendar, Product, WebhookEndpoint

    Computed = Callable[[Sequence[Any]], Callable[[Any], dict[str, Any]]]
    """Given an answer's rows, a function of a row giving its computed fields."""

HIDDEN: Mapping[str, frozenset[str]] = {
    "external_calendars": frozenset(
        {"etag", "last_modified", "content_digest", "prodid", "lease_owner", "lease_expires_at"}
    ),
    "api_keys": frozenset({"hashed_secret"}),
    "webhook_endpoints": frozenset({"secret"}),
}
"""Internal columns, by table: never shown, never written."""

COMPUTED_SCHEMA: Mapping[str, Mapping[str, dict[str, Any]]] = {
    "external_calendars": {
        "export_url": {"type": "string", "format": "uri"},
        "conflicts": {"type": "array", "items": {"type": "object"}},
    },
    "products": {
        "feed_url": {"type": "string", "format": "uri"},
        "stale_readers": {"type": "array", "items": {"type": "string"}},
    },
    "webhook_endpoints": {
        "events": {"type": "array", "items": {"type": "string"}},
        "secret": {"type": "string"},
    },
}
"""The computed fields of each resource, with their JSON schema."""

_COMMON = ("id", "created_at", "updated_at")


REVEALED = "_calsync_revealed_secret"
"""The attribute of a just created webhook endpoint that holds its secret, shown this once."""


def shown_secret(endpoint: WebhookEndpoint) -> str:
    """An endpoint's secret in full right after it was created, then masked (``whsec_…abcd``)."""
    revealed: str | None = getattr(endpoint, REVEALED, None)
    return revealed if revealed is not None else f"whsec_…{endpoint.secret[-4:]}"


def _endpoint_fields(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint's events as a list, and its secret: in full once, at creation; then masked."""
    return {"events": json.loads(endpoint.events), "secret": shown_secret(endpoint)}


def shown_columns(model: type[Base]) -> tuple[str, ...]:
    """The shown columns of a table: ``id``, its own, then ``created_at`` and ``updated_at``."""
    hidden = HIDDEN.get(model.__tablename__, frozenset())
    own = [c.key for c in model.__table__.columns if c.key not in hidden]
    return ("id", *(name for name in own if name not in _COMMON), *_COMMON[1:])


def json_value(value: object) -> object:
    """A column value as JSON: UUIDs as strings, instants in RFC 3339 UTC with ``Z``."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def serialize(
    row: Base,
    columns: Sequence[str],
    extra: Callable[[Any], dict[str, Any]] | None = None,
    *,
    all_extra: bool = True,
) -> dict[str, Any]:
    """A row as a resource: the given shown columns, and its computed fields.

    ``all_extra`` adds every computed field; otherwise only those in ``columns``.
    """
    shown = set(shown_columns(type(row)))
    answer = {name: json_value(getattr(row, name)) for name in columns if name in shown}
    if extra is not None:
        answer |= {k: v for k, v in extra(row).items() if all_extra or k in columns}
    return answer


class Views:
    """The computed fields of resources, which need the store, the settings and the clock."""

    def __init__(
        self,
        store: Store,
        *,
        base_url: str,
        stale_after: timedelta,
        clock: Callable[[], datetime] = utc_now,
        conflicts: reports.ConflictCache | None = None,
    ) -> None:
        self._store = store
        self._base = base_url
        self._stale_after = stale_after
        self._clock = clock
        self._conflicts = conflicts

    def _calendar_conflicts(
        self, session: Session, calendars: Sequence[ExternalCalendar]
    ) -> dict[uuid.UUID, list[dict[str, Any]]]:
        """The conflicts each calendar takes part in (:func:`calsync.reports.calendar_conflicts`).

        The reports are imported here, when a calendar is shown: listing products
        (a command a cron job may run) never loads the availability machinery.
        """
        from calsync import reports  # noqa: PLC0415 - see the docstring

        if self._conflicts is None:
            self._conflicts = reports.ConflictCache()
        return reports.calendar_conflicts(
            session,
            [(calendar.id, calendar.product_id) for calendar in calendars],
            now=self._clock(),
            cache=self._conflicts,
        )

    @classmethod
    def of(
        cls,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        conflicts: reports.ConflictCache | None = None,
    ) -> Views:
        """The views of ``settings``: its public URL and stale-reader hours."""
        return cls(
            store,
            base_url=settings.server.base_url,
            stale_after=timedelta(hours=settings.feeds.stale_reader_hours),
            clock=clock,
            conflicts=conflicts,
        )

    def computed(self) -> dict[str, Computed]:
        """The computed fields by resource (see :data:`COMPUTED_SCHEMA`).

        Each answer gets functions made for its rows: the calendars of one answer
        share one query for their products' feed tokens and one look at the
        conflicts of those products, which the conflict cache keeps between answers.
        """
        return {
            "products": lambda _rows: self._product_fields,
            "external_calendars": self._calendar_fields,
            "webhook_endpoints": lambda _rows: _endpoint_fields,
        }

    def resources(self, rows: Sequence[Base]) -> list[dict[str, Any]]:
        """Rows of one table as resources: every shown column and every computed field."""
        if not rows:
            return []
        model = type(rows[0])
        factory = self.computed().get(model.__tablename__)
        extra = factory(rows) if factory is not None else None
        columns = shown_columns(model)
        return [serialize(row, columns, extra) for row in rows]

    def _product_fields(self, product: Product) -> dict[str, Any]:
        with self._store.read() as session:
            readers = feed_readers(session, product_id=product.id)
        now = self._clock()
        stale = [r.channel for r in readers if r.is_stale(now=now, after=self._stale_after)]
        return {"feed_url": self._base + feed_path(product.feed_token), "stale_readers": stale}

    def _calendar_fields(
        self, calendars: Sequence[ExternalCalendar]
    ) -> Callable[[ExternalCalendar], dict[str, Any]]:
        product_ids = list(dict.fromkeys(calendar.product_id for calendar in calendars))
        tokens: dict[uuid.UUID, str] = {}
        found: dict[uuid.UUID, list[dict[str, Any]]] = {}
        if product_ids:
            with self._store.read() as session:
                tokens = feed_tokens(session, product_ids)
                found = self._calendar_conflicts(session, calendars)

        def fields(calendar: ExternalCalendar) -> dict[str, Any]:
            return {
                "export_url": self._base
                + feed_path(tokens[calendar.product_id], exclude=calendar.id),
                "conflicts": found[calendar.id],
            }

        return fields
