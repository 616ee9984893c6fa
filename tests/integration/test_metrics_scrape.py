"""Every /metrics endpoint the desk's dashboard reads, scraped on the real stack while a desk runs:
each metric a panel queries exists there and moves.

`otcdesk run all --sink` (the supervisor, the feed, the stage processes of the default layout and
the sink: one endpoint each, ports from a free base) and `otcdesk lag --serve` run in a namespace
of this test, the sink into a scratch database. Every endpoint is scraped once before the desk has
work; then the feed is killed -9 (the supervisor restarts it), a garbage record goes on `rfq` (a
dead letter for the aggregator and the sink) and `otcdesk rfq load` sends a few dozen seeded RFQs.
The endpoints are scraped again until every selector of the dashboard's PromQL has moved: a
counter or a histogram's count rose, a gauge is there (the event-time delay for every stage, the
lag gauges for every desk group), the restarted feed has a new process start time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otcdesk.db import client
from otcdesk.db.migrate import migrate
from otcdesk.kafka import EventProducer
from otcdesk.settings import Settings
from streams import STAGES
from tests import dashboard
from tests.integration.desk import OTCDESK, env_of, namespace, processes, tails
from tests.ports import free_ports

pytestmark = pytest.mark.integration

#: A sample: (metric name, frozenset of its labels) -> value.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
#: Scrapes of every endpoint by process name ({} for an endpoint that does not answer).
Scrape = dict[str, Samples]
RFQS, RFQ_RATE = 30, 3  # `rfq load`: ten wall seconds of RFQs
DEADLINE_S = 120  # to wait for the endpoints, then for everything to move
#: Series the dashboard shows per stage, which every stage moves in a session with deals.
EVERY_STAGE = ("otcdesk_stage_events_in_total", "otcdesk_stage_handler_seconds_count")


def _scrape(port: int) -> Samples:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _matching(samples: Samples, name: str, labels: frozenset[tuple[str, str]]) -> dict[frozenset, float]:
    return {key: value for (sample, key), value in samples.items() if sample == name and labels <= key}


def _rose(before: Scrape, after: Scrape, name: str, labels: frozenset[tuple[str, str]]) -> bool:
    """A counter of this selector went up on some endpoint (one restarted since counts from 0)."""
    for process, samples in after.items():
        restarted = _start_time(before.get(process, {})) != _start_time(samples)
        earlier = {} if restarted else _matching(before.get(process, {}), name, labels)
        if any(value > earlier.get(key, 0.0) for key, value in _matching(samples, name, labels).items()):
            return True
    return False


def _start_time(samples: Samples) -> float | None:
    return samples.get(("process_start_time_seconds", frozenset()))


def _unmoved(before: Scrape, after: Scrape, settings: Settings, restarted: str) -> list[str]:
    """The dashboard's selectors that have not moved yet, each with what was expected of it."""
    merged: Samples = {k: v for samples in after.values() for k, v in samples.items()}
    groups = {settings.group(stage) for stage in (*STAGES, "sink")}
    wrong = []
    for name, labels in sorted(dashboard.selectors(dashboard.load()), key=str):
        if name.endswith("_bucket"):  # a histogram: its count rises
            name = name.removesuffix("_bucket") + "_count"
        if name in EVERY_STAGE and "stage" not in dict(labels):
            wrong += [
                f"{name} of {stage} did not rise"
                for stage in STAGES
                if not _rose(before, after, name, labels | {("stage", stage)})
            ]
        elif name.endswith(("_total", "_count")):
            if not _rose(before, after, name, labels):
                wrong.append(f"{name}{dict(labels)} did not rise")
        elif name.startswith("otcdesk_lag_"):
            seen = {dict(key).get("group") for key in _matching(merged, name, labels)}
            if missing := groups - seen:
                wrong.append(f"{name} has no series for {sorted(missing)}")
        elif name == "otcdesk_stage_event_time_delay_seconds":
            seen = {dict(key).get("stage") for key in _matching(merged, name, labels)}
            if missing := set(STAGES) - seen:
                wrong.append(f"{name} has no series for {sorted(missing)}")
        elif name == "process_start_time_seconds":
            if silent := sorted(p for p, samples in after.items() if _start_time(samples) is None):
                wrong.append(f"{name} missing on {silent}")
            if _start_time(after.get(restarted, {})) == _start_time(before[restarted]):
                wrong.append(f"{name} of {restarted} did not change after its restart")
        elif not _matching(merged, name, labels):
            wrong.append(f"{name}{dict(labels)} is missing")
    return wrong


def _desk_ports(log: Path, proc: subprocess.Popen) -> tuple[dict[str, int], dict[str, int]]:
    """Metrics port and pid of every process, from `run all --json`'s first document."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        text = log.read_text() if log.exists() else ""
        if "{" in text:
            try:
                started, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
                break
            except json.JSONDecodeError:
                pass
        assert proc.poll() is None and time.monotonic() < deadline, text[-3000:]
        time.sleep(0.2)
    rows = started["processes"]
    return {r["process"]: r["metrics_port"] for r in rows}, {r["process"]: r["pid"] for r in rows}


@contextmanager
def _scratch_database(stack: Settings) -> Iterator[str]:
    database = f"otcdesk_it_scrape_{uuid.uuid4().hex[:10]}"
    runner = client.admin(stack)
    try:
        migrate(runner, database)
        yield database
    finally:
        runner.execute(f"DROP DATABASE IF EXISTS {database}")
        runner.close()


def test_every_metric_the_dashboard_queries_exists_and_moves(stack: Settings, tmp_path: Path) -> None:
    base = free_ports(8)  # below the ephemeral range, in this xdist worker's slice (tests/ports.py)
    lag_port = base + 7
    with (
        namespace(stack) as settings,
        _scratch_database(stack) as database,
        processes(
            settings,
            {
                "desk": ["run", "all", "--seed", "7", "--sink", "--json"],
                "lag": ["lag", "--serve", str(lag_port), "--interval", "1"],
            },
            tmp_path,
            OTCDESK_METRICS__BASE_PORT=str(base),
            OTCDESK_SINK__DATABASE=database,
            OTCDESK_SINK__REPORT_EVERY_S="1",
        ) as running,
    ):
        ports, pids = _desk_ports(tmp_path / "desk.log", running["desk"])
        ports["lag-exporter"] = lag_port

        def scrape() -> Scrape:
            for name, proc in running.items():
                assert proc.poll() is None, f"{name} exited {proc.returncode}\n{tails(tmp_path)}"
            return {process: _scrape(port) for process, port in ports.items()}

        deadline = time.monotonic() + DEADLINE_S
        before = scrape()
        while not all(before.values()):
            assert time.monotonic() < deadline, f"endpoints down: {[p for p, s in before.items() if not s]}"
            time.sleep(0.5)
            before = scrape()

        os.kill(pids["feed"], signal.SIGKILL)  # a crash: the supervisor restarts it
        with EventProducer(settings) as producer:
            producer.produce_bytes(settings.topic("rfq"), b"garbage-key", b"\xc3\x01 not avro")
        load = subprocess.run(
            [*OTCDESK, "rfq", "load", "--rate", str(RFQ_RATE), "--duration", str(RFQS / RFQ_RATE), "--seed", "7"],
            env=env_of(settings),
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        assert load.returncode == 0, load.stderr[-3000:]

        deadline = time.monotonic() + DEADLINE_S
        while unmoved := _unmoved(before, scrape(), settings, restarted="feed"):
            assert time.monotonic() < deadline, "\n".join(unmoved) + "\n" + tails(tmp_path)
            time.sleep(1)
