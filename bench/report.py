"""Writing a bench run down: the latest run of each benchmark, and a history of every run.

For each benchmark a run measured, `<out>/<bench>.json` (the machine: CPUs, load at start,
versions, commit; and every figure with its repeats, baseline, ratio, target and verdict) and
`<bench>.md` (the same as tables) are overwritten: they always hold that benchmark's latest run.
`<out>/history.md` gets one row per benchmark run on top of its table (newest first): the time,
the benchmark, the commit, the load at start, the headline figure(s) and whether the target was
met. A benchmark that failed keeps its files and gets a row saying so.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core import Figure

PACKAGES = ("faust-streaming", "aiokafka", "confluent-kafka", "fastavro", "clickhouse-driver", "ccxt")
HISTORY = "history.md"
HISTORY_HEADER = """# Benchmark history

One row per benchmark run, newest first, added by `python -m bench`. Load: the machine's 1-minute
load when the run started. Headline: the figures with a target (when more than four: how many and
the one furthest from its target), else the first three figures. The latest run of each benchmark
in full: `<bench>.md` and `<bench>.json` beside this file; the method: bench/README.md.

| finished (UTC) | benchmark | commit | load at start | headline | target met |
|---|---|---|---|---|---|
"""
#: the most figures a history row names one by one
HEADLINE_FIGURES = 4


def machine(settings: Any) -> dict[str, Any]:
    """What the figures were measured on: CPUs, load, versions of everything in the path."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        from otcdesk.db import client

        runner = client.admin(settings)
        clickhouse = runner.engine
        runner.close()
    except Exception as exc:  # noqa: BLE001 - a report without it is still a report
        clickhouse = f"unknown ({exc})"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "clickhouse": clickhouse,
        "kafka": _kafka_version(settings),
        "commit": commit,
    }


def _kafka_version(settings: Any) -> str | None:
    pom = settings.repo_root / "infra" / "kafka" / "pom.xml"
    if not pom.exists():
        return None
    text = pom.read_text()
    start = text.find("<kafka.version>")
    return text[start + 15 : text.find("</kafka.version>")] if start >= 0 else None


