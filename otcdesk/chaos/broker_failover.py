"""Scenario 8: on a three-broker cluster, the leader of the busiest partitions killed (SIGKILL) mid-session.

A throwaway cluster (`otcdesk.stack.throwaway_cluster`: three KRaft nodes, every topic replicated
3 with min.insync.replicas 2) and a throwaway ClickHouse carry the same seeded session twice, with
the sink: clean, then with the fault. Once a share of the RFQs is answered, the broker leading the
partitions that hold the most records is killed with SIGKILL; the others elect new leaders (the
group coordinators move with `__consumer_offsets`), the broker stays down `down_s` more, starts
again on its own data and ports and catches up. Nothing is done to the desk's processes. Judged
against the clean run: the same session (digest and every deal line), the same records on every
topic (none lost, none doubled), and in ClickHouse every event of the topics stored once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from confluent_kafka.admin import AdminClient

from otcdesk.chaos import leaders
from otcdesk.chaos.figures import Figures
from otcdesk.chaos.flow import scratch_database, stop_session
from otcdesk.chaos.ledger import TopicLedger, compare, read_ledger, stored
from otcdesk.chaos.session_faults import summary_differences
from otcdesk.db import client
from otcdesk.errors import DeskError
from otcdesk.session import SessionRunner
from otcdesk.settings import ALL_TOPICS, CONTROL_TOPICS, Settings
from otcdesk.simulate import SessionPlan, SessionSummary
from otcdesk.stack.throwaway import ThrowawayClickHouse, _url
from otcdesk.stack.throwaway_cluster import ThrowawayCluster

NAMESPACE = "chaos.failover-"
Say = Callable[[str], None]


@dataclass
class Run:
    summary: SessionSummary
    deal_lines: list[str]
    complete: bool
    wall_s: float
    restarts: dict[str, int]
    ledger: TopicLedger
    events: int  # distinct events the session's tail read (events_at_kill counts the same way)


class Failover:
    """The fault, injected from the session loop once `at_share` of the RFQs are answered."""

    def __init__(self, cluster: ThrowawayCluster, at_share: float, down_s: float, say: Say) -> None:
        self.cluster, self.at_share, self.down_s, self.say = cluster, at_share, down_s, say
        self.detail: dict[str, object] = {}
        self.killed_at: float | None = None
        self.resumed_s: float | None = None  # from the kill until a partition it led took a new record
        self._watch: dict[tuple[str, int], int] = {}  # the desk partitions it led -> end offset at the kill
        self._admin: AdminClient | None = None
        self._looked = 0.0

    def tick(self, runner: SessionRunner) -> None:
        if self.killed_at is None and runner.tally.answered >= self.at_share * len(runner.rfqs):
            self._inject(runner)
        elif self._watch and self.resumed_s is None and time.monotonic() - self._looked > 0.5:
            assert self._admin is not None and self.killed_at is not None
            self._looked = time.monotonic()
            ends = leaders.end_offsets(self._admin, list(self._watch))
            if any(end > self._watch[tp] for tp, end in ends.items()):
                self.resumed_s = self._looked - self.killed_at

    def _step(self, runner: SessionRunner) -> None:
        for line in runner.step(0.1):
            self.say(line)
        self.tick(runner)

    def _inject(self, runner: SessionRunner) -> None:
        topics = [runner.settings.topic(t) for t in (*ALL_TOPICS, *CONTROL_TOPICS)] + [leaders.OFFSETS_TOPIC]
        admin = self._admin = leaders.admin(runner.settings)
        before = leaders.leadership(admin, topics)
        led, ends = leaders.records_led(admin, before)
        victim = max(sorted(led), key=lambda node: led[node])
        events_at_kill = runner.tally.events
        self.cluster.nodes[victim].kill()
        self.killed_at = time.monotonic()
        self.say(
            f"broker {victim} killed (SIGKILL): it led {len(before.led_by(victim))} partitions, "
            f"{led[victim]} of {sum(led.values())} records; {runner.tally.answered} RFQs answered"
        )
        step = lambda: self._step(runner)  # noqa: E731 - the one-line callback wait_for polls
        election_s = leaders.wait_for(leaders.elected_without(victim), admin, topics, step, 120.0)
        self._watch = {tp: ends.get(tp, 0) for tp in before.led_by(victim) if tp[0] != leaders.OFFSETS_TOPIC}
        self.say(f"new leaders for all {len(before.leaders)} partitions after {_round(election_s)} s")
        while time.monotonic() < self.killed_at + (election_s or 0.0) + self.down_s:
            step()
        node, began = self.cluster.nodes[victim], time.monotonic()
        node.spawn()
        while not node.probe().ok:
            if time.monotonic() - began > 240:
                raise DeskError(f"broker {victim} did not come back in 240 s: {node.probe().detail}")
            step()
        restart_s = time.monotonic() - began
        in_sync_s = leaders.wait_for(leaders.in_sync(len(self.cluster.nodes)), admin, topics, step, 300.0)
        self.say(f"broker {victim} back in {restart_s:.1f} s, every partition in sync {_round(in_sync_s)} s later")
        self.detail = {
            "victim": victim,
            "victim_was_controller": before.controller == victim,
            "partitions_led": len(before.led_by(victim)),
            "records_led": dict(led),
            "election_s": _round(election_s),
            "down_s": self.down_s,
            "restart_s": round(restart_s, 1),
            "in_sync_s": _round(in_sync_s),
            "events_at_kill": events_at_kill,
        }


def run(
    settings: Settings,
    home: Path,
    *,
    rfqs: int = 12,
    rate: float = 0.002,
    at_share: float = 0.4,
    down_s: float = 5.0,
    seed: int = 7,
    namespace: str = NAMESPACE,
    say: Say = print,
    timeout_s: float = 900.0,
) -> Figures:
    database = ThrowawayClickHouse(home / "clickhouse", settings)
    database.start()
    cluster = ThrowawayCluster(home / "kafka", settings, clickhouse_url=_url(database.endpoint))
    plan = SessionPlan(seed=seed, speed=None, rfqs=rfqs, rate_per_s=rate, namespace=namespace)
    try:
        say(f"cluster of {len(cluster.nodes)} brokers up in {cluster.start():.1f} s: {cluster.bootstrap}")
        with mock.patch.dict(os.environ, cluster.env()):  # the supervisor's children inherit it
            desk = cluster.settings()
            clean = _session(desk, plan, home / "logs" / "clean", None, say, timeout_s)
            clean_rows = _stored(desk, clean.ledger)
            failover = Failover(cluster, at_share, down_s, say)
            faulted = _session(desk, plan, home / "logs" / "faulted", failover, say, timeout_s)
            faulted_rows = _stored(desk, faulted.ledger)
            replication = leaders.replication_of(leaders.admin(desk), f"{namespace}rfq")
    finally:
        cluster.stop()
        database.stop()
    return _figures(clean, faulted, failover, clean_rows, faulted_rows, replication)


def _session(
    settings: Settings, plan: SessionPlan, logs: Path, failover: Failover | None, say: Say, timeout_s: float
) -> Run:
    """One session with the sink into an empty event log, to its end and the sink's lag 0."""
    admin = client.admin(settings)
    scratch_database(admin, settings.clickhouse.database)
    admin.close()
    runner = SessionRunner(settings, plan, startup_s=10.0, with_sink=True)
    runner.supervisor.logs = logs
    runner.prepare()
    began, complete = time.monotonic(), False
    try:
        runner.start()
        while time.monotonic() - began < timeout_s and not complete:
            for line in runner.step():
                say(line)
            if failover is not None:
                failover.tick(runner)
            complete = runner.ended and runner.tally.done and runner.sink_lag() == 0
        wall_s = time.monotonic() - began
        restarts = {c.name: c.restarts for c in runner.supervisor.children if c.restarts}
    finally:
        stop_session(runner)
    say(f"session {'complete' if complete else 'INCOMPLETE'} in {wall_s:.0f} s, digest {runner.tally.summary().digest}")
    return Run(
        runner.tally.summary(),
        runner.tally.deal_lines(),
        complete,
        wall_s,
        restarts,
        read_ledger(runner.settings),
        runner.tally.events,
    )


