"""``calsync apikey``: create, list and revoke the REST API's keys.

A key is printed once, when it is created: only its hash is stored, and it is
never shown (:data:`calsync.services.views.HIDDEN`).
"""

from __future__ import annotations

import uuid  # noqa: TC003 - Typer reads annotations at run time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.cli.output import JsonOption, context, print_json, print_rows
from calsync.clock import utc_now
from calsync.services.keys import create_api_key, list_api_keys, revoke_api_key
from calsync.services.views import json_value, serialize

if TYPE_CHECKING:
    from calsync.store.models import ApiKey

apikey_app = typer.Typer(no_args_is_help=True, help="API keys for the REST API.")

_COLUMNS = ("id", "name", "created_at", "last_used_at", "revoked_at")


def _row(key: ApiKey) -> dict[str, Any]:
    """A key as listed: never its hash."""
    return serialize(key, _COLUMNS)


@apikey_app.command("create")
def apikey_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. the site using it.")],
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it (once: it is not stored, only its hash)."""
    with context(ctx).store() as store, store.write() as session:
        key, secret = create_api_key(session, name=name, now=utc_now())
        row = _row(key)
    if as_json:
        print_json({**row, "key": secret})
    else:
        typer.echo(secret)
    typer.echo(
        f"API key {row['id']} ({name}) created. Copy it now: it is not shown again. "
        "Send it as 'Authorization: Bearer <key>'.",
        err=True,
    )


@apikey_app.command("list")
def apikey_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List API keys (revoked ones too); the keys themselves are never shown."""
    with context(ctx).store() as store, store.read() as session:
        rows = [_row(key) for key in list_api_keys(session)]
    print_rows(rows, as_json=as_json, columns=_COLUMNS)


@apikey_app.command("revoke")
def apikey_revoke(
    ctx: typer.Context,
    key_id: Annotated[uuid.UUID, typer.Argument(help="The key's id (see apikey list).")],
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    with context(ctx).store() as store, store.write() as session:
        key = revoke_api_key(session, key_id, now=utc_now())
        revoked_at = json_value(key.revoked_at)
    typer.echo(f"revoked {key_id} (since {revoked_at})")
