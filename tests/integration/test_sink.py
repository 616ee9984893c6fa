"""`otcdesk sink run` against the real broker and ClickHouse server, in subprocesses.

Each test writes to its own scratch database and uses its own consumer group, whose offsets are
committed at the current end of every topic first: the sink then reads only what the test
produces (plus whatever other desk processes publish meanwhile, which is harmless), and the
desk's `otcdesk-sink` group and `otcdesk` database are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from consumers.sink import CRASH_HOOK_ENV
from consumers.sink_metrics import LogEnds
from otcdesk.db import client, rows
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.events import DeadLetter, Event
from otcdesk.kafka import EventProducer, admin_client, consumer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics
from tests.samples import sample_events

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Run:
    group: str
    database: str
    start: dict[tuple[str, int], int]  # the group's offsets before the test produced anything


@pytest.fixture(scope="module")
def ch(stack: Settings) -> Iterator[DriverRunner]:
    create_topics(stack)
    runner = client.admin(stack)
    yield runner
    runner.close()


@pytest.fixture
def run(stack: Settings, ch: DriverRunner) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:10]
    database, group = f"otcdesk_it_sink_{tag}", f"otcdesk-sink-it-{tag}"
    migrate(ch, database)
    yield Run(group, database, _commit_at_end(stack, group))
    ch.execute(f"DROP DATABASE IF EXISTS {database}")
    _delete_groups(stack, [group, f"{group}-reader"])


def _delete_groups(settings: Settings, groups: list[str]) -> None:
    """Throwaway groups would otherwise show up in `otcdesk lag` (it lists otcdesk-*) forever."""
    admin = admin_client(settings)  # held: a collected AdminClient never completes its futures
    for future in admin.delete_consumer_groups(groups, request_timeout=10).values():
        with contextlib.suppress(
            KafkaException, TimeoutError
        ):  # never created (the reader only assigns), or already gone
            future.result(timeout=15)


def _commit_at_end(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    metadata = admin_client(settings).list_topics(timeout=10)
    parts = [TopicPartition(t, p) for t in settings.sink.topics for p in metadata.topics[t].partitions]
    ends = LogEnds(admin_client(settings), timeout_s=10).ends(parts)
    consumer = Consumer(consumer_config(settings, group))
    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in ends.items()], asynchronous=False)
    consumer.close()
    return ends


def _fresh_events() -> list[Event]:
    tag = uuid.uuid4().hex[:8]
    return [replace(e, event_id=f"it-{tag}-{e.event_id}") for e in sample_events()]


def _publish(settings: Settings, events: list[Event], garbage: bytes) -> None:
    with EventProducer(settings) as producer:
        for event in events:
            producer.produce(event)
        producer.produce_bytes("fills", b"it-garbage-key", garbage)


def _sink(
    settings: Settings, run: Run, *extra: str, env: dict[str, str] | None = None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "otcdesk.cli.main",
        "sink",
        "run",
        "--once",
        "--json",
        "--group",
        run.group,
        "--database",
        run.database,
        "--max-seconds",
        "120",
        *extra,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, env=os.environ | (env or {}), cwd=settings.repo_root
    )


def _summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def _count(ch: DriverRunner, database: str, event: Event, final: bool) -> int:
    table = rows.table_of(type(event))
    sql = f"SELECT count() FROM {database}.{table}{' FINAL' if final else ''} WHERE event_id = '{event.event_id}'"
    return int(ch.query(sql)[0][0])


def _dlq_rows(ch: DriverRunner, database: str, garbage: bytes) -> list[tuple[Any, ...]]:
    return ch.query(
        f"SELECT event_id, reason, hex(raw_value), source_topic, consumer_group FROM {database}.dlq"
        f" FINAL WHERE hex(raw_value) = '{garbage.hex().upper()}'"
    )


def _dead_letters_on_topic(settings: Settings, run: Run, event_id: str) -> list[tuple[DeadLetter, Any]]:
    """DeadLetters with `event_id` on `dlq` since the test began (from the recorded offsets)."""
    consumer = Consumer(consumer_config(settings, f"{run.group}-reader"))
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in run.start.items() if t == DeadLetter.TOPIC])
    found = []
    for _ in range(40):
        for msg in consumer.consume(500, timeout=0.5):
            event = default_serde().decode(msg.value()) if msg.error() is None else None
            if isinstance(event, DeadLetter) and event.event_id == event_id:
                found.append((event, dict(msg.headers() or [])))
        if found:
            break
    consumer.close()
    return found


def test_every_event_stored_once_exactly_and_garbage_dead_lettered(stack: Settings, ch: DriverRunner, run: Run) -> None:
    events, garbage = _fresh_events(), b"\x00not-avro-" + uuid.uuid4().bytes
    _publish(stack, events, garbage)
    summary = _summary(_sink(stack, run))
    print(f"sink: {summary['total_rows']} rows, {summary['rows_per_s']:,.0f} rows/s, lag {summary['lag']}")
    assert summary["rows_per_s"] > 0 and summary["dead_letters"] >= 1
    for event in events:
        assert _count(ch, run.database, event, final=True) == 1, event
        cls = type(event)
        (row,) = ch.query(rows.select_sql(cls, run.database, where=f"event_id = '{event.event_id}'"))
        assert rows.from_row(cls, row) == event  # Decimals to the last digit, bytes byte for byte
    ((event_id, reason, raw_hex, source_topic, stage),) = _dlq_rows(ch, run.database, garbage)
    assert reason.startswith("decode:") and bytes.fromhex(raw_hex) == garbage
    assert (source_topic, stage) == ("fills", "otcdesk-sink")
    ((letter, headers),) = _dead_letters_on_topic(stack, run, event_id)[:1]
    assert letter.raw_value == garbage and headers["otcdesk.errors.topic"] == b"fills"


def test_crash_between_insert_and_commit_replays_into_one_copy(stack: Settings, ch: DriverRunner, run: Run) -> None:
    events, garbage = _fresh_events(), b"\x00crash-" + uuid.uuid4().bytes
    _publish(stack, events, garbage)
    crashed = _sink(stack, run, env={CRASH_HOOK_ENV: "1"})
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    stored_before_replay = sum(_count(ch, run.database, e, final=False) for e in events)
    assert stored_before_replay > 0 and _committed(stack, run) == run.start  # stored, not committed
    replay = _summary(_sink(stack, run))
    assert _committed(stack, run) != run.start
    # Raw copies are 2 until a background merge of ReplacingMergeTree folds them (often within
    # seconds on small parts): exactness comes from FINAL/argMax, never from the raw count.
    raw = [_count(ch, run.database, e, final=False) for e in events]
    assert [_count(ch, run.database, e, final=True) for e in events] == [1] * len(events)
    assert len(_dlq_rows(ch, run.database, garbage)) == 1
    print(f"replay: {replay['total_rows']} rows at {replay['rows_per_s']:,.0f} rows/s; raw copies {raw}")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_clickhouse_down_retries_and_commits_nothing(stack: Settings, run: Run) -> None:
    events = _fresh_events()[:3]
    _publish(stack, events, b"\x00down-" + uuid.uuid4().bytes)
    env = {
        "OTCDESK_STACK": "external",
        "KAFKA_BOOTSTRAP": stack.bootstrap,
        "CLICKHOUSE_URL": f"clickhouse://default@127.0.0.1:{_closed_port()}/{run.database}",
        "OTCDESK_SINK__RETRY_INITIAL_S": "0.2",
        "OTCDESK_SINK__RETRY_MAX_S": "1",
    }
    result = _sink(stack, run, "--max-seconds", "6", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "store failed, retry in" in result.stderr and "consumption paused" in result.stderr
    assert _committed(stack, run) == run.start


def _committed(settings: Settings, run: Run) -> dict[tuple[str, int], int]:
    consumer = Consumer(consumer_config(settings, run.group))
    committed = consumer.committed([TopicPartition(t, p) for (t, p) in run.start], timeout=10)
    consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in committed}
