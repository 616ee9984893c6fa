"""What every benchmark reports: figures measured against a baseline of the same run.

A `Figure` is one measured quantity over several repeats (min/median/max are all kept: on a
noisy 2-core machine one number hides too much), with, where the benchmark has one, the
baseline it is compared to (measured in the same run, interleaved where possible) and the
target. `BenchContext` is what a benchmark module gets: settings, its own namespace, repeat
count and a `smoke` flag (a smoke run measures for about a second, only to prove the code works).

A benchmark module exposes `run(ctx: BenchContext) -> list[Figure]`; `bench.__main__` runs them
and writes bench/results/<bench>.json and <bench>.md and a history.md row each (`bench.report`).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.progress import Progress

from otcdesk.settings import Settings

Goal = Literal["ratio>=", "value>=", "value<="]
#: patience for a scratch namespace's topics to get partition leaders: on a 2-core machine at load
#: 40+ (several sessions' desks and suites) the broker took more than the desk's default 30 s
TOPICS_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Target:
    """`ratio>=` compares median/median-of-baseline; `value>=`/`value<=` the median itself."""

    goal: Goal
    threshold: float

    def met(self, figure: Figure) -> bool | None:
        if self.goal == "ratio>=":
            ratio = figure.ratio
            return None if ratio is None else ratio >= self.threshold
        if not figure.runs:
            return None
        return figure.median >= self.threshold if self.goal == "value>=" else figure.median <= self.threshold

    def __str__(self) -> str:
        subject = "ratio" if self.goal == "ratio>=" else ""
        op = self.goal.removeprefix("ratio").removeprefix("value")
        return f"{subject} {op} {self.threshold:g}".strip()


@dataclass(frozen=True)
class Figure:
    bench: str  # module name: serde, producer, stages, latency, lifecycle, sink, sql, scaling
    name: str  # what was measured, e.g. "rfq encode", "quote-engine drain"
    unit: str  # events/s, rows/s, ms, s
    runs: tuple[float, ...]
    baseline: str | None = None  # what the baseline is, e.g. "fastavro schemaless_writer"
    baseline_runs: tuple[float, ...] = ()
    target: Target | None = None
    note: str = ""  # what limits it, method details
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping in the JSON

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_runs) if self.baseline_runs else None

    @property
    def ratio(self) -> float | None:
        """median / baseline median (for rates: the desk's share of what the raw tool does)."""
        base = self.baseline_median
        return None if not base or not self.runs else self.median / base

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self)

    def as_json(self) -> dict[str, Any]:
        def stats(values: Sequence[float]) -> dict[str, Any] | None:
            if not values:
                return None
            return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": list(values)}

        return {
            "bench": self.bench,
            "name": self.name,
            "unit": self.unit,
            "value": stats(self.runs),
            "baseline": self.baseline,
            "baseline_value": stats(self.baseline_runs),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "target": None if self.target is None else str(self.target),
            "met": self.met,
            "note": self.note,
            "extra": self.extra,
        }


@dataclass
class BenchContext:
    settings: Settings
    repeats: int = 3
    smoke: bool = False
    progress: Progress | None = None
    seed: int = 7

    def namespace(self, bench: str) -> Settings:
        """Settings of a fresh namespace (topics/groups `otcdesk-bench-<bench>-<id>-...`)."""
        ns = f"bench-{bench}-{uuid.uuid4().hex[:6]}-"
        return self.settings.model_copy(update={"namespace": ns})

    @contextmanager
    def scratch_namespace(self, bench: str) -> Iterator[Settings]:
        """A fresh namespace with the desk's nine topics (same partitions and retention as the
        desk's), deleted with its consumer groups afterwards, also when the benchmark fails:
        `make bench` runs on a shared broker and must leave nothing behind."""
        from otcdesk.topics import create_topics, delete_namespace

        settings = self.namespace(bench)
        created = False
        try:
            create_topics(settings, timeout_s=TOPICS_TIMEOUT_S)
            created = True
            yield settings
        finally:
            delete_namespace(settings, wait_for_members=True)
            for _ in range(0 if created else 3):  # a create that timed out may surface its topics late
                time.sleep(5.0)
                delete_namespace(settings)

    @contextmanager
    def scratch_database(self, bench: str, *, migrated: bool = True) -> Iterator[tuple[Any, str]]:
        """(admin runner, name) of a fresh ClickHouse database (the desk's tables when `migrated`),
        dropped afterwards whatever happened."""
        from otcdesk.db import client
        from otcdesk.db.migrate import migrate

        name = f"otcdesk_bench_{bench}_{uuid.uuid4().hex[:6]}"
        runner = client.admin(self.settings)
        try:
            if migrated:
                migrate(runner, name)
            else:
                runner.execute(f"CREATE DATABASE {name}")
            yield runner, name
        finally:
            runner.execute(f"DROP DATABASE IF EXISTS {name}")
            runner.close()

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    def task(self, description: str, total: float | None) -> Callable[[float], None]:
        """A progress bar line; returns `advance(n)`."""
        if self.progress is None:
            return lambda n: None
        progress = self.progress
        task_id = progress.add_task(description, total=total)
        return lambda n: progress.advance(task_id, n)


def interleaved(repeats: int, *measures: Callable[[], float]) -> list[list[float]]:
    """Run each measure once per repeat, alternating, so noise hits every side alike."""
    runs: list[list[float]] = [[] for _ in measures]
    for _ in range(repeats):
        for out, measure in zip(runs, measures, strict=True):
            out.append(measure())
    return runs
