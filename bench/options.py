"""What every scenario is given: how many runs, how big, and where to put files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class BenchOptions:
    """``runs`` repetitions of each measurement; ``quick`` shrinks sizes for a smoke run."""

    runs: int
    quick: bool
    workdir: Path
