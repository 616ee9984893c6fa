"""Writing a bench run down: bench/results/<date>.json (everything) and <date>.md (the tables).

A run of only some benchmarks (`--only`) merges into the day's file: figures of the benchmarks
it ran replace that day's earlier ones, the others are kept, so one date has one file.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core import Figure

PACKAGES = ("faust-streaming", "aiokafka", "confluent-kafka", "fastavro", "clickhouse-driver", "ccxt")


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


def write(out_dir: Path, figures: list[Figure], meta: dict[str, Any], ran: set[str]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    json_path, md_path = out_dir / f"{day}.json", out_dir / f"{day}.md"
    kept: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    if json_path.exists():
        old = json.loads(json_path.read_text())
        kept = [f for f in old.get("figures", []) if f["bench"] not in ran]
        runs = old.get("runs", [])
    runs.append({**meta, "benches": sorted(ran), "finished": datetime.now(UTC).isoformat(timespec="seconds")})
    data = {"date": day, "runs": runs, "figures": kept + [f.as_json() for f in figures]}
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown(data))
    return json_path, md_path


def _num(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Benchmarks {data['date']}",
        "",
        "Each figure: median of the repeats (min-max in brackets), its baseline measured in the same",
        "run, the ratio median/baseline median, the target and whether it is met.",
        "Method and limits: bench/README.md.",
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
