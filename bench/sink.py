"""ClickHouse sink rows/s vs a plain clickhouse-driver columnar insert of the very same rows.

N events cycling through every event type (otcdesk/samples.py, fresh event ids) are produced once
to a scratch namespace's topics. Each repeat then (a) drains them with the real `Sink` (`--once`,
a new group, a fresh scratch database; rate = rows / its active time, first record consumed to
last insert acknowledged) and (b) builds the rows the sink stores from the same Avro bytes with
the reference decode (`serde.decode_record` + `record_row_builder`: the values a program holding
the decoded events has, decimals at their Avro scale) and inserts them with
`client.execute(insert_sql, columns, columnar=True)`, `batch_max_rows` rows per insert, into a
second scratch database. The ratio to (b)'s insert alone is the issue's figure: everything the
sink does besides inserting (consume, Avro decode, commits) is its overhead. The second figure
compares with reference decode + insert, i.e. what Kafka costs the sink on top of decoding.
Every repeat checks the sink stored all N rows; the first also that both databases hold the same
values in every event column (the sink sends Decimals as unscaled ints, the baseline as the
driver's Decimals: the stored values must not differ by a digit).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from bench.core import BenchContext, Figure, Target
from consumers.sink import Sink, SinkOptions
from consumers.sink_batch import transpose
from otcdesk.db import client
from otcdesk.db.rows import TABLES, insert_sql, record_row_builder, select_sql, table_of
from otcdesk.events import BY_SCHEMA, Event
from otcdesk.kafka import EventProducer
from otcdesk.samples import sample_events
from otcdesk.serde import default_serde
from otcdesk.settings import Settings

TARGET = Target("ratio>=", 0.8)


def bench_events(count: int) -> Iterator[Event]:
    """`count` events cycling through every type, each with a unique event_id."""
    samples = sample_events()
    for i in range(count):
        yield replace(samples[i % len(samples)], event_id=f"bench-{i}")


def produce(settings: Settings, events: list[Event]) -> None:
    with EventProducer(settings, **{"linger.ms": 20, "batch.size": 1_000_000}) as producer:
        for event in events:
            producer.produce(event)


def run_sink(settings: Settings, group: str, database: str) -> dict[str, Any]:
    return Sink(settings, SinkOptions(group, database, once=True)).run().as_json()


def direct_insert(settings: Settings, database: str, events: list[Event]) -> tuple[float, float, float]:
    """Seconds to build the rows from the Avro bytes (reference decode), seconds to insert them,
    and the CPU seconds this process spent inserting them.

    Not `to_row(event)`: its rows are equal in value, but the samples' decimals keep the scale
    they were written with (Decimal('1.25')), and the driver's Decimal conversion (through `str`)
    costs about half as much for those as for the Decimal('1.250000000000') that decoding gives,
    which is what the sink holds."""
    chunk = settings.sink.batch_max_rows  # the sink's insert size: same on both sides
    serde = default_serde()
    encoded = [(event.TOPIC, serde.encode(event)) for event in events]
    started = time.perf_counter()
    per_type: dict[type[Event], list[tuple[Any, ...]]] = {}
    for offset, (topic, data) in enumerate(encoded):
        schema, record = serde.decode_record(data)
        cls = BY_SCHEMA[schema.event]
        per_type.setdefault(cls, []).append(record_row_builder(cls)(record, topic, 0, offset))
    built = time.perf_counter()
    runner = client.admin(settings)
    cpu = time.process_time()
    try:
        for cls, rows in per_type.items():
            for start in range(0, len(rows), chunk):
                runner.client.execute(insert_sql(cls, database), transpose(rows[start : start + chunk]), columnar=True)
    finally:
        runner.close()
    return built - started, time.perf_counter() - built, time.process_time() - cpu


def _stored(runner: Any, database: str, tables: list[str]) -> int:
    return sum(runner.query(f"SELECT count() FROM {database}.{t}")[0][0] for t in tables)


def same_rows(runner: Any, sink_db: str, direct_db: str) -> None:
    """The sink and the baseline stored the same values (every event column; provenance differs
    by design: the baseline has no Kafka offsets), Decimals compared exactly as read back."""
    for cls in TABLES:
        sql = select_sql(cls, "{db}", final=False) + " ORDER BY event_id"
        stored, direct = (runner.query(sql.replace("{db}", db)) for db in (sink_db, direct_db))
        if stored != direct:
            diff = (
                next((a, b) for a, b in zip(stored, direct, strict=True) if a != b)
                if len(stored) == len(direct)
                else len(stored)
            )
            raise RuntimeError(f"{table_of(cls)}: the sink stored other values than the baseline: {diff}")


def run(ctx: BenchContext) -> list[Figure]:
    count = ctx.size(100_000, 2_000)
    events = list(bench_events(count))
    advance = ctx.task(f"sink: {count:,} events x {ctx.repeats}", 1 + 2 * ctx.repeats)
    sink_runs: list[float] = []
    insert_runs: list[float] = []
    build_insert_runs: list[float] = []
    batches: list[int] = []
    # CPU seconds of this process (every thread, librdkafka's included) per side: a figure that a
    # busy machine moves far less than wall time; the sink's includes its start and drain check
    cpu_s: dict[str, list[float]] = {"sink": [], "insert": []}
    with ctx.scratch_namespace("sink") as settings:
        produce(settings, events)
        advance(1)
        for repeat in range(ctx.repeats):
            with ctx.scratch_database("sink") as (runner, sink_db):
                cpu = time.process_time()
                summary = run_sink(settings, settings.group(f"sink-{repeat}"), sink_db)
                cpu_s["sink"].append(round(time.process_time() - cpu, 3))
                stored = _stored(runner, sink_db, list(summary["rows"]))
                if summary["total_rows"] != count or stored != count:
                    raise RuntimeError(f"sink stored {stored} rows ({summary['total_rows']} inserted) of {count}")
                sink_runs.append(summary["rows_per_s"])
                batches.append(summary["batches"])
                advance(1)
                with ctx.scratch_database("sinkdirect") as (_, direct_db):
                    build_s, insert_s, insert_cpu_s = direct_insert(settings, direct_db, events)
                    cpu_s["insert"].append(round(insert_cpu_s, 3))
                    insert_runs.append(count / insert_s)
                    build_insert_runs.append(count / (build_s + insert_s))
                    if repeat == 0:  # off the clock: both sides stored the very same values
                        same_rows(runner, sink_db, direct_db)
            advance(1)
    extra = {"events": count, "sink_batches": batches, "insert_rows": settings.sink.batch_max_rows, "cpu_s": cpu_s}
    return [
        Figure(
            "sink",
            "sink --once rows/s",
            "rows/s",
            tuple(sink_runs),
            "clickhouse-driver columnar insert of the same rows, prebuilt",
            tuple(insert_runs),
            TARGET,
            "sink: consume + decode into columns + insert + commit, over its active time",
            extra,
        ),
        Figure(
            "sink",
            "sink --once vs reference decode + insert",
            "rows/s",
            tuple(sink_runs),
            "fastavro decode + record_row_builder + columnar insert (no Kafka)",
            tuple(build_insert_runs),
            None,
            "ratio > 1: the sink's consume + decode beats fastavro's decode alone",
            extra,
        ),
    ]
