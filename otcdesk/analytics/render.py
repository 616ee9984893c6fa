"""Query results for people and scripts: a rich table, JSON, CSV, or a PNG of a time series.

The table and JSON are `otcdesk.cli.output`'s, as every read command prints them. Decimals are
shown in plain notation without trailing zeros (18.16 returns `4.000000000000` where a current
server returns `4`, so both engines print the same), and stay strings in JSON and CSV, never
floats. Only the plot turns numbers into floats, for matplotlib's axes.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, TextIO

from otcdesk.cli.output import print_json, print_table
from otcdesk.errors import UserError

US_PER_S = 1_000_000


def plain(value: Any) -> Any:
    """A Decimal as exact text without trailing zeros; lists and tuples element-wise."""
    if isinstance(value, Decimal):
        return "0" if value == 0 else format(value.normalize(), "f")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def plain_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[plain(v) for v in row] for row in rows]


def show(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, out: TextIO | None = None
) -> None:
    """`fmt` is table, json or csv."""
    shown = plain_rows(rows)
    if fmt == "json":
        print_json([dict(zip(columns, row, strict=True)) for row in shown])
    elif fmt == "csv":
        writer = csv.writer(out or sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in shown])
    else:
        print_table(title, columns, shown)


def plot(
    path: Path,
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    x: str,
    series: str,
    ys: Sequence[str],
    *,
    stacked: bool = False,
) -> Path:
    """One panel per y column, x an epoch-us column: a line per value of `series`, or bars
    stacked by `series` (counts per bucket read better as bars than as lines between buckets)."""
    if path.suffix.lower() != ".png":
        raise UserError(f"--plot {path}: the plot is a PNG, name the file *.png")
    if not path.parent.is_dir():
        raise UserError(f"--plot {path}: no such directory {path.parent}")
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    at = {name: i for i, name in enumerate(columns)}
    lines: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        lines.setdefault(str(row[at[series]]), []).append(row)
    figure, axes = plt.subplots(len(ys), 1, figsize=(10, 3.2 * len(ys)), sharex=True, squeeze=False)
    for panel, y in zip(axes[:, 0], ys, strict=True):
        if stacked:
            _stacked_bars(panel, lines, at[x], at[y])
        else:
            for name, points in sorted(lines.items()):
                panel.plot([_utc(p[at[x]]) for p in points], [float(p[at[y]]) for p in points], marker=".", label=name)
        panel.set_ylabel(y)
        panel.grid(alpha=0.3)
        if lines:
            panel.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # beside, not over, the data
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("UTC")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / US_PER_S, UTC)


def _stacked_bars(panel: Any, lines: dict[str, list[Sequence[Any]]], x: int, y: int) -> None:
    """Bars as wide as the narrowest gap between buckets, each series stacked on the previous."""
    starts = sorted({row[x] for points in lines.values() for row in points})
    gaps = [b - a for a, b in pairwise(starts)]
    width_days = (min(gaps) if gaps else 3600 * US_PER_S) / US_PER_S / 86400 * 0.8
    base = dict.fromkeys(starts, 0.0)
    for name, points in sorted(lines.items()):
        heights = {row[x]: float(row[y]) for row in points}
        panel.bar(
            [_utc(t) for t in starts],
            [heights.get(t, 0.0) for t in starts],
            width=width_days,
            bottom=[base[t] for t in starts],
            label=name,
            align="edge",
        )
        for t in starts:
            base[t] += heights.get(t, 0.0)


def choose_format(as_json: bool, as_csv: bool) -> str:
    """table, json or csv from the two flags; both at once is a UserError."""
    if as_json and as_csv:
        raise UserError("--json and --csv exclude each other: pick one")
    return "json" if as_json else "csv" if as_csv else "table"
