"""``calsync sync`` (sync calendars now), ``preview`` (what a feed would import), ``replay``.

``replay`` and ``preview --calendar`` print the plan a sync would apply now to a
calendar's stored bookings (:mod:`calsync.cli.plans`), writing nothing.
"""

from __future__ import annotations

import asyncio
import sys
import uuid  # noqa: TC003 - Typer reads annotations at run time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress

from calsync.channels import feed_host
from calsync.cli.calendars import TransparentOption  # noqa: TC001 - Typer reads it at run time
from calsync.cli.output import JsonOption, context, print_rows
from calsync.cli.plans import print_plan
from calsync.clock import utc_now
from calsync.errors import InvalidFeed
from calsync.fetch import FeedFetcher
from calsync.services import calendars, preview
from calsync.services.fields import FEED_URL, TIMEZONE
from calsync.sync import DryRun, Syncer, SyncResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from calsync.config import Settings
    from calsync.store.db import Store


def sync_command(
    ctx: typer.Context,
    calendar_ids: Annotated[
        list[uuid.UUID] | None, typer.Argument(help="Calendars to sync.")
    ] = None,
    sync_all: Annotated[bool, typer.Option("--all", help="Sync every active calendar.")] = False,
) -> None:
    """Sync calendars once now; one summary line each; exit 1 if any failed."""
    cli = context(ctx)
    if bool(calendar_ids) == sync_all:
        msg = "name calendar ids or --all (not both)"
        raise typer.BadParameter(msg)
    with cli.store() as store:
        with store.read() as session:
            found = (
                calendars.listed(session, active_only=True)
                if sync_all
                else [calendars.get(session, calendar_id) for calendar_id in calendar_ids or []]
            )
            feeds = [(calendar.id, feed_host(calendar.ical_url)) for calendar in found]
        lines = asyncio.run(_sync_all(store, cli.settings, feeds))
    for line, _ in lines:
        typer.echo(line)
    if not feeds:
        typer.echo("no active calendars to sync")
    if any(failed for _, failed in lines):
        raise typer.Exit(1)


async def _sync_all(
    store: Store, settings: Settings, feeds: Sequence[tuple[uuid.UUID, str]]
) -> list[tuple[str, bool]]:
    """Sync each (calendar, feed host) under a lease; one a running daemon holds is queued for it.

    Up to ``sync.max_concurrent`` at once, ``sync.max_per_host`` of a feed host,
    as the daemon does; claims and results are written many to a transaction.
    Returns one summary line per calendar, in their order, and whether its sync failed.
    """
    show_progress = sys.stderr.isatty() and len(feeds) > 1
    slots = asyncio.Semaphore(settings.sync.max_concurrent)
    hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(settings.sync.max_per_host)
    )
    async with (
        FeedFetcher(settings.fetch) as fetcher,
        Syncer.for_cli(store, settings, fetcher) as syncer,
    ):
        with Progress(disable=not show_progress, transient=True) as progress:
            task = progress.add_task("syncing", total=len(feeds))

            async def sync_one(calendar_id: uuid.UUID, host: str) -> tuple[str, bool]:
                async with hosts[host], slots:
                    job = await syncer.claim(calendar_id)
                    if job is None:
                        line = f"{calendar_id} queued: a running calsync is syncing it now"
                        failed = False
                    else:
                        result = await syncer.sync(job)
                        line, failed = _summary(result), result.outcome == "failed"
                progress.advance(task)
                return line, failed

            return list(await asyncio.gather(*(sync_one(*feed) for feed in feeds)))


def _summary(result: SyncResult) -> str:
    line = (
        f"{result.calendar_id} {result.outcome}: +{result.inserted} ~{result.updated} "
        f"-{result.deleted} held {result.held_deletes}, skipped {result.skipped} "
        f"(HTTP {result.http_status or '-'}, {result.duration_ms} ms)"
    )
    return f"{line} error: {result.error}" if result.error else line


