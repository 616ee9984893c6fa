"""What the scenarios share: a scratch namespace and database, a seeded flow of RFQs published in
the background, desk processes as children that can be killed, and the counts they are judged by.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaException, TopicPartition

from otcdesk.client_sim import ClientSim
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.errors import DeskError
from otcdesk.events import Event, Rfq
from otcdesk.kafka import EventProducer, check_broker, consumer_config
from otcdesk.settings import Settings
from otcdesk.supervisor import OTCDESK, terminate
from otcdesk.topics import delete_namespace, recreate_namespace

if TYPE_CHECKING:
    from otcdesk.session import SessionRunner

log = logging.getLogger(__name__)


def fresh_namespace(settings: Settings, namespace: str) -> Settings:
    """`settings` in `namespace`, whose topics and groups from an earlier run are deleted first."""
    scoped = settings.model_copy(update={"namespace": namespace})
    check_broker(scoped)  # one line naming the fix, not a traceback, when the broker is not there
    recreate_namespace(scoped)
    return scoped


def drop_namespace(settings: Settings) -> None:
    """A scenario's topics and groups go when it ends (`otcdesk lag` lists every otcdesk-* group);
    a failure here is logged, never raised over the scenario's own result."""
    try:
        delete_namespace(settings, wait_for_members=True)
    except (DeskError, KafkaException) as exc:
        log.warning("namespace %s left behind: %s", settings.namespace, exc)


def scratch_database(runner: DriverRunner, name: str) -> str:
    """An empty event log `name` (dropped first), migrated like the desk's own."""
    runner.execute(f"DROP DATABASE IF EXISTS {name}")
    migrate(runner, name)
    return name


def seeded_rfqs(settings: Settings, seed: int, count: int, start_us: int) -> list[Rfq]:
    """`count` RFQs of the client simulator's seeded mix (unique ids, one per second of sim time)."""
    sim = ClientSim(seed, clients=settings.clients, sim=settings.sim, symbols=settings.symbols, source="chaos")
    return [sim.next_rfq(start_us + i * 1_000_000) for i in range(count)]


class Publisher(threading.Thread):
    """Publishes `events` at `rate_per_s` in the background (the live traffic beside a fault)."""

    def __init__(self, settings: Settings, events: list[Event], rate_per_s: float) -> None:
        super().__init__(daemon=True, name="chaos-publisher")
        self.settings, self.events, self.rate = settings, events, rate_per_s
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            began = time.monotonic()
            with EventProducer(self.settings) as producer:
                for event in self.events:
                    ahead = began + self.sent / self.rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
                    producer.produce(event)
                    self.sent += 1
                producer.flush(120)
                if producer.stats.failed:
                    raise DeskError(f"{producer.stats.failed} events not delivered: {producer.stats.errors[:3]}")
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc

    def finish(self, timeout_s: float = 300.0) -> int:
        """Wait for the last acknowledgement; returns the events published."""
        self.join(timeout_s)
        if self.error is not None:
            raise self.error
        if self.is_alive():
            raise DeskError(f"publisher still running after {timeout_s:.0f}s ({self.sent} sent)")
        return self.sent


@dataclass
class Proc:
    """One `otcdesk ...` child process (a sink, a stage) with its own log, killable at will."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self, **extra_env: str) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*OTCDESK, *self.args],
                env={**os.environ, **self.env, **extra_env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        """kill -9, as a crash or the OOM killer would."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM, SIGKILL after `grace_s`; returns the exit code."""
        if self.proc is not None:
            terminate([self.proc], grace_s)
        return self.exit_code

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def sink_proc(settings: Settings, database: str, env: Mapping[str, str], log: Path) -> Proc:
    """`otcdesk sink run` into `database`, as the namespace's own group (deleted with it)."""
    group = settings.group("sink")
    return Proc(
        "sink",
        ("sink", "run", "--group", group, "--database", database),
        {**env, "OTCDESK_NAMESPACE": settings.namespace},
        log,
    )


@dataclass(frozen=True)
class Stored:
    raw: int  # physical rows, merge copies included
    final: int  # rows of the FINAL view: what every exact query sees
    distinct: int  # distinct event_ids


def stored(runner: DriverRunner, database: str, table: str) -> Stored:
    ((raw, distinct),) = runner.query(f"SELECT count(), uniqExact(event_id) FROM {database}.{table}")
    ((final,),) = runner.query(f"SELECT count() FROM {database}.{table} FINAL")
    return Stored(int(raw), int(final), int(distinct))


def wait_until(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.5) -> float | None:
    """Seconds until `check()` held, None if it did not within `timeout_s`."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout_s:
            return None
        time.sleep(poll_s)
    return time.monotonic() - began


def group_offsets(settings: Settings, group: str, topic: str) -> tuple[int, int]:
    """(records of `topic` the consumer group committed, records on it): the lag is the
    difference, as `otcdesk lag` shows it; a partition without a commit counts from its first
    offset. Only a live member commits, so a growing committed count means a working consumer."""
    probe = Consumer(consumer_config(settings, group))  # never subscribes: reads only
    try:
        name = settings.topic(topic)
        parts = [TopicPartition(name, p) for p in probe.list_topics(name, timeout=10).topics[name].partitions]
        committed = end = 0
        for tp in probe.committed(parts, timeout=10):
            low, high = probe.get_watermark_offsets(tp, timeout=10)
            committed += (tp.offset if tp.offset >= 0 else low) - low
            end += high - low
        return committed, end
    finally:
        probe.close()


def group_lag(settings: Settings, group: str, topic: str) -> int:
    committed, end = group_offsets(settings, group, topic)
    return end - committed


def stop_session(runner: SessionRunner) -> None:
    """Stop every process of a session, even when its last flush fails (the broker still down)."""
    try:
        runner.stop()
    finally:
        runner.supervisor.stop()  # a second stop only signals what still runs
