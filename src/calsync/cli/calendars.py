"""``calsync calendars``: add, list, show, change and remove channel feeds; release held ones."""

from __future__ import annotations

import uuid  # noqa: TC003 - Typer reads annotations at run time
from typing import Annotated

import typer

from calsync.cli.output import (
    JsonOption,
    cell,
    confirm_removal,
    context,
    print_json,
    print_resources,
    print_rows,
)
from calsync.core.blocks import TransparentEvents
from calsync.services import calendars

calendars_app = typer.Typer(no_args_is_help=True, help="External calendars: channel feeds.")

COLUMNS = ("id", "name", "tld", "active", "last_synced", "event_count", "error")
_RUN_COLUMNS = ("started_at", "outcome", "http_status", "inserted", "updated", "deleted",
                "held_deletes", "duration_ms", "error")  # fmt: skip
TransparentOption = Annotated[
    TransparentEvents | None,
    typer.Option(
        "--transparent-events",
        help="TRANSP:TRANSPARENT events block, or are skipped (default: sync.transparent_events).",
        show_default=False,
    ),
]


@calendars_app.command("add")
def calendars_add(
    ctx: typer.Context,
    product_id: uuid.UUID,
    url: str,
    name: Annotated[str | None, typer.Option(help="Defaults to the feed's domain.")] = None,
    time_offset: Annotated[int, typer.Option(help="Hours added to timed events.")] = 0,
    units: Annotated[int, typer.Option(help="Units each imported block takes.")] = 1,
    inactive: Annotated[bool, typer.Option("--inactive", help="Add without syncing.")] = False,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an external calendar (a channel's iCal export URL) to a product."""
    cli = context(ctx)
    with cli.store() as store:
        with store.write() as session:
            calendar = calendars.add(
                session, cli.write_context(), product_id=product_id, ical_url=url, name=name,
                active=not inactive, time_offset=time_offset,
                transparent_events=transparent_events, units=units,
            )  # fmt: skip
        print_resources(cli.views(store), [calendar], as_json=as_json, columns=COLUMNS)


@calendars_app.command("list")
def calendars_list(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List external calendars and their sync status."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = calendars.listed(session, product_id=product)
        print_resources(cli.views(store), rows, as_json=as_json, columns=COLUMNS)


@calendars_app.command("show")
def calendars_show(ctx: typer.Context, calendar_id: uuid.UUID, as_json: JsonOption = False) -> None:
    """Show a calendar's status and its last 10 sync runs."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            calendar = calendars.get(session, calendar_id)
            runs = calendars.recent_runs(session, calendar_id)
        views = cli.views(store)
        [shown] = views.resources([calendar])
        run_rows = views.resources(runs)
    if as_json:
        print_json({**shown, "sync_runs": run_rows})
        return
    for name, value in shown.items():
        if name != "conflicts":
            typer.echo(f"{name:>18}: {cell(value)}")
    for conflict in shown["conflicts"]:
        typer.echo(
            f"{'CONFLICT':>18}: {conflict['from']} to {conflict['until']}: "
            f"{conflict['units_booked']} booked of {conflict['capacity']} "
            f"(see `calsync conflicts --product {conflict['product_id']}`)"
        )
    typer.echo("\nlast sync runs:")
    print_rows(run_rows, as_json=False, columns=_RUN_COLUMNS)


@calendars_app.command("update")
def calendars_update(
    ctx: typer.Context,
    calendar_id: uuid.UUID,
    url: Annotated[str | None, typer.Option(help="A new feed URL: synced at once.")] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    time_offset: Annotated[int | None, typer.Option(help="Hours added to timed events.")] = None,
    units: Annotated[int | None, typer.Option(help="Units each imported block takes.")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Sync it, or stop syncing it.")
    ] = None,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a calendar's URL, name, time offset, units, activity or transparent events."""
    cli = context(ctx)
    given = {"ical_url": url, "name": name, "time_offset": time_offset, "units": units,
             "active": active, "transparent_events": transparent_events}  # fmt: skip
    changes = calendars.CalendarChanges(**{k: v for k, v in given.items() if v is not None})  # type: ignore[typeddict-item]
    with cli.store() as store:
        with store.write() as session:
            calendar = calendars.get(session, calendar_id)
            calendars.update(session, cli.write_context(), [calendar], changes)
        print_resources(cli.views(store), [calendar], as_json=as_json, columns=COLUMNS)


@calendars_app.command("remove")
def calendars_remove(
    ctx: typer.Context,
    calendar_id: uuid.UUID,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
) -> None:
    """Remove a calendar and the bookings imported from it (asks first, saying how many)."""
    cli = context(ctx)
    with cli.store() as store:
        if not yes:
            with store.read() as session:
                calendar = calendars.get(session, calendar_id)
                channel = f" ({calendar.tld})" if calendar.tld else ""
                question = (
                    f"Removing calendar {calendar.name!r}{channel} and its "
                    f"{_bookings(calendars.imported_count(session, calendar_id))}. Continue?"
                )
            confirm_removal(question)
        with store.write() as session:
            calendar = calendars.get(session, calendar_id)
            deleted = calendars.remove(session, cli.write_context(), [calendar])[calendar_id]
    typer.echo(f"removed {calendar_id} and its {_bookings(deleted)}")


def _bookings(count: int) -> str:
    return f"{count} imported booking{'' if count == 1 else 's'}"


@calendars_app.command("release")
def calendars_release(ctx: typer.Context, calendar_id: uuid.UUID) -> None:
    """Apply a calendar's held deletions now (see the deletion guard in the README)."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        released, _ = calendars.release(session, cli.write_context(), calendar_id)
    typer.echo(f"deleted {released} held bookings of {calendar_id}")
