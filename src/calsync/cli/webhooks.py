"""``calsync webhooks``: add, list and remove endpoints, send a test event, show deliveries."""

from __future__ import annotations

import asyncio
import time
import uuid  # noqa: TC003 - Typer reads annotations at run time
from typing import TYPE_CHECKING, Annotated

import typer

from calsync.cli.output import JsonOption, context, print_resources
from calsync.fetch import FeedFetcher
from calsync.leases import cli_owner
from calsync.notify import send_test
from calsync.services import webhooks
from calsync.services.journal import EVENT_TYPES

if TYPE_CHECKING:
    from calsync.config import Settings
    from calsync.notify import Attempt
    from calsync.services.context import WriteContext
    from calsync.store.db import Store

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints: where events go.")

COLUMNS = ("id", "url", "events", "active", "failing_since", "description")
_POLL_SECONDS = 0.25
_SETTLE_SECONDS = 5.0
_ADDED = ("id", "url", "events", "secret")
_DELIVERY_COLUMNS = ("attempted_at", "event_type", "attempt", "status", "response_code",
                     "duration_ms", "error")  # fmt: skip


@webhooks_app.command("add")
def webhooks_add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where events are POSTed (http or https).")],
    events: Annotated[
        list[str] | None,
        typer.Option(
            "--events", help=f"An event type to send (repeat; none: all): {', '.join(EVENT_TYPES)}."
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is, for you.")] = "",
    secret: Annotated[
        str | None, typer.Option(help="A whsec_… secret (default: one is generated).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add an endpoint; its secret is printed this once (verify signatures with it)."""
    cli = context(ctx)
    with cli.store() as store:
        with store.write() as session:
            endpoint = webhooks.add(
                session, cli.write_context(), url=url, events=events or [], secret=secret,
                description=description,
            )  # fmt: skip
        print_resources(cli.views(store), [endpoint], as_json=as_json, columns=_ADDED)
    typer.echo("The secret is shown this once: keep it to verify the signatures.", err=True)


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List endpoints (secrets masked)."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = webhooks.listed(session)
        print_resources(cli.views(store), rows, as_json=as_json, columns=COLUMNS)


@webhooks_app.command("remove")
def webhooks_remove(ctx: typer.Context, endpoint_id: uuid.UUID) -> None:
    """Remove an endpoint, with its pending events and its deliveries."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        webhooks.remove(session, cli.write_context(), [webhooks.get(session, endpoint_id)])
    typer.echo(f"removed {endpoint_id}")


@webhooks_app.command("test")
def webhooks_test(ctx: typer.Context, endpoint_id: uuid.UUID) -> None:
    """Send a ``test`` event to an endpoint now; exit 1 if it did not answer 2xx."""
    cli = context(ctx)
    with cli.store() as store:
        event_id, attempts = asyncio.run(
            _send(store, cli.settings, endpoint_id, cli.write_context())
        )
        outcomes = [(a.ok, a.response_code, a.duration_ms, a.error) for a in attempts]
        if not attempts:
            outcomes = _sent_elsewhere(store, cli.settings, endpoint_id, event_id)
    for ok, code, duration_ms, error in outcomes:
        typer.echo(f"test event {event_id}: {'delivered' if ok else 'failed'} "
                   f"(HTTP {code or '-'}, {duration_ms} ms)"
                   + (f" error: {error}" if error else ""))  # fmt: skip
    if not outcomes or not all(ok for ok, *_ in outcomes):
        raise typer.Exit(1)


def _sent_elsewhere(
    store: Store, settings: Settings, endpoint_id: uuid.UUID, event_id: uuid.UUID
) -> list[tuple[bool, int | None, int, str | None]]:
    """The outcome of a test event this command did not send itself.

    A switched-off endpoint gets nothing (the event waits). Otherwise a running
    calsync's delivery loop took the event first: its attempt is waited for, at
    most a fetch's time.
    """
    deadline = time.monotonic() + settings.fetch.timeout_seconds + _SETTLE_SECONDS
    while True:
        with store.read() as session:
            if not webhooks.get(session, endpoint_id).active:
                typer.echo(f"test event {event_id} queued: the endpoint is switched off", err=True)
                return []
            found = webhooks.delivery_of_event(session, endpoint_id, event_id)
            if found is not None:
                ok = found.status == "success"
                return [(ok, found.response_code, found.duration_ms, found.error)]
        if time.monotonic() > deadline:
            typer.echo(
                f"test event {event_id} queued: a running calsync is sending it; "
                f"see `calsync webhooks deliveries {endpoint_id}`",
                err=True,
            )
            return []
        time.sleep(_POLL_SECONDS)


async def _send(
    store: Store, settings: Settings, endpoint_id: uuid.UUID, ctx: WriteContext
) -> tuple[uuid.UUID, list[Attempt]]:
    async with FeedFetcher(settings.fetch) as fetcher:
        return await send_test(store, settings, fetcher, endpoint_id, ctx, owner=cli_owner())


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    ctx: typer.Context,
    endpoint_id: uuid.UUID,
    limit: Annotated[int, typer.Option(min=1, help="At most this many attempts.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """An endpoint's newest delivery attempts: status, response code, duration, error."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = webhooks.recent_deliveries(session, endpoint_id, limit=limit)
        print_resources(cli.views(store), rows, as_json=as_json, columns=_DELIVERY_COLUMNS)
