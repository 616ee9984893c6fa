"""`make bench` / `python -m bench`: every benchmark against the real local stack, a results file each.

    python -m bench [--only serde,producer] [--repeats 3] [--smoke] [--out DIR]

Each module in BENCHES exposes `run(ctx) -> list[Figure]` (bench/core.py). Each benchmark run
overwrites `<out>/<bench>.json` and `.md` and adds a row to `<out>/history.md` (bench/report.py).
`--smoke` runs each for about a second (tests/integration/test_bench_smoke.py does, so none can
rot) and writes to --out.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench import report
from bench.core import BenchContext, Figure
from otcdesk.settings import Settings

#: run order: the cheap in-process ones first, the whole lifecycle last
BENCHES = ("serde", "producer", "stages", "scaling", "latency", "sink", "sql", "web", "lifecycle")
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma separated subset of: " + ", ".join(BENCHES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="about a second each: proves the code runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"bench: unknown benchmark {', '.join(unknown)} (known: {', '.join(BENCHES)})", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    console = Console(stderr=True)
    meta = report.machine(settings)  # before the benchmarks: the load at start is the machine's, not ours
    figures: list[Figure] = []
    failed: dict[str, str] = {}  # name -> error
    finished: dict[str, str] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        ctx = BenchContext(
            settings, repeats=1 if args.smoke else args.repeats, smoke=args.smoke, progress=progress, seed=args.seed
        )
        overall = progress.add_task("benchmarks", total=len(names))
        for name in names:
            progress.update(overall, description=f"benchmark {name}")
            try:
                module = importlib.import_module(f"bench.{name}")
                got = module.run(ctx)
            except Exception as exc:  # one broken benchmark must not lose the others' figures
                console.print(f"[red]bench {name} failed: {type(exc).__name__}: {exc}[/red]")
                logging.getLogger("bench").debug("bench %s failed", name, exc_info=True)
                failed[name] = f"{type(exc).__name__}: {exc}"
                got = []
            finished[name] = datetime.now(UTC).isoformat(timespec="seconds")
            figures += got
            progress.advance(overall)
    ran = [n for n in names if n not in failed]
    written = report.write(args.out, figures, {**meta, "smoke": args.smoke}, ran, finished=finished, failed=failed)
    console.print(report.markdown({"date": "", "runs": [], "figures": [f.as_json() for f in figures]}))
    console.print(f"written {', '.join(str(p) for p in written)}")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