def write(
    out_dir: Path,
    figures: Sequence[Figure],
    meta: dict[str, Any],
    ran: Sequence[str],
    *,
    finished: Mapping[str, str] | None = None,
    failed: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write the run of the benchmarks `ran` (in run order): each one's `<bench>.json` and `.md`,
    and a history row each, the failed ones' (name -> error) included. `finished` is each
    benchmark's ISO end time (default: now). Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    ends = {name: (finished or {}).get(name, now) for name in [*ran, *(failed or {})]}
    written: list[Path] = []
    rows: list[tuple[str, str]] = []
    for name in ran:
        data = bench_data(name, {**meta, "benches": list(ran), "finished": ends[name]}, [f.as_json() for f in figures])
        written += write_bench(out_dir, data)
        rows.append((ends[name], history_row(data)))
    for name, error in (failed or {}).items():
        run = {**meta, "benches": list(ran), "finished": ends[name]}
        rows.append((ends[name], history_row(bench_data(name, run, []), failed=error)))
    rows.sort(key=lambda r: r[0], reverse=True)
    written.append(add_history(out_dir, [row for _, row in rows]))
    return written


def bench_data(name: str, run: dict[str, Any], figures: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What `<bench>.json` holds: one run's machine and metadata, and that benchmark's figures."""
    return {
        "bench": name,
        "date": str(run.get("finished", ""))[:10],
        "runs": [run],
        "figures": [f for f in figures if f["bench"] == name],
    }


def write_bench(out_dir: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    json_path, md_path = out_dir / f"{data['bench']}.json", out_dir / f"{data['bench']}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown(data))
    return json_path, md_path


def add_history(out_dir: Path, rows: Sequence[str]) -> Path:
    """Put `rows` (newest first) on top of history.md's table, creating the file if need be."""
    path = out_dir / HISTORY
    text = path.read_text() if path.exists() else HISTORY_HEADER
    lines = text.splitlines()
    separator = next(i for i, line in enumerate(lines) if line.startswith("|---"))
    lines[separator + 1 : separator + 1] = rows
    path.write_text("\n".join(lines) + "\n")
    return path


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def history_row(data: dict[str, Any], *, failed: str | None = None) -> str:
    """One history line of a benchmark's run (`bench_data`'s shape)."""
    run = data["runs"][-1]
    when = str(run.get("finished", "")).replace("T", " ")[:16]
    if "loadavg_at_start" in run:
        load = f"{run['loadavg_at_start'][0]:.1f}"
    elif run.get("loadavg_at_end"):
        load = f"{run['loadavg_at_end'][0]:.1f} at end"
    else:
        load = ""
    bench = data["bench"] + (" (smoke)" if run.get("smoke") else "")
    if failed is not None:
        text, met = f"failed: {failed}"[:200], ""
    else:
        text, met = headline(data["figures"])
    return f"| {when} | {bench} | {run.get('commit') or ''} | {load} | {_cell(text)} | {met} |"


def _distance(fig: dict[str, Any]) -> float:
    """How far a figure is from its target: its value over what the target asks, below 1 = missed."""
    op, _, threshold = str(fig["target"]).rpartition(" ")
    value = fig["ratio"] if op.startswith("ratio") else (fig["value"] or {}).get("median")
    if value is None or not float(threshold):
        return float("-inf")
    return value / float(threshold) if ">=" in op else (float(threshold) / value if value else float("inf"))


def _figure(fig: dict[str, Any]) -> str:
    value = fig["value"]
    text = f"{fig['name']} {_num(value['median'])} {fig['unit']}" if value else f"{fig['name']} (none)"
    return text + (f", ratio {_num(fig['ratio'])}" if fig["ratio"] is not None else "")


def headline(figures: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(the headline figures, whether the targets were met: yes / no / k of n / blank)."""
    targeted = [f for f in figures if f["target"] is not None]
    judged = [f["met"] for f in targeted if f["met"] is not None]
    met = (
        "" if not judged else "yes" if all(judged) else "no" if len(judged) == 1 else f"{sum(judged)} of {len(judged)}"
    )
    shown = targeted or list(figures[:3])
    if len(shown) <= HEADLINE_FIGURES:
        return "; ".join(_figure(f) for f in shown), met
    furthest = min(targeted, key=_distance)
    return f"{len(targeted)} figures with a target; furthest from it: {_figure(furthest)} ({furthest['target']})", met


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def markdown(data: dict[str, Any]) -> str:
    """The tables of `data` (a `<bench>.json`, or {"date", "runs", "figures"} for a printout)."""
    one = data.get("bench")
    lines = [
        f"# Benchmark {one}, {data['date']}" if one else f"# Benchmarks {data['date']}",
        "",
        "Each figure: median of the repeats (min-max in brackets), its baseline measured in the same",
        "run, the ratio median/baseline median, the target and whether it is met.",
        "Method and limits: bench/README.md" + ("; the earlier runs: history.md." if one else "."),
        "",
    ]
    for run in data["runs"]:
        pk = ", ".join(f"{k} {v}" for k, v in run.get("packages", {}).items())
        load = (
            ("at start", run["loadavg_at_start"])
            if "loadavg_at_start" in run
            else ("at end", run.get("loadavg_at_end", []))
        )
        lines.append(
            f"- run {run.get('finished')}: {run.get('benches')} on {run.get('cpus')} CPUs, load {load[0]} "
            f"{[round(x, 2) for x in load[1]]}, Python {run.get('python')}, "
            f"Kafka {run.get('kafka')}, {run.get('clickhouse')}, commit {run.get('commit')}; {pk}"
            + (f". Note: {run['note']}" if run.get("note") else "")
        )
    lines.append("")
    bench = None
    for fig in data["figures"]:
        if fig["bench"] != bench:
            bench = fig["bench"]
            lines += [
                "",
                f"## {bench}",
                "",
                "| figure | value | baseline | ratio | target | met | note |",
                "|---|---|---|---|---|---|---|",
            ]
        value, base = fig["value"], fig["baseline_value"]
        cell = f"{_num(value['median'])} {fig['unit']} ({_num(value['min'])}-{_num(value['max'])})" if value else ""
        bcell = f"{fig['baseline']}: {_num(base['median'])} ({_num(base['min'])}-{_num(base['max'])})" if base else ""
        met = {True: "yes", False: "**no**", None: ""}[fig["met"]]
        lines.append(
            f"| {fig['name']} | {cell} | {bcell} | {_num(fig['ratio'])} | {fig['target'] or ''} | {met} "
            f"| {fig['note']} |"
        )
    return "\n".join(lines) + "\n"