def _stored(settings: Settings, ledger: TopicLedger) -> dict[str, list[int]]:
    runner = client.admin(settings)
    try:
        tables = stored(runner, settings.clickhouse.database, ledger)
    finally:
        runner.close()
    return {name: [t.expected, t.final, t.distinct, t.missing] for name, t in tables.items()}


def _figures(
    clean: Run,
    faulted: Run,
    failover: Failover,
    clean_rows: dict[str, list[int]],
    faulted_rows: dict[str, list[int]],
    replication: tuple[int, int],
) -> Figures:
    topics = compare(clean.ledger, faulted.ledger)
    rows = faulted.ledger.rows()
    differences = summary_differences(clean.summary, faulted.summary, clean.deal_lines, faulted.deal_lines)
    differences += ["digest"] if clean.summary.digest != faulted.summary.digest else []
    same = clean.complete and faulted.complete and not differences
    figures = Figures(
        "broker-failover",
        faults=1 if failover.killed_at is not None else 0,
        processed=faulted.ledger.records,
        lost=sum(lost for lost, _ in topics.values()) + sum(r[3] for r in faulted_rows.values()),
        duplicated=sum(d for _, d in topics.values()) + sum(r[1] - r[2] for r in faulted_rows.values()),
        recover_s=[failover.resumed_s] if failover.resumed_s is not None else [],
    )
    figures.detail = failover.detail | {
        "same_session": same,
        "differences": differences,
        "digests": [clean.summary.digest, faulted.summary.digest],
        "complete": [clean.complete, faulted.complete],
        "wall_s": [round(clean.wall_s, 1), round(faulted.wall_s, 1)],
        "rfqs": faulted.summary.rfqs,
        "answered": faulted.summary.answered,
        "deals": faulted.summary.deals,
        "events_total": faulted.ledger.records,
        "events_tallied": faulted.events,
        "replication": list(replication),
        "restarts": {"clean": clean.restarts, "faulted": faulted.restarts},
        "topics": {t: [*rows.get(t, (0, 0)), *topics[t]] for t in topics},  # records, distinct, lost, doubled
        "clickhouse": faulted_rows,  # table: topics' distinct ids, FINAL rows, distinct stored, missing
        "clickhouse_clean_missing": sum(r[3] for r in clean_rows.values()),
    }
    return figures


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
