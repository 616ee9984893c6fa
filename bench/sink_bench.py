"""Sink throughput vs a plain clickhouse-driver columnar insert of the same rows, in one run.

Not a test: a measurement to quote in docs/sink.md. It produces N events of every type (the
sample deal, fresh event ids) to throwaway topics `bench<id>.<topic>`, drains them with the real
`Sink` (`--once`, its own group, its own scratch database), then inserts the very same rows with
`client.execute(insert_sql, columns, columnar=True)` into a second scratch database, and prints
both rates and their ratio. Topics and databases are deleted at the end; the desk's are untouched.

    .venv/bin/python -m bench.sink_bench --events 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from confluent_kafka.admin import NewTopic

from consumers.sink import Sink, SinkOptions
from consumers.sink_batch import transpose
from otcdesk.db import client
from otcdesk.db.migrate import migrate
from otcdesk.db.rows import Provenance, insert_sql, to_row
from otcdesk.events import Event
from otcdesk.kafka import EventProducer, admin_client
from otcdesk.settings import Settings
from tests.samples import sample_events

PARTITIONS = 6
CHUNK = 10_000  # the sink's default batch_max_rows: same insert size on both sides


def bench_events(count: int) -> Iterator[Event]:
    """`count` events cycling through every type, each with a unique event_id."""
    samples = sample_events()
    for i in range(count):
        yield replace(samples[i % len(samples)], event_id=f"bench-{i}")


def produce(settings: Settings, prefix: str, events: list[Event]) -> float:
    started = time.perf_counter()
    with EventProducer(settings, **{"linger.ms": 20, "batch.size": 1_000_000}) as producer:
        for event in events:
            producer.produce(event, topic=prefix + event.TOPIC)
    return time.perf_counter() - started


def run_sink(settings: Settings, prefix: str, database: str) -> dict[str, Any]:
    topics = tuple(sorted({prefix + e.TOPIC for e in sample_events()}))
    bench_settings = settings.model_copy(update={"sink": settings.sink.model_copy(update={"topics": topics})})
    sink = Sink(bench_settings, SinkOptions(f"bench-sink-{prefix}", database, once=True))
    return sink.run().as_json()


def direct_insert(settings: Settings, database: str, events: list[Event]) -> tuple[float, float]:
    """Seconds to build the rows (to_row, as the sink does) and seconds to insert them columnar."""
    started = time.perf_counter()
    per_type: dict[type[Event], list[tuple[Any, ...]]] = {}
    for offset, event in enumerate(events):
        per_type.setdefault(type(event), []).append(to_row(event, Provenance(event.TOPIC, 0, offset)))
    built = time.perf_counter()
    runner = client.admin(settings)
    for cls, rows in per_type.items():
        for start in range(0, len(rows), CHUNK):
            runner.client.execute(insert_sql(cls, database), transpose(rows[start:start + CHUNK]), columnar=True)
    runner.close()
    return built - started, time.perf_counter() - built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    run_id = uuid.uuid4().hex[:8]
    prefix, sink_db, direct_db = f"bench{run_id}.", f"otcdesk_bench_{run_id}", f"otcdesk_bench_{run_id}_direct"
    topics = sorted({prefix + e.TOPIC for e in sample_events()})
    admin = admin_client(settings)
    for future in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics]).values():
        future.result()
    ch = client.admin(settings)
    try:
        migrate(ch, sink_db)
        migrate(ch, direct_db)
        events = list(bench_events(args.events))
        produce_s = produce(settings, prefix, events)
        sink = run_sink(settings, prefix, sink_db)
        build_s, insert_s = direct_insert(settings, direct_db, events)
        stored = sum(ch.query(f"SELECT count() FROM {sink_db}.{t}")[0][0] for t in sink["rows"])
        report = {
            "events": args.events, "produce_rows_per_s": args.events / produce_s, "sink": sink,
            "sink_rows_stored": stored,
            "direct_insert_rows_per_s": args.events / insert_s,
            "direct_build_and_insert_rows_per_s": args.events / (build_s + insert_s),
            "ratio_sink_vs_direct_insert": sink["rows_per_s"] / (args.events / insert_s),
            "ratio_sink_vs_build_and_insert": sink["rows_per_s"] / (args.events / (build_s + insert_s)),
        }
    finally:
        for db in (sink_db, direct_db):
            ch.execute(f"DROP DATABASE IF EXISTS {db}")
        for future in admin.delete_topics(topics).values():
            future.result()
        for future in admin.delete_consumer_groups([f"bench-sink-{prefix}"], request_timeout=10).values():
            future.result()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.events} events of {len(sample_events())} types; produce {report['produce_rows_per_s']:,.0f}/s")
    print(f"sink --once        : {sink['rows_per_s']:>10,.0f} rows/s ({sink['total_rows']} rows, {sink['batches']}"
          f" batches, {sink['active_s']:.2f}s active, {sink['elapsed_s']:.2f}s with group join); stored {stored}")
    print(f"direct insert      : {report['direct_insert_rows_per_s']:>10,.0f} rows/s (rows prebuilt, columnar,"
          f" {CHUNK} per insert)")
    print(f"direct build+insert: {report['direct_build_and_insert_rows_per_s']:>10,.0f} rows/s (to_row + insert)")
    print(f"ratio sink/direct insert {report['ratio_sink_vs_direct_insert']:.2f},"
          f" sink/build+insert {report['ratio_sink_vs_build_and_insert']:.2f}")


if __name__ == "__main__":
    main()
