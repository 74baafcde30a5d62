"""The ``calsync`` command: products, calendars, one-shot sync, bookings, preview, database.

Errors are presented in one place, :func:`main`: one line on stderr and an exit
code (2 for configuration and usage errors, 1 for everything else).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Iterator, Sequence  # noqa: TC003 - Typer reads annotations at run time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from sqlalchemy.orm import (
    DeclarativeBase,  # noqa: TC002 - used at run time by resource()
    Session,  # noqa: TC002
)

from calsync import __version__, reports
from calsync.cli_keys import apikey_app
from calsync.cli_users import users_app
from calsync.config import Settings, load_settings
from calsync.core.feed_url import feed_url_problem
from calsync.core.ical_in import ParsedFeed, TransparentEvents, parse_feed
from calsync.core.redact import redact_url
from calsync.core.text import check_plain_text
from calsync.errors import CalsyncError, ConfigError, InvalidFeed
from calsync.feeds import FeedService, feed_path
from calsync.fetch import FeedFetcher
from calsync.leases import cli_owner, owner_is_gone
from calsync.logging import configure_logging
from calsync.store import repo
from calsync.store.db import Store
from calsync.store.models import ExternalCalendar, Product, utc_now
from calsync.sync import SyncResult, parse_options, sync_calendar

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n")[0])
products_app = typer.Typer(no_args_is_help=True, help="Products: the things you rent out.")
calendars_app = typer.Typer(no_args_is_help=True, help="External calendars: channel feeds.")
bookings_app = typer.Typer(no_args_is_help=True, help="Bookings: occupied intervals.")
db_app = typer.Typer(no_args_is_help=True, help="The database.")
app.add_typer(products_app, name="products")
app.add_typer(calendars_app, name="calendars")
app.add_typer(bookings_app, name="bookings")
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
app.add_typer(users_app, name="users")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TransparentOption = Annotated[
    TransparentEvents | None,
    typer.Option(
        "--transparent-events",
        help="TRANSP:TRANSPARENT events block, or are skipped (default: sync.transparent_events).",
        show_default=False,
    ),
]


@dataclass
class _Context:
    settings: Settings

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = Store.connect(self.settings.database)
        try:
            if self.settings.database.auto_migrate:
                store.upgrade()
            yield store
        finally:
            store.close()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"calsync {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (TOML).")
    ] = None,
    _: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """calsync: iCal channel sync. No double bookings, no lost bookings."""
    settings = load_settings(config)
    configure_logging(settings.logging)
    ctx.obj = _Context(settings)


# --- products --------------------------------------------------------------------------


def _plain_text(text: str | None) -> str | None:
    """A name given on the command line: no control characters (a usage error, exit 2)."""
    if text is not None:
        try:
            check_plain_text(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return text


@products_app.command("add")
def products_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(callback=_plain_text)],
    timezone: Annotated[str | None, typer.Option(help="IANA timezone.")] = None,
    capacity: Annotated[int, typer.Option(min=1, help="Units that can be booked at once.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Add a product."""
    context: _Context = ctx.obj
    zone = _check_timezone(timezone or context.settings.products.default_timezone)
    with context.store() as store, store.write() as session:
        product = repo.add_product(
            session, name=name, timezone=zone, capacity=capacity, now=utc_now()
        )
        row = product_resource(product, context.settings)
    _print_rows([row], as_json=as_json, columns=_PRODUCT_COLUMNS)


