"""calsync: iCal channel sync. Products, calendars, bookings, sync, keys and the daemon.

Every write goes through :mod:`calsync.services`, as the API's do, so a bad input
gets the API's message. Errors are presented in one place, :class:`_Presenting`:
one line on stderr and an exit code: 2 for a bad argument, value or setting (what
the API answers with 400), 1 for everything else (a conflict, an unknown id, a
failed sync). The console script is :func:`calsync.__main__.main`, which imports
this package only when it runs.

A command imports only what it uses: the root command knows each subcommand by
the module that defines it (:data:`_SUBCOMMANDS`) and imports that module when
the subcommand is looked up (Click's "lazily loading subcommands"), so
``calsync --version`` imports no database, web or sync code.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from pathlib import Path  # noqa: TC003 - Typer reads annotations at run time
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from calsync import __version__
from calsync.errors import BadRequest, CalsyncError, ConfigError

__all__ = ["app", "main"]

_SUBCOMMANDS = {
    "sync": "calsync.cli.sync:sync_command",
    "preview": "calsync.cli.sync:preview_command",
    "replay": "calsync.cli.sync:replay_command",
    "feed": "calsync.cli.products:feed_command",
    "availability": "calsync.cli.bookings:availability_command",
    "conflicts": "calsync.cli.bookings:conflicts_command",
    "history": "calsync.cli.history:history_command",
    "run": None,
    "products": "calsync.cli.products:products_app",
    "calendars": "calsync.cli.calendars:calendars_app",
    "bookings": "calsync.cli.bookings:bookings_app",
    "db": None,
    "apikey": "calsync.cli.keys:apikey_app",
    "users": "calsync.cli.users:users_app",
    "webhooks": "calsync.cli.webhooks:webhooks_app",
}
"""Every subcommand in the order ``--help`` lists them: ``module:attribute`` (a command
function or a Typer app), imported when first looked up; None for those defined here."""


def exit_code(error: CalsyncError) -> int:
    """2 for a bad argument, value or setting; 1 for any other error."""
    return 2 if isinstance(error, ConfigError | BadRequest) else 1


class _Commands(MutableMapping[str, Any]):
    """The root's subcommands: a lazy one's module is imported when it is first looked up."""

    def __init__(self, defined: MutableMapping[str, Any]) -> None:
        self._loaded = dict(defined)

    def __getitem__(self, name: str) -> Any:  # noqa: ANN401 - a click Command that typer vendors
        if name not in self._loaded:
            target = _SUBCOMMANDS.get(name)
            if target is None:
                raise KeyError(name)
            self._loaded[name] = _load(name, target)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:  # noqa: ANN401 - as above
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from _SUBCOMMANDS
        yield from (name for name in self._loaded if name not in _SUBCOMMANDS)

    def __len__(self) -> int:
        return len(set(_SUBCOMMANDS) | set(self._loaded))


def _load(name: str, target: str) -> Any:  # noqa: ANN401 - a click Command that typer vendors
    """Import ``module:attribute`` and make it the click command ``name``."""
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    command: Any
    if isinstance(found, typer.Typer):
        command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _Presenting(TyperGroup):
    """The root command: lazy subcommands; calsync's errors become one line and an exit code."""

    def __init__(self, **attrs: Any) -> None:  # noqa: ANN401 - typer's keyword arguments
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Any) -> list[str]:  # noqa: ANN401, ARG002 - click's signature
        """The subcommands' names, without importing them."""
        return list(self.commands)

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
app.add_typer(db_app, name="db")


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
    from calsync.cli.output import CliContext  # noqa: PLC0415 - see the module docstring
    from calsync.config import load_settings  # noqa: PLC0415
    from calsync.logging import configure_logging  # noqa: PLC0415

    settings = load_settings(config)
    configure_logging(settings.logging)
    ctx.obj = CliContext(settings)


@app.command("run")
def run_command(ctx: typer.Context) -> None:
    """Run the daemon: scheduled and manual syncs, and the HTTP server, until stopped."""
    import uvloop  # noqa: PLC0415 - the daemon's imports only here

    from calsync.cli.output import context  # noqa: PLC0415
    from calsync.daemon import run_daemon  # noqa: PLC0415

    raise typer.Exit(uvloop.run(run_daemon(context(ctx).settings)))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the database migrations."""
    from calsync.cli.output import context  # noqa: PLC0415 - see the module docstring
    from calsync.store.db import Store  # noqa: PLC0415

    store = Store.connect(context(ctx).settings.database)
    try:
        store.upgrade()
    finally:
        store.close()
    typer.echo("database is up to date")


def main() -> None:
    """Run the command line."""
    app()
