"""``calsync apikey``: create, list and revoke the REST API's keys.

Registered in :mod:`calsync.cli` with ``app.add_typer(apikey_app, name="apikey")``;
the commands reach the settings and the store through ``ctx.obj`` as the other
commands do. A key is printed once, when it is created: only its hash is stored.
"""

from __future__ import annotations

import json
import uuid  # noqa: TC003 - Typer reads annotations at run time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer

from calsync.apikeys import create_api_key, list_api_keys, revoke_api_key
from calsync.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Sequence
    from contextlib import AbstractContextManager

    from calsync.config import Settings
    from calsync.store.db import Store
    from calsync.store.models import ApiKey

apikey_app = typer.Typer(no_args_is_help=True, help="API keys for the REST API.")

_COLUMNS = ("id", "name", "created_at", "last_used_at", "revoked_at")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class CliContext(Protocol):
    """What the root command puts in ``ctx.obj``: the settings and a way to open the store."""

    settings: Settings

    def store(self) -> AbstractContextManager[Store]:
        """A migrated store, closed when the block ends."""
        ...


def _row(key: ApiKey) -> dict[str, Any]:
    """A key as listed: never its hash."""
    return {column: _json_value(getattr(key, column)) for column in _COLUMNS}


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value if value is None or isinstance(value, str) else str(value)


@apikey_app.command("create")
def apikey_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. the site using it.")],
    as_json: JsonOption = False,  # noqa: FBT002 - Typer declares options as parameters
) -> None:
    """Create an API key and print it (once: it is not stored, only its hash)."""
    context: CliContext = ctx.obj
    with context.store() as store, store.write() as session:
        key, secret = create_api_key(session, name=name, now=utc_now())
        row = _row(key)
    if as_json:
        typer.echo(json.dumps({**row, "key": secret}, indent=2))
    else:
        typer.echo(secret)
    typer.echo(
        f"API key {row['id']} ({name}) created. Copy it now: it is not shown again. "
        "Send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@apikey_app.command("list")
def apikey_list(ctx: typer.Context, as_json: JsonOption = False) -> None:  # noqa: FBT002
    """List API keys (revoked ones too); the keys themselves are never shown."""
    context: CliContext = ctx.obj
    with context.store() as store, store.read() as session:
        rows = [_row(key) for key in list_api_keys(session)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, _COLUMNS)


@apikey_app.command("revoke")
def apikey_revoke(
    ctx: typer.Context,
    key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id (see apikey list).")],
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    context: CliContext = ctx.obj
    with context.store() as store, store.write() as session:
        key = revoke_api_key(session, key_id, now=utc_now())
        revoked_at = _json_value(key.revoked_at)
    typer.echo(f"revoked {key_id} (since {revoked_at})")


def _print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        typer.echo("(none)")
        return
    cells = [["-" if row[c] is None else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
