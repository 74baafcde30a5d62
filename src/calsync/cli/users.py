"""``calsync users``: the accounts of the web interface (add, list, remove, passwd).

Passwords are asked for twice with hidden input, or read from standard input
with ``--password-stdin`` (for scripts); they are never arguments, which other
users of the machine could see in the process list. Every change goes through
:class:`calsync.services.users.Users`, the one write path of accounts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator  # noqa: TC003 - Typer reads annotations at run time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from calsync.cli.output import JsonOption, context, print_rows
from calsync.services.users import PASSWORD_MIN_LENGTH, Users
from calsync.services.views import json_value

if TYPE_CHECKING:
    from calsync.store.models import User

users_app = typer.Typer(no_args_is_help=True, help="Accounts of the web interface.")

_COLUMNS = ("username", "created_at", "last_login_at")
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (one line)."),
]
Name = Annotated[str, typer.Argument(help="The user name, as typed at the login.")]


@contextmanager
def _users(ctx: typer.Context) -> Iterator[Users]:
    with context(ctx).store() as store:
        yield Users(store)


def _password(*, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    try:
        return str(
            typer.prompt(
                f"Password (at least {PASSWORD_MIN_LENGTH} characters)",
                hide_input=True,
                confirmation_prompt="Repeat the password",
            )
        )
    except typer.Abort:
        typer.echo("\nno password given (use --password-stdin to pipe one in)", err=True)
        raise typer.Exit(2) from None


@users_app.command("add")
def users_add(ctx: typer.Context, username: Name, password_stdin: PasswordStdin = False) -> None:
    """Make an account for the web interface (asks for the password twice)."""
    password = _password(from_stdin=password_stdin)
    with _users(ctx) as users:
        users.add(username, password)
    typer.echo(f"user {username!r} added: log in to the web interface with it")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the accounts (never their passwords)."""
    with _users(ctx) as users:
        found = [_row(user) for user in users.all()]
    print_rows(found, as_json=as_json, columns=_COLUMNS)


@users_app.command("remove")
def users_remove(ctx: typer.Context, username: Name) -> None:
    """Delete an account; its open sessions end at their next request."""
    with _users(ctx) as users:
        users.remove(username)
        left = users.exist()
    typer.echo(f"user {username!r} removed")
    if not left:
        typer.echo("No account is left: make one with `calsync users add NAME`.", err=True)


@users_app.command("passwd")
def users_passwd(ctx: typer.Context, username: Name, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; the account's other sessions end."""
    password = _password(from_stdin=password_stdin)
    with _users(ctx) as users:
        users.change_password(username, password)
    typer.echo(f"password of {username!r} changed")


def _row(user: User) -> dict[str, Any]:
    return {column: json_value(getattr(user, column)) for column in _COLUMNS}
