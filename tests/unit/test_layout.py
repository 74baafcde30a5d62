"""The source stays in files of one job each: no file of src/ over 500 lines."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_LINES = 500


def test_no_source_file_is_over_500_lines():
    """Every .py file under src/ has at most 500 lines, so a file that grows past it is split."""
    too_long = {
        path.relative_to(SRC).as_posix(): lines
        for path in sorted(SRC.rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {} == too_long
