"""``python -m bench``: run the benchmarks, print the table, write the JSON.

python -m bench                 # everything, 5 runs each (about 30 minutes)
python -m bench --quick         # small sizes, 2 runs: a smoke run (about 6 minutes)
python -m bench sync serving    # only these scenarios
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import report
from bench.options import BenchOptions

if TYPE_CHECKING:
    from collections.abc import Callable

    Scenario = Callable[[BenchOptions], list[report.Figure]]


def _scenarios() -> dict[str, Scenario]:
    from bench import (  # noqa: PLC0415 - the scenarios import calsync: not for --help
        bigfeed,
        fetching,
        latency,
        oneshot,
        parsing,
        scale,
        serving,
        startup,
        steady,
        syncing,
        ui,
    )

    return {
        "startup": startup.run,
        "parse": parsing.run,
        "fetch": fetching.run,
        "oneshot": oneshot.run,
        "sync": syncing.run,
        "latency": latency.run,
        "serving": serving.run,
        "steady": steady.run,
        "bigfeed": bigfeed.run,
        "ui": ui.run,
        "scale": scale.run,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; exit 0 even when a target is missed (the table says so)."""
    scenarios = _scenarios()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *scenarios],
        metavar="SCENARIO",
        help=f"any of: {', '.join(scenarios)} (default: all)",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per figure (default 5; 2 with --quick)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: checks that it all works"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench/results/latest.json"),
        help="where to write the figures",
    )
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 5)
    figures: list[report.Figure] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="calsync-bench-") as workdir:
        options = BenchOptions(runs=runs, quick=args.quick, workdir=Path(workdir))
        for name in args.names or list(scenarios):
            print(f"== {name}", file=sys.stderr, flush=True)
            figures.extend(scenarios[name](options))
    print(report.table(figures))
    context = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report.save(figures, args.json, context)
    print(f"\nfigures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