@products_app.command("list")
def products_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List products."""
    context: _Context = ctx.obj
    with context.store() as store, store.read() as session:
        rows = [product_resource(p, context.settings) for p in repo.list_products(session)]
    _print_rows(rows, as_json=as_json, columns=_PRODUCT_COLUMNS)


@products_app.command("link")
def products_link(ctx: typer.Context, accumulator_id: uuid.UUID, element_id: uuid.UUID) -> None:
    """Make ELEMENT a part of ACCUMULATOR (a room of the house): each blocks the other."""
    context: _Context = ctx.obj
    with context.store() as store, store.write() as session:
        repo.link_products(session, accumulator_id, element_id, now=utc_now())
    typer.echo(f"linked: {element_id} is an element of {accumulator_id}")


@products_app.command("unlink")
def products_unlink(ctx: typer.Context, accumulator_id: uuid.UUID, element_id: uuid.UUID) -> None:
    """Remove the link between ACCUMULATOR and ELEMENT."""
    context: _Context = ctx.obj
    with context.store() as store, store.write() as session:
        repo.unlink_products(session, accumulator_id, element_id, now=utc_now())
    typer.echo(f"unlinked: {element_id} is no longer an element of {accumulator_id}")


@products_app.command("rotate-token")
def products_rotate_token(ctx: typer.Context, product_id: uuid.UUID) -> None:
    """Give a product a new feed URL; the old one (and its export URLs) answer 404 from now on."""
    context: _Context = ctx.obj
    with context.store() as store, store.write() as session:
        row = product_resource(repo.rotate_feed_token(session, product_id), context.settings)
    typer.echo(f"new feed URL: {row['feed_url']}")
    typer.echo("Paste the new export URLs into every channel: the old ones no longer work.")


@products_app.command("readers")
def products_readers(
    ctx: typer.Context, product_id: uuid.UUID, as_json: JsonOption = False
) -> None:
    """Who reads the product's feed: channel, export URL, last read; stale ones are marked."""
    context: _Context = ctx.obj
    now = utc_now()
    after = timedelta(hours=context.settings.feeds.stale_reader_hours)
    with context.store() as store, store.read() as session:
        repo.get_product(session, product_id)
        rows = [
            {
                "channel": reader.channel,
                "external_calendar_id": _json_value(reader.external_calendar_id),
                "last_read_at": _json_value(reader.last_read_at),
                "reads": reader.reads,
                "stale": reader.is_stale(now=now, after=after),
            }
            for reader in repo.feed_readers(session, product_id=product_id)
        ]
    _print_rows(
        rows,
        as_json=as_json,
        columns=("channel", "external_calendar_id", "last_read_at", "reads", "stale"),
    )
    if not as_json and any(row["stale"] for row in rows):
        typer.echo(
            "A stale channel has stopped reading this feed: it no longer sees new bookings. "
            "Check the export URL in that channel.",
            err=True,
        )


@app.command("feed")
def feed_command(
    ctx: typer.Context,
    product_id: uuid.UUID,
    exclude: Annotated[
        uuid.UUID | None, typer.Option(help="Leave out this calendar's imports.")
    ] = None,
) -> None:
    """Print a product's outbound feed: the same bytes its feed URL serves."""
    context: _Context = ctx.obj
    with context.store() as store:
        with store.read() as session:
            repo.get_product(session, product_id)
            if exclude is not None and repo.get_calendar(session, exclude).product_id != product_id:
                msg = f"calendar {exclude} does not belong to product {product_id}"
                raise typer.BadParameter(msg)
        body = FeedService(store, context.settings.feeds).feed_of_product(product_id, exclude)
    sys.stdout.buffer.write(body)


# --- calendars -------------------------------------------------------------------------

_CALENDAR_COLUMNS = ("id", "name", "tld", "active", "last_synced", "event_count", "error")
_PRODUCT_COLUMNS = ("id", "name", "timezone", "capacity", "feed_url")


