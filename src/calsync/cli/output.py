"""What every command shares: the settings and the store (``ctx.obj``), and how rows are printed.

Resources are printed as :mod:`calsync.services.views` makes them: ``--json``
prints exactly the fields the API answers with, a table a few of them.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.clock import utc_now
from calsync.services.context import Cause, WriteContext
from calsync.services.views import Views
from calsync.store.db import Store

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from calsync.config import Settings
    from calsync.store.models import Base

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass
class CliContext:
    """What the root command puts in ``ctx.obj``: the settings, and a way to open the store."""

    settings: Settings

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A migrated store (``database.auto_migrate``), closed when the block ends."""
        store = Store.connect(self.settings.database)
        try:
            if self.settings.database.auto_migrate:
                store.upgrade()
            yield store
        finally:
            store.close()

    def write_context(self, *, force: bool = False) -> WriteContext:
        """A write at the current time, with the defaults and bounds of the settings."""
        return WriteContext.of(self.settings, utc_now(), cli_cause(), force=force)

    def views(self, store: Store) -> Views:
        """The resources' computed fields (feed and export URLs, readers, conflicts)."""
        return Views.of(store, self.settings)


def cli_cause() -> Cause:
    """The cause of this command's writes: ``cli:<user>@<host>``."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a name (a container's)
        user = str(os.getuid())
    return Cause.cli(f"{user}@{socket.gethostname()}")


def context(ctx: typer.Context) -> CliContext:
    """The :class:`CliContext` of a command."""
    found: CliContext = ctx.obj
    return found


def print_resources(
    views: Views, rows: Sequence[Base], *, as_json: bool, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows as the API shows them: every field with ``--json``, else a table of ``columns``."""
    resources = views.resources(rows)
    print_rows(resources, as_json=as_json, columns=columns)
    return resources


def print_rows(rows: Sequence[dict[str, Any]], *, as_json: bool, columns: Sequence[str]) -> None:
    """JSON (an array of the rows), or a table of ``columns``; ``(none)`` when there are none."""
    if as_json:
        print_json(list(rows))
        return
    if not rows:
        typer.echo("(none)")
        return
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def print_json(value: object) -> None:
    """``value`` as indented JSON."""
    typer.echo(json.dumps(value, indent=2))


def cell(value: object) -> str:
    """A value in a table: ``-`` for none."""
    return "-" if value is None else str(value)


def confirm_removal(question: str) -> None:
    """Ask; a no ends the command with exit 1, no answer at all (stdin closed) with exit 2."""
    try:
        confirmed = typer.confirm(question, default=False)
    except typer.Abort:
        typer.echo("\nnot removed: no answer (add --yes to remove without asking)", err=True)
        raise typer.Exit(2) from None
    if not confirmed:
        typer.echo("not removed", err=True)
        raise typer.Exit(1)
