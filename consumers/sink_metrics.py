"""The sink's own figures: rows/s per table and its lag, as a periodic log line, a final summary
and (optionally) Prometheus series.

The lag is measured from inside the sink (high watermark minus its position on every assigned
partition) rather than from committed offsets, so it is right between commits too; `otcdesk lag`
shows the committed view of the same group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from consumers.sink_batch import RateMeter, total_lag

log = logging.getLogger("otcdesk.sink")

WATERMARK_TIMEOUT_S = 2.0


class LogEnds:
    """Start and end offsets through an AdminClient, in one batched request.

    Not `Consumer.get_watermark_offsets`: on a broker the consumer is long-polling (fetch.wait.max.ms)
    that request queues behind the fetch on the same connection, about 0.25 s per partition
    (measured: 28 s for 60 partitions). The end is the last stable offset (read_committed), the
    point the sink's own consumer can actually reach."""

    def __init__(self, admin: AdminClient, timeout_s: float = WATERMARK_TIMEOUT_S) -> None:
        self.admin = admin
        self.timeout_s = timeout_s

    def _list(self, parts: Sequence[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        if not parts:
            return {}
        futures = self.admin.list_offsets(
            {TopicPartition(tp.topic, tp.partition): spec for tp in parts},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=self.timeout_s,
        )
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    def ends(self, parts: Sequence[TopicPartition]) -> dict[tuple[str, int], int]:
        return self._list(parts, OffsetSpec.latest())

    def starts(self, parts: Sequence[TopicPartition]) -> dict[tuple[str, int], int]:
        return self._list(parts, OffsetSpec.earliest())


def positions(
    consumer: Consumer, parts: Sequence[TopicPartition], timeout_s: float = WATERMARK_TIMEOUT_S
) -> dict[tuple[str, int], int]:
    """Where the sink stands: its position, or the committed offset where nothing was consumed
    yet (negative when neither exists)."""
    current = consumer.position(list(parts))
    unknown = [tp for tp in current if tp.offset < 0]
    committed = consumer.committed(unknown, timeout=timeout_s) if unknown else []
    where = {(tp.topic, tp.partition): tp.offset for tp in current}
    where.update({(tp.topic, tp.partition): tp.offset for tp in committed})
    return where


def targets(ends: LogEnds, parts: Sequence[TopicPartition]) -> dict[tuple[str, int], int]:
    """End offsets of the partitions that hold records: an empty one has nothing to wait for,
    even when neither a position nor a commit exists for it."""
    starts, stops = ends.starts(parts), ends.ends(parts)
    return {key: end for key, end in stops.items() if end > starts.get(key, 0)}


def reached(consumer: Consumer, goal: dict[tuple[str, int], int]) -> bool:
    """True when every assigned partition with a goal stands at or past it."""
    parts = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) in goal]
    try:
        where = positions(consumer, parts)
    except KafkaException:
        return False
    return all(offset >= goal[key] for key, offset in where.items())


def assignment_lag(consumer: Consumer, ends: LogEnds) -> int | None:
    """Sum of (end - position) over the assignment; None when Kafka cannot tell right now."""
    parts = consumer.assignment()
    if not parts:
        return 0
    try:
        where = positions(consumer, parts)
        stops = ends.ends(parts)
        unknown = [tp for tp in parts if where.get((tp.topic, tp.partition), -1) < 0]
        starts = ends.starts(unknown)
    except KafkaException as exc:
        log.debug("lag unknown: %s", exc)
        return None
    return total_lag((where.get(key, -1), starts.get(key, 0), end) for key, end in stops.items())


class Prometheus:
    """`otcdesk_sink_rows_total{table}`, `otcdesk_sink_dead_letters_total`, `otcdesk_sink_lag`.

    Created once per process (the client library's registry is global) and only when a port is
    configured: the sink has no HTTP surface by default. Served by `otcdesk.metrics.serve` (a port
    in use: a warning line, the sink runs on without an endpoint)."""

    _instance: Prometheus | None = None

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import Counter, Gauge

        from otcdesk.metrics import serve

        self.rows = Counter("otcdesk_sink_rows", "Rows inserted into ClickHouse by the sink", ["table"])
        self.dead_letters = Counter("otcdesk_sink_dead_letters", "Records the sink could not decode")
        self.lag = Gauge("otcdesk_sink_lag", "Records between the sink's position and the log end")
        serve(host, port, "sink")

    @classmethod
    def on_port(cls, port: int | None, host: str = "127.0.0.1") -> Prometheus | None:
        if not port:
            return None
        if cls._instance is None:
            cls._instance = cls(host, port)
        return cls._instance


@dataclass(frozen=True)
class SinkSummary:
    """What one run did; printed at the end of `--once` and returned to callers (tests, bench)."""

    rows: dict[str, int]
    total_rows: int
    dead_letters: int
    skipped: dict[str, int]
    batches: int
    elapsed_s: float  # whole run, group join included
    active_s: float  # first record consumed -> last insert acknowledged
    rows_per_s: float  # total_rows / active_s
    lag: int | None

    def line(self) -> str:
        tables = " ".join(f"{t}={n}" for t, n in sorted(self.rows.items())) or "-"
        skipped = f" skipped={self.skipped}" if self.skipped else ""
        return (
            f"sink summary: {self.total_rows} rows in {self.batches} batches, {self.rows_per_s:,.0f} rows/s"
            f" over {self.active_s:.2f}s active ({self.elapsed_s:.2f}s total); dead letters"
            f" {self.dead_letters}; lag {'?' if self.lag is None else self.lag}; {tables}{skipped}"
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Reporter:
    """Logs rows/s and lag every `every_s` seconds (and feeds Prometheus when enabled)."""

    def __init__(
        self, every_s: float, meter: RateMeter, lag: Callable[[], int | None], prometheus: Prometheus | None, now: float
    ) -> None:
        self.every_s = every_s
        self.meter = meter
        self.lag = lag
        self.prometheus = prometheus
        self._next_at = now + every_s

    def rows(self, table: str, count: int) -> None:
        self.meter.record(table, count)
        if self.prometheus is not None:
            self.prometheus.rows.labels(table=table).inc(count)

    def dead_letter(self) -> None:
        if self.prometheus is not None:
            self.prometheus.dead_letters.inc()

    def maybe_report(self, now: float) -> None:
        if now < self._next_at:
            return
        self._next_at = now + self.every_s
        per_table, rate = self.meter.interval(now)
        lag = self.lag()
        if self.prometheus is not None and lag is not None:
            self.prometheus.lag.set(lag)
        tables = " ".join(f"{t}={n}" for t, n in sorted(per_table.items())) or "-"
        log.info(
            "sink: %d rows in the last %.0fs (%.0f rows/s), lag %s; %s",
            sum(per_table.values()),
            self.every_s,
            rate,
            "?" if lag is None else lag,
            tables,
        )