def preview_command(
    ctx: typer.Context,
    source: Annotated[
        str | None, typer.Argument(help="A feed URL or a local .ics file.", show_default=False)
    ] = None,
    calendar: Annotated[
        uuid.UUID | None,
        typer.Option(help="Fetch this calendar's feed now and print the plan a sync would apply."),
    ] = None,
    time_offset: Annotated[int, typer.Option(help="Hours added to timed events.")] = 0,
    timezone: Annotated[str | None, typer.Option(help="Timezone for floating times.")] = None,
    now: Annotated[str | None, typer.Option(help="ISO 8601 instant to use as now.")] = None,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a feed would import, writing nothing; skipped events and warnings on stderr."""
    if (source is None) == (calendar is None):
        msg = "name a feed URL or file, or --calendar ID (not both)"
        raise typer.BadParameter(msg)
    if calendar is not None:
        _plan_calendar(ctx, calendar, None, time_offset=None,
                       transparent_events=transparent_events, as_json=as_json)  # fmt: skip
        return
    assert source is not None  # noqa: S101 - checked above
    settings = context(ctx).settings
    moment = _parse_now(now) if now else utc_now()
    zone = TIMEZONE.check("timezone", timezone or settings.products.default_timezone)
    if "://" in source:
        FEED_URL.check("source", source)
        data = asyncio.run(preview.fetch(settings, source))
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            msg = f"cannot read {source}: {exc.strerror}"
            raise InvalidFeed(msg) from exc
    parsed = preview.parse(
        settings, data, now=moment, timezone=zone, time_offset=time_offset,
        transparent_events=transparent_events,
    )  # fmt: skip
    print_rows(preview.rows(parsed), as_json=as_json, columns=("start", "end", "summary", "key"))
    for skipped in parsed.skipped:
        typer.echo(f"skipped {skipped.uid}: {skipped.reason}", err=True)
    for warning in parsed.warnings:
        typer.echo(f"warning: {warning}", err=True)


def replay_command(
    ctx: typer.Context,
    calendar_id: Annotated[uuid.UUID, typer.Argument(help="The external calendar.")],
    run: Annotated[
        uuid.UUID | None,
        typer.Option(
            "--run", help="The sync run whose fetched body to replay (default: the newest kept)."
        ),
    ] = None,
    time_offset: Annotated[
        int | None, typer.Option(help="Try another time offset (hours; default: the calendar's).")
    ] = None,
    transparent_events: TransparentOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-parse a kept fetched body and print the plan it would apply now; writes nothing.

    Why was a booking deleted? Replay the run that deleted it. Try a setting before
    changing it: ``--time-offset``, ``--transparent-events``.
    """
    _plan_calendar(ctx, calendar_id, run, time_offset=time_offset,
                   transparent_events=transparent_events, as_json=as_json, kept=True)  # fmt: skip


def _plan_calendar(
    ctx: typer.Context,
    calendar_id: uuid.UUID,
    run_id: uuid.UUID | None,
    *,
    time_offset: int | None,
    transparent_events: str | None,
    as_json: bool,
    kept: bool = False,
) -> None:
    """The plan of a kept body (``kept``) or of a fetch now, against the calendar's bookings."""
    cli = context(ctx)
    with cli.store() as store:
        body = None
        if kept:
            with store.read() as session:
                found = calendars.kept_body(session, calendar_id, run_id=run_id)
            typer.echo(
                f"replaying the body fetched {found.fetched_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(HTTP {found.http_status}, sync run {found.sync_run_id}, {found.outcome})",
                err=True,
            )
            body = found.body
        dry = asyncio.run(
            _dry_run(store, cli.settings, calendar_id, body, time_offset, transparent_events)
        )
    print_plan(dry, as_json=as_json)


async def _dry_run(
    store: Store,
    settings: Settings,
    calendar_id: uuid.UUID,
    body: bytes | None,
    time_offset: int | None,
    transparent_events: str | None,
) -> DryRun:
    async with FeedFetcher(settings.fetch) as fetcher:
        syncer = Syncer(store, settings, fetcher, owner=None)
        job = await syncer.job(calendar_id)
        options = job.options
        if time_offset is not None:
            options = replace(options, time_offset_hours=time_offset)
        if transparent_events is not None:
            options = replace(options, transparent_events=transparent_events)  # type: ignore[arg-type]
        job = replace(job, options=options)
        if body is None:
            body = (await fetcher.fetch(job.url)).body or b""
        return await syncer.dry_run(job, body)


def _parse_now(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"--now: not an ISO 8601 date-time: {text!r}"
        raise typer.BadParameter(msg) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
