"""``calsync bookings`` (list, add, cancel), ``calsync availability`` and ``calsync conflicts``."""

from __future__ import annotations

import uuid  # noqa: TC003 - Typer reads annotations at run time
from datetime import UTC, date, datetime
from typing import Annotated

import typer

from calsync import reports
from calsync.cli.output import JsonOption, context, print_json, print_resources, print_rows
from calsync.clock import utc_now
from calsync.services import bookings

bookings_app = typer.Typer(no_args_is_help=True, help="Bookings: occupied intervals.")

COLUMNS = ("starts_at", "ends_at", "all_day", "status", "summary", "external_calendar_id")
_ADDED_COLUMNS = (
    "id", "starts_at", "ends_at", "all_day", "units", "status", "summary", "reference", "customer",
)  # fmt: skip


@bookings_app.command("list")
def bookings_list(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List bookings by start."""
    cli = context(ctx)
    with cli.store() as store:
        with store.read() as session:
            rows = bookings.listed(session, product_id=product)
        print_resources(cli.views(store), rows, as_json=as_json, columns=COLUMNS)


@bookings_app.command("add")
def bookings_add(
    ctx: typer.Context,
    product_id: uuid.UUID,
    first: Annotated[
        str, typer.Option("--from", help="Check-in: a date (all-day) or an ISO 8601 instant.")
    ],
    until: Annotated[
        str, typer.Option("--until", help="Check-out: a date (all-day) or an ISO 8601 instant.")
    ],
    units: Annotated[int, typer.Option(help="Units of the product it takes.")] = 1,
    summary: Annotated[str, typer.Option(help="What it is, for you (never exported).")] = "",
    reference: Annotated[
        str | None,
        typer.Option(help="The booking platform's booking number (unique per product)."),
    ] = None,
    customer: Annotated[str, typer.Option(help="Who booked (never exported).")] = "",
    notes: Annotated[
        str, typer.Option(help="An internal note; may break lines (never exported).")
    ] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Book even when a capacity would be exceeded.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Book a product directly; refused (exit 1) when the nights are not available.

    A reference another booking of the product has is refused (exit 1) naming it.
    """
    cli = context(ctx)
    starts_at, all_day = _moment("--from", first)
    ends_at, all_day_until = _moment("--until", until)
    if all_day_until != all_day:
        msg = "--from and --until are both dates (all-day) or both instants"
        raise typer.BadParameter(msg)
    new = bookings.NewBooking(
        product_id, starts_at, ends_at, all_day, summary, units,
        reference=reference, customer=customer, notes=notes,
    )  # fmt: skip
    with cli.store() as store:
        with store.write() as session:
            made = bookings.add(session, cli.write_context(force=force), [new])
        print_resources(cli.views(store), made, as_json=as_json, columns=_ADDED_COLUMNS)


@bookings_app.command("cancel")
def bookings_cancel(ctx: typer.Context, booking_id: uuid.UUID) -> None:
    """Cancel a direct booking: it frees its nights (imported ones change through their feed)."""
    cli = context(ctx)
    with cli.store() as store, store.write() as session:
        bookings.cancel(session, cli.write_context(), booking_id)
    typer.echo(f"cancelled {booking_id}")


def _moment(option: str, text: str) -> tuple[datetime, bool]:
    """A date (midnight UTC, all-day) or an ISO 8601 instant with its offset (timed)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return bookings.day_start(day), True
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        msg = f"{option}: not a date (YYYY-MM-DD) or an instant with its offset: {text!r}"
        raise typer.BadParameter(msg)
    return moment.astimezone(UTC), False


def availability_command(
    ctx: typer.Context,
    product_id: uuid.UUID,
    first: Annotated[str, typer.Option("--from", help="First night, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Night after the last, YYYY-MM-DD.")],
    as_json: JsonOption = False,
) -> None:
    """Per night: units booked, capacity, available, and the bookings that cause it."""
    cli = context(ctx)
    start, end = _parse_date("--from", first), _parse_date("--until", until)
    with cli.store() as store, store.read() as session:
        rows = reports.availability(session, product_id, start, end)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        row["booked"] = f"{row['units_booked']}/{row['capacity']}"
        row["by"] = ", ".join(b["id"][:8] for b in row["bookings"])
    print_rows(rows, as_json=False, columns=("date", "available", "booked", "by"))


def conflicts_command(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Double bookings that arrived from channels anyway (from today on); exit 1 if any."""
    cli = context(ctx)
    with cli.store() as store, store.read() as session:
        rows = reports.conflicts(session, now=utc_now(), product_id=product)
    if as_json:
        print_json(rows)
    elif rows:
        for row in rows:
            row["booked"] = f"{row['units_booked']}/{row['capacity']}"
            row["calendars"] = ", ".join(
                str(b["external_calendar_id"] or "direct")[:8] for b in row["bookings"]
            )
        print_rows(
            rows, as_json=False, columns=("product_id", "from", "until", "booked", "calendars")
        )
    else:
        typer.echo("no conflicts")
    if rows:
        raise typer.Exit(1)


def _parse_date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        msg = f"{option}: not a date (YYYY-MM-DD): {text!r}"
        raise typer.BadParameter(msg) from exc