@calendars_app.command("add")
def calendars_add(
    ctx: typer.Context,
    product_id: uuid.UUID,
    url: str,
    name: Annotated[
        str | None, typer.Option(callback=_plain_text, help="Defaults to the feed's domain.")
    ] = None,
    time_offset: Annotated[int, typer.Option(help="Hours added to timed events.")] = 0,
    units: Annotated[int, typer.Option(min=1, help="Units each imported block takes.")] = 1,
    inactive: Annotated[bool, typer.Option("--inactive", help="Add without syncing.")] = False,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add an external calendar (a channel's iCal export URL) to a product."""
    context: _Context = ctx.obj
    _check_feed_url(url)
    with context.store() as store, store.write() as session:
        calendar = repo.add_calendar(
            session,
            product_id=product_id,
            name=name or "",
            ical_url=url,
            time_offset=time_offset,
            active=not inactive,
            now=utc_now(),
            transparent_events=transparent_events or context.settings.sync.transparent_events,
        )
        calendar.name = calendar.name or calendar.tld
        calendar.units = units
        row = calendar_resource(session, calendar, context.settings)
    _print_rows([row], as_json=as_json, columns=_CALENDAR_COLUMNS)


@calendars_app.command("list")
def calendars_list(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List external calendars and their sync status."""
    context: _Context = ctx.obj
    with context.store() as store, store.read() as session:
        rows = [
            calendar_resource(session, c, context.settings)
            for c in repo.list_calendars(session, product_id=product)
        ]
    _print_rows(rows, as_json=as_json, columns=_CALENDAR_COLUMNS)


@calendars_app.command("show")
def calendars_show(ctx: typer.Context, calendar_id: uuid.UUID, as_json: JsonOption = False) -> None:
    """Show a calendar's status and its last 10 sync runs."""
    context: _Context = ctx.obj
    with context.store() as store, store.read() as session:
        calendar = calendar_resource(
            session, repo.get_calendar(session, calendar_id), context.settings
        )
        runs = [resource(run) for run in repo.recent_runs(session, calendar_id)]
    if as_json:
        typer.echo(json.dumps({**calendar, "sync_runs": runs}, indent=2))
        return
    for name, value in calendar.items():
        typer.echo(f"{name:>18}: {_cell(value)}")
    for conflict in calendar["conflicts"]:
        typer.echo(
            f"{'CONFLICT':>18}: {conflict['from']} to {conflict['until']}: "
            f"{conflict['units_booked']} booked of {conflict['capacity']} "
            f"(see `calsync conflicts --product {conflict['product_id']}`)"
        )
    typer.echo("\nlast sync runs:")
    _print_rows(
        runs,
        as_json=False,
        columns=("started_at", "outcome", "http_status", "inserted", "updated", "deleted",
                 "held_deletes", "duration_ms", "error"),
    )  # fmt: skip


@calendars_app.command("remove")
def calendars_remove(
    ctx: typer.Context,
    calendar_id: uuid.UUID,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
) -> None:
    """Remove a calendar and the bookings imported from it (asks first, saying how many)."""
    context: _Context = ctx.obj
    with context.store() as store:
        if not yes:
            with store.read() as session:
                calendar = repo.get_calendar(session, calendar_id)
                channel = f" ({calendar.tld})" if calendar.tld else ""
                question = (
                    f"Removing calendar {calendar.name!r}{channel} and its "
                    f"{_bookings(repo.count_imported(session, calendar_id))}. Continue?"
                )
            _confirm(question)
        with store.write() as session:
            deleted = repo.remove_calendar(session, calendar_id)
    typer.echo(f"removed {calendar_id} and its {_bookings(deleted)}")


def _bookings(count: int) -> str:
    return f"{count} imported booking{'' if count == 1 else 's'}"


def _confirm(question: str) -> None:
    """Ask; a no ends the command with exit 1, no answer at all (stdin closed) with exit 2."""
    try:
        confirmed = typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo("\nnot removed: no answer (add --yes to remove without asking)", err=True)
        raise typer.Exit(2) from None
    if not confirmed:
        typer.echo("not removed", err=True)
        raise typer.Exit(1)


@calendars_app.command("release")
def calendars_release(ctx: typer.Context, calendar_id: uuid.UUID) -> None:
    """Apply a calendar's held deletions now (see the deletion guard in the README)."""
    context: _Context = ctx.obj
    with context.store() as store, store.write() as session:
        released = repo.release_held(session, calendar_id, now=utc_now())
    typer.echo(f"deleted {released} held bookings of {calendar_id}")


# --- sync ------------------------------------------------------------------------------


@app.command("sync")
def sync_command(
    ctx: typer.Context,
    calendar_ids: Annotated[
        list[uuid.UUID] | None, typer.Argument(help="Calendars to sync.")
    ] = None,
    sync_all: Annotated[bool, typer.Option("--all", help="Sync every active calendar.")] = False,
) -> None:
    """Sync calendars once now; one summary line each; exit 1 if any failed."""
    context: _Context = ctx.obj
    if bool(calendar_ids) == sync_all:
        msg = "name calendar ids or --all (not both)"
        raise typer.BadParameter(msg)
    with context.store() as store:
        if sync_all:
            with store.read() as session:
                ids = [c.id for c in repo.list_calendars(session, active_only=True)]
        else:
            ids = list(calendar_ids or [])
            with store.read() as session:
                for calendar_id in ids:
                    repo.get_calendar(session, calendar_id)
        lines = asyncio.run(_sync_all(store, context.settings, ids))
    for line, _ in lines:
        typer.echo(line)
    if not ids:
        typer.echo("no active calendars to sync")
    if any(failed for _, failed in lines):
        raise typer.Exit(1)


async def _sync_all(
    store: Store, settings: Settings, ids: Sequence[uuid.UUID]
) -> list[tuple[str, bool]]:
    """Sync each calendar under a lease; one held by a running daemon is queued for it.

    Returns one summary line per calendar and whether its sync failed.
    """
    lines: list[tuple[str, bool]] = []
    owner = cli_owner()
    show_progress = sys.stderr.isatty() and len(ids) > 1
    async with FeedFetcher(settings.fetch) as fetcher:
        with Progress(disable=not show_progress, transient=True) as progress:
            task = progress.add_task("syncing", total=len(ids))
            for calendar_id in ids:
                if await asyncio.to_thread(_claim, store, settings, calendar_id, owner):
                    result = await sync_calendar(
                        calendar_id, store=store, fetcher=fetcher, settings=settings,
                        lease_owner=owner,
                    )  # fmt: skip
                    lines.append((_summary(result), result.outcome == "failed"))
                else:
                    queued = f"{calendar_id} queued: a running calsync is syncing it now"
                    lines.append((queued, False))
                progress.advance(task)
    return lines


def _claim(store: Store, settings: Settings, calendar_id: uuid.UUID, owner: str) -> bool:
    now = utc_now()
    lease_until = now + timedelta(seconds=settings.sync.lease_seconds)
    with store.write() as session:
        if repo.claim_calendar(
            session, calendar_id, owner=owner, now=now, lease_until=lease_until,
            owner_gone=owner_is_gone,
        ):  # fmt: skip
            return True
        repo.request_sync(session, calendar_id, now=now)
        return False


def _summary(result: SyncResult) -> str:
    line = (
        f"{result.calendar_id} {result.outcome}: +{result.inserted} ~{result.updated} "
        f"-{result.deleted} held {result.held_deletes}, skipped {result.skipped} "
        f"(HTTP {result.http_status or '-'}, {result.duration_ms} ms)"
    )
    return f"{line} error: {result.error}" if result.error else line


# --- availability ---------------------------------------------------------------------


@app.command("availability")
def availability_command(
    ctx: typer.Context,
    product_id: uuid.UUID,
    first: Annotated[str, typer.Option("--from", help="First night, YYYY-MM-DD.")],
    until: Annotated[str, typer.Option("--until", help="Night after the last, YYYY-MM-DD.")],
    as_json: JsonOption = False,
) -> None:
    """Per night: units booked, capacity, available, and the bookings that cause it."""
    context: _Context = ctx.obj
    start, end = _parse_date("--from", first), _parse_date("--until", until)
    with context.store() as store, store.read() as session:
        rows = reports.availability(session, product_id, start, end)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        row["booked"] = f"{row['units_booked']}/{row['capacity']}"
        row["by"] = ", ".join(b["id"][:8] for b in row["bookings"])
    _print_rows(rows, as_json=False, columns=("date", "available", "booked", "by"))


@app.command("conflicts")
def conflicts_command(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Double bookings that arrived from channels anyway (from today on); exit 1 if any."""
    context: _Context = ctx.obj
    with context.store() as store, store.read() as session:
        rows = reports.conflicts(session, now=utc_now(), product_id=product)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif rows:
        for row in rows:
            row["booked"] = f"{row['units_booked']}/{row['capacity']}"
            row["calendars"] = ", ".join(
                str(b["external_calendar_id"] or "direct")[:8] for b in row["bookings"]
            )
        _print_rows(
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


# --- daemon --------------------------------------------------------------------------


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Run the daemon: scheduled and manual syncs, and the HTTP server, until stopped."""
    import uvloop  # noqa: PLC0415 - the daemon's imports only here

    from calsync.daemon import run_daemon  # noqa: PLC0415

    context: _Context = ctx.obj
    raise typer.Exit(uvloop.run(run_daemon(context.settings)))


# --- bookings --------------------------------------------------------------------------


@bookings_app.command("list")
def bookings_list(
    ctx: typer.Context,
    product: Annotated[uuid.UUID | None, typer.Option(help="Only this product's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List bookings by start."""
    context: _Context = ctx.obj
    with context.store() as store, store.read() as session:
        rows = [resource(booking) for booking in repo.list_bookings(session, product_id=product)]
    _print_rows(
        rows,
        as_json=as_json,
        columns=("starts_at", "ends_at", "all_day", "status", "summary", "external_calendar_id"),
    )


# --- preview ---------------------------------------------------------------------------


@app.command("preview")
def preview(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A feed URL or a local .ics file.")],
    time_offset: Annotated[int, typer.Option(help="Hours added to timed events.")] = 0,
    timezone: Annotated[str | None, typer.Option(help="Timezone for floating times.")] = None,
    now: Annotated[str | None, typer.Option(help="ISO 8601 instant to use as now.")] = None,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a feed would import, writing nothing; skipped events and warnings on stderr."""
    context: _Context = ctx.obj
    settings = context.settings
    moment = _parse_now(now) if now else utc_now()
    zone = _check_timezone(timezone or settings.products.default_timezone)
    if "://" in source:
        _check_feed_url(source)
        data = asyncio.run(_fetch_once(settings, source))
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            msg = f"cannot read {source}: {exc.strerror}"
            raise InvalidFeed(msg) from exc
    options = parse_options(
        settings,
        now=moment,
        timezone=zone,
        time_offset_hours=time_offset,
        transparent_events=transparent_events or settings.sync.transparent_events,
    )
    parsed = parse_feed(data, options)
    _print_rows(preview_rows(parsed), as_json=as_json, columns=("start", "end", "summary", "key"))
    for skipped in parsed.skipped:
        typer.echo(f"skipped {skipped.uid}: {skipped.reason}", err=True)
    for warning in parsed.warnings:
        typer.echo(f"warning: {warning}", err=True)


def preview_rows(parsed: ParsedFeed) -> list[dict[str, Any]]:
    """Blocks as preview prints them: dates for all-day blocks, UTC instants for timed ones."""
    return [
        {
            "key": block.key,
            "start": _preview_time(block.starts_at, all_day=block.all_day),
            "end": _preview_time(block.ends_at, all_day=block.all_day),
            "all_day": block.all_day,
            "summary": block.summary,
        }
        for block in parsed.blocks
    ]


def _preview_time(moment: datetime, *, all_day: bool) -> str:
    return moment.date().isoformat() if all_day else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _fetch_once(settings: Settings, url: str) -> bytes:
    async with FeedFetcher(settings.fetch) as fetcher:
        fetched = await fetcher.fetch(url)
    return fetched.body or b""


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"--now: not an ISO 8601 date-time: {text!r}"
        raise typer.BadParameter(msg) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- db --------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations."""
    context: _Context = ctx.obj
    store = Store.connect(context.settings.database)
    try:
        store.upgrade()
    finally:
        store.close()
    typer.echo("database is up to date")


# --- output and errors -----------------------------------------------------------------


def resource(row: DeclarativeBase) -> dict[str, Any]:
    """A row as the API and ``--json`` show it: column names of DESIGN §3, JSON values."""
    return {column.key: _json_value(getattr(row, column.key)) for column in row.__mapper__.columns}


def product_resource(product: Product, settings: Settings) -> dict[str, Any]:
    """A product with its feed URL (the address channels subscribe to)."""
    return {
        **resource(product),
        "feed_url": settings.server.base_url + feed_path(product.feed_token),
    }


def calendar_resource(
    session: Session, calendar: ExternalCalendar, settings: Settings
) -> dict[str, Any]:
    """A calendar with its export URL: the product's feed without this calendar's own imports."""
    token = repo.get_product(session, calendar.product_id).feed_token
    export = settings.server.base_url + feed_path(token, exclude=calendar.id)
    found = reports.calendar_conflicts(
        session, [(calendar.id, calendar.product_id)], now=utc_now(), cache=reports.ConflictCache()
    )
    return {**resource(calendar), "export_url": export, "conflicts": found[calendar.id]}


def _json_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _print_rows(rows: list[dict[str, Any]], *, as_json: bool, columns: Sequence[str]) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("(none)")
        return
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _check_timezone(name: str) -> str:
    from calsync.config import _check_timezone as check  # noqa: PLC0415

    try:
        return check(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _check_feed_url(url: str) -> None:
    problem = feed_url_problem(url)
    if problem is not None:
        msg = f"not a feed URL: {problem} ({redact_url(url)})"
        raise typer.BadParameter(msg)


def main() -> None:
    """Run the CLI, turning calsync's errors into one line on stderr and an exit code."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"calsync: {exc}", err=True)
        sys.exit(2)
    except CalsyncError as exc:
        typer.echo(f"calsync: {exc}", err=True)
        sys.exit(1)
