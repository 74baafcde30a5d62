"""The ``calsync`` command, and ``python -m calsync``.

The command's script imports only this module: parser workers are spawned
processes, which import the script that started the daemon again, and must not
pay for the whole command line's imports (see :mod:`calsync.parsing`).
"""


def main() -> None:
    """Run the command line."""
    from calsync.cli import main as run_cli  # noqa: PLC0415 - see the module docstring

    run_cli()


if __name__ == "__main__":
    main()
