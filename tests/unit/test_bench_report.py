"""bench.report's files: the latest run of each benchmark, overwritten, and history.md's rows on top."""

from __future__ import annotations

import json
from pathlib import Path

from bench import report
from bench.core import Figure, Target

META = {"cpus": 2, "loadavg_at_start": (0.5, 0.4, 0.3), "python": "3.11.7", "packages": {}, "commit": "abc1234"}


def figures(bench: str, value: float) -> list[Figure]:
    return [
        Figure(bench, f"{bench} rate", "events/s", (value, value + 2), "plain", (value * 2,), Target("ratio>=", 0.4)),
        Figure(bench, f"{bench} size", "bytes", (10.0,)),
    ]


def rows(out: Path) -> list[str]:
    lines = (out / report.HISTORY).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|---")) + 1
    return lines[start:]


def test_a_run_writes_each_benchmark_and_a_history_row_each(tmp_path: Path) -> None:
    written = report.write(
        tmp_path,
        figures("serde", 100.0) + figures("sink", 50.0),
        META,
        ["serde", "sink"],
        finished={"serde": "2026-01-02T10:00:00+00:00", "sink": "2026-01-02T10:05:00+00:00"},
    )
    names = [report.HISTORY, "serde.json", "serde.md", "sink.json", "sink.md"]
    assert sorted(p.name for p in written) == names
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    serde = json.loads((tmp_path / "serde.json").read_text())
    assert serde["bench"] == "serde" and [f["name"] for f in serde["figures"]] == ["serde rate", "serde size"]
    (run,) = serde["runs"]
    assert run["commit"] == "abc1234" and run["benches"] == ["serde", "sink"]
    assert run["finished"] == "2026-01-02T10:00:00+00:00"
    md = (tmp_path / "sink.md").read_text()
    assert md.startswith("# Benchmark sink, 2026-01-02") and "| sink rate | 51.0 events/s (50.0-52.0) |" in md
    assert "serde" not in md.split("## sink")[1]
    assert rows(tmp_path) == [  # newest first
        "| 2026-01-02 10:05 | sink | abc1234 | 0.5 | sink rate 51.0 events/s, ratio 0.51 | yes |",
        "| 2026-01-02 10:00 | serde | abc1234 | 0.5 | serde rate 101 events/s, ratio 0.505 | yes |",
    ]


def test_a_second_run_overwrites_only_its_benchmark_and_adds_a_row_on_top(tmp_path: Path) -> None:
    report.write(tmp_path, figures("serde", 100.0) + figures("sink", 50.0), META, ["serde", "sink"])
    sink_before = (tmp_path / "sink.json").read_text(), (tmp_path / "sink.md").read_text()
    before = rows(tmp_path)
    meta = {**META, "commit": "def5678", "loadavg_at_start": (3.0, 2.0, 1.0)}
    report.write(tmp_path, figures("serde", 20.0), meta, ["serde"], finished={"serde": "2099-01-01T00:00:00+00:00"})
    assert ((tmp_path / "sink.json").read_text(), (tmp_path / "sink.md").read_text()) == sink_before
    serde = json.loads((tmp_path / "serde.json").read_text())
    assert serde["runs"][0]["commit"] == "def5678" and serde["figures"][0]["value"]["median"] == 21.0
    assert "| serde rate | 21.0 events/s (20.0-22.0) |" in (tmp_path / "serde.md").read_text()
    assert rows(tmp_path) == [
        "| 2099-01-01 00:00 | serde | def5678 | 3.0 | serde rate 21.0 events/s, ratio 0.525 | yes |",
        *before,
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "history.md",
        "serde.json",
        "serde.md",
        "sink.json",
        "sink.md",
    ]


def test_a_failed_benchmark_keeps_its_files_and_gets_a_row(tmp_path: Path) -> None:
    report.write(tmp_path, figures("sql", 5.0), META, ["sql"])
    kept = (tmp_path / "sql.json").read_text()
    report.write(tmp_path, [], META, [], failed={"sql": "TimeoutError: no leader"})
    assert (tmp_path / "sql.json").read_text() == kept
    assert rows(tmp_path)[0].endswith("| sql | abc1234 | 0.5 | failed: TimeoutError: no leader |  |")


def test_headline_of_many_targets_counts_them_and_names_the_furthest() -> None:
    figs = [
        Figure("sql", f"q{i} over 1M", "s", (float(i),), target=Target("value<=", 2.0)).as_json()
        for i in (1, 1, 1, 1, 3)
    ]
    figs.append(Figure("sql", "q9 over 1M", "s", (8.0,), target=Target("value<=", 2.0)).as_json())
    text, met = report.headline(figs)
    assert met == "4 of 6" and text == "6 figures with a target; furthest from it: q9 over 1M 8 s (<= 2)"
    assert report.headline([Figure("scaling", "1 worker", "events/s", (380.0,)).as_json()]) == (
        "1 worker 380 events/s",
        "",
    )
