"""``calsync history``: the change journal, newest first: why a booking came, changed or went."""

from __future__ import annotations

import uuid  # noqa: TC003 - Typer reads annotations at run time
from typing import Annotated

import typer

from calsync.cli.output import JsonOption, context, print_resources
from calsync.services import history

COLUMNS = ("changed_at", "kind", "booking_id", "starts_at_before", "starts_at_after",
           "status_after", "sync_run_id", "actor")  # fmt: skip


def history_command(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    calendar: Annotated[
        uuid.UUID | None, typer.Option(help="Only bookings of this external calendar.")
    ] = None,
    booking: Annotated[uuid.UUID | None, typer.Option(help="Only this booking's.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many changes.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Booking changes, newest first, each with its cause (a sync run, or who wrote it)."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = history.changes(
                session, product_id=product, calendar_id=calendar, booking_id=booking,
                limit=limit,
            )  # fmt: skip
        print_resources(cli.views(store), rows, as_json=as_json, columns=COLUMNS)
