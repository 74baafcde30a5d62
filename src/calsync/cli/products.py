"""``calsync products``: add, list, change, remove and link products; their feed and readers."""

from __future__ import annotations

import sys
import uuid  # noqa: TC003 - Typer reads annotations at run time
from datetime import timedelta
from typing import Annotated

import typer

from calsync.cli.output import JsonOption, context, print_resources, print_rows
from calsync.clock import utc_now
from calsync.services import calendars, links, products
from calsync.services.views import json_value

products_app = typer.Typer(no_args_is_help=True, help="Products: the things you rent out.")

COLUMNS = ("id", "name", "timezone", "capacity", "feed_url")
_READER_COLUMNS = ("channel", "external_calendar_id", "last_read_at", "reads", "stale")


@products_app.command("add")
def products_add(
    ctx: typer.Context,
    name: str,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone.")] = None,
    capacity: Annotated[int, typer.Option(help="Units that can be booked at once.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Add a product."""
    cli = context(ctx)
    with cli.store() as store:
        with store.write() as session:
            product = products.add(
                session, cli.write_context(), name=name, timezone=timezone, capacity=capacity
            )
        print_resources(cli.views(store), [product], as_json=as_json, columns=COLUMNS)


@products_app.command("list")
def products_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List products."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = products.listed(session)
        print_resources(cli.views(store), rows, as_json=as_json, columns=COLUMNS)


@products_app.command("update")
def products_update(
    ctx: typer.Context,
    product_id: uuid.UUID,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA timezone.")] = None,
    capacity: Annotated[int | None, typer.Option(help="Units that can be booked at once.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a product's name, timezone or capacity (the API's PATCH)."""
    cli = context(ctx)
    changes = products.ProductChanges()
    if name is not None:
        changes["name"] = name
    if timezone is not None:
        changes["timezone"] = timezone
    if capacity is not None:
        changes["capacity"] = capacity
    with cli.store() as store:
        with store.write() as session:
            product = products.get(session, product_id)
            products.update(session, cli.write_context(), [product], changes)
        print_resources(cli.views(store), [product], as_json=as_json, columns=COLUMNS)


@products_app.command("remove")
def products_remove(
    ctx: typer.Context,
    product_id: uuid.UUID,
    force: Annotated[
        bool, typer.Option("--force", help="Remove it with its calendars and bookings.")
    ] = False,
) -> None:
    """Remove a product; refused while it has calendars or bookings, unless --force."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        product = products.get(session, product_id)
        removed = products.remove(session, cli.write_context(), [product], force=force)
    typer.echo(f"removed {product_id} with {removed}")


@products_app.command("link")
def products_link(ctx: typer.Context, accumulator_id: uuid.UUID, element_id: uuid.UUID) -> None:
    """Make ELEMENT a part of ACCUMULATOR (a room of the house): each blocks the other."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        links.link(session, cli.write_context(), accumulator_id, element_id)
    typer.echo(f"linked: {element_id} is an element of {accumulator_id}")


@products_app.command("unlink")
def products_unlink(ctx: typer.Context, accumulator_id: uuid.UUID, element_id: uuid.UUID) -> None:
    """Remove the link between ACCUMULATOR and ELEMENT."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        links.unlink(session, cli.write_context(), accumulator_id, element_id)
    typer.echo(f"unlinked: {element_id} is no longer an element of {accumulator_id}")


@products_app.command("rotate-token")
def products_rotate_token(ctx: typer.Context, product_id: uuid.UUID) -> None:
    """Give a product a new feed URL; the old one (and its export URLs) answer 404 from now on."""
    cli = context(ctx)
    with cli.store() as store:
        with store.write() as session:
            product = products.rotate_feed_token(session, cli.write_context(), product_id)
        [row] = cli.views(store).resources([product])
    typer.echo(f"new feed URL: {row['feed_url']}")
    typer.echo("Paste the new export URLs into every channel: the old ones no longer work.")


@products_app.command("readers")
def products_readers(
    ctx: typer.Context, product_id: uuid.UUID, as_json: JsonOption = False
) -> None:
    """Who reads the product's feed: channel, export URL, last read; stale ones are marked."""
    cli = context(ctx)
    now = utc_now()
    after = timedelta(hours=cli.settings.feeds.stale_reader_hours)
    with cli.store() as store, store.read() as session:
        rows = [
            {
                "channel": reader.channel,
                "external_calendar_id": json_value(reader.external_calendar_id),
                "last_read_at": json_value(reader.last_read_at),
                "reads": reader.reads,
                "stale": reader.is_stale(now=now, after=after),
            }
            for reader in products.readers(session, product_id)
        ]
    print_rows(rows, as_json=as_json, columns=_READER_COLUMNS)
    if not as_json and any(row["stale"] for row in rows):
        typer.echo(
            "A stale channel has stopped reading this feed: it no longer sees new bookings. "
            "Check the export URL in that channel.",
            err=True,
        )


def feed_command(
    ctx: typer.Context,
    product_id: uuid.UUID,
    exclude: Annotated[
        uuid.UUID | None, typer.Option(help="Leave out this calendar's imports.")
    ] = None,
) -> None:
    """Print a product's outbound feed: the same bytes its feed URL serves."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            products.get(session, product_id)
            if exclude is not None and calendars.get(session, exclude).product_id != product_id:
                msg = f"calendar {exclude} does not belong to product {product_id}"
                raise typer.BadParameter(msg)
        from calsync.feeds import FeedService  # noqa: PLC0415 - icalendar only for this command

        body = FeedService(store, cli.settings.feeds).feed_of_product(product_id, exclude)
    sys.stdout.buffer.write(body)
