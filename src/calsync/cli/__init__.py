"""calsync: iCal channel sync. Products, calendars, bookings, sync, keys and the daemon.

Every write goes through :mod:`calsync.services`, as the API's do, so a bad input
gets the API's message. Errors are presented in one place, :class:`_Presenting`:
one line on stderr and an exit code: 2 for a bad argument, value or setting (what
the API answers with 400), 1 for everything else (a conflict, an unknown id, a
failed sync). The console script is :func:`calsync.__main__.main`, which imports
this package only when it runs.
"""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - Typer reads annotations at run time
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from calsync import __version__
from calsync.cli.bookings import availability_command, bookings_app, conflicts_command
from calsync.cli.calendars import calendars_app
from calsync.cli.history import history_command
from calsync.cli.keys import apikey_app
from calsync.cli.output import CliContext, context
from calsync.cli.products import feed_command, products_app
from calsync.cli.sync import preview_command, replay_command, sync_command
from calsync.cli.users import users_app
from calsync.cli.webhooks import webhooks_app
from calsync.config import load_settings
from calsync.errors import BadRequest, CalsyncError, ConfigError
from calsync.logging import configure_logging
from calsync.store.db import Store

__all__ = ["app", "main"]


def exit_code(error: CalsyncError) -> int:
    """2 for a bad argument, value or setting; 1 for any other error."""
    return 2 if isinstance(error, ConfigError | BadRequest) else 1


class _Presenting(TyperGroup):
    """The root command: calsync's errors become one line on stderr and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # noqa: ANN401 - the click Context typer vendors
        """Run the command; present a :class:`CalsyncError` and exit with its code."""
        try:
            return super().invoke(ctx)
        except CalsyncError as exc:
            typer.echo(f"calsync: {exc}", err=True)
            raise typer.Exit(exit_code(exc)) from None


app = typer.Typer(
    cls=_Presenting, no_args_is_help=True, add_completion=False, help=__doc__.split("\n")[0]
)
db_app = typer.Typer(no_args_is_help=True, help="The database.")
app.add_typer(products_app, name="products")
app.add_typer(calendars_app, name="calendars")
app.add_typer(bookings_app, name="bookings")
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
app.add_typer(users_app, name="users")
app.add_typer(webhooks_app, name="webhooks")
app.command("sync")(sync_command)
app.command("preview")(preview_command)
app.command("replay")(replay_command)
app.command("feed")(feed_command)
app.command("availability")(availability_command)
app.command("conflicts")(conflicts_command)
app.command("history")(history_command)


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
    ctx.obj = CliContext(settings)


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Run the daemon: scheduled and manual syncs, and the HTTP server, until stopped."""
    import uvloop  # noqa: PLC0415 - the daemon's imports only here

    from calsync.daemon import run_daemon  # noqa: PLC0415

    raise typer.Exit(uvloop.run(run_daemon(context(ctx).settings)))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations."""
    store = Store.connect(context(ctx).settings.database)
    try:
        store.upgrade()
    finally:
        store.close()
    typer.echo("database is up to date")


def main() -> None:
    """Run the command line."""
    app()
