"""Figures, the table they are printed as, and the JSON they are saved as."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Target:
    """A goal for a figure: at least (or at most) ``value``."""

    value: float
    at_least: bool = True

    def met(self, figure: float) -> bool:
        """Whether ``figure`` reaches the goal."""
        return figure >= self.value if self.at_least else figure <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.at_least else '<'} {self.value:g}"


@dataclass(frozen=True)
class Figure:
    """One measured quantity: every run's value, and optionally an in-run baseline's."""

    scenario: str
    metric: str
    unit: str
    runs: list[float]
    target: Target | None = None
    baseline: str | None = None
    baseline_runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median over the runs (the figure that counts)."""
        return statistics.median(self.runs)

    @property
    def ratio(self) -> float | None:
        """The median over the baseline's median, when there is a baseline."""
        if not self.baseline_runs:
            return None
        base = statistics.median(self.baseline_runs)
        return self.median / base if base else None

    @property
    def met(self) -> bool | None:
        """Whether the median meets the target; None without a target."""
        return None if self.target is None else self.target.met(self.median)


def table(figures: list[Figure]) -> str:
    """The figures as an aligned plain-text table."""
    header = ("scenario", "metric", "median", "runs", "baseline", "ratio", "target", "met")
    rows = [header]
    for figure in figures:
        baseline = (
            f"{figure.baseline} {_number(statistics.median(figure.baseline_runs))}"
            if figure.baseline and figure.baseline_runs
            else ""
        )
        ratio = figure.ratio
        rows.append(
            (
                figure.scenario,
                figure.metric,
                f"{_number(figure.median)} {figure.unit}",
                " ".join(_number(run) for run in figure.runs),
                baseline,
                f"{ratio:.2f}×" if ratio is not None else "",
                str(figure.target) if figure.target else "",
                {None: "", True: "yes", False: "NO"}[figure.met],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def save(figures: list[Figure], path: Path, context: dict[str, object]) -> None:
    """Write the figures and the run's context (machine, options) as JSON."""
    data = {
        "context": context,
        "figures": [
            {**asdict(figure), "median": figure.median, "ratio": figure.ratio, "met": figure.met}
            for figure in figures
        ],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}".replace(",", " ")
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
