"""The parse pool's workers: they parse, and they import only what the parser needs.

Each worker is a spawned process. What it imports is what it costs in memory
(about 30 MB with the parser alone, over 60 MB with the daemon's import graph).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from calsync.parsing import ParsePool
from conftest import calendar, parse_options

HEAVY = ("sqlalchemy", "fastapi", "httpx", "structlog", "typer")
_LIST_HEAVY = f"sorted(m for m in __import__('sys').modules if m.split('.')[0] in {HEAVY!r})"


def test_workers_parse_and_import_only_the_parser():
    """A worker parses a feed; the daemon's heavy libraries are not loaded in it."""
    pool = ParsePool(1)
    try:
        feed = calendar("UID:a\nDTSTART;VALUE=DATE:20261201\nDTEND;VALUE=DATE:20261205")
        parsed = asyncio.run(pool.parse(feed, parse_options()))
        assert ["a"] == [block.key for block in parsed.blocks]
        assert [] == pool._executor.submit(eval, _LIST_HEAVY).result(timeout=60)
    finally:
        pool.close()


def test_the_command_script_imports_only_its_entry_point():
    """A spawned worker runs the script that started the daemon (``calsync``) as ``__mp_main__``.

    That must import only ``calsync.__main__``, not the command line behind it.
    """
    script = Path(sys.executable).parent / "calsync"
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        f"print({_LIST_HEAVY})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(script)], capture_output=True, text=True, check=True
    )
    assert "[]" == result.stdout.strip()
