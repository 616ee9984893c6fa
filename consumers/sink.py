"""The ClickHouse sink: every topic into the event log, batched, column-wise, at-least-once.

One confluent-kafka consumer (group `otcdesk-sink`, auto-commit off) reads every topic in large
`consume()` calls and decodes each record straight into the columns of its event's table
(consumers/sink_decode.py). A batch is stored when one table reaches `batch_max_rows` or its
oldest row is `batch_max_ms` old, one columnar insert per table, on a background thread while the
next batch fills (one batch in flight at most); only after ClickHouse acknowledged every insert
(and Kafka every dead letter) are the offsets committed, synchronously and from the loop's own
thread, as `last stored + 1` per partition. A crash in between replays the batch; the tables are
ReplacingMergeTree keyed by event_id, so `FINAL`/argMax queries still see each event once.

Failures (docs/sink.md): bad bytes become a dead letter (topic + dlq row), never a stop;
ClickHouse down = paused assignment, capped backoff, no commit; on revoke the uncommitted batch
is dropped and re-read by the next owner (eager assignor: every partition restarts from its commit).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumers.sink_batch import Batch, BatchPolicy, RateMeter, Row, SinkOptions, TableColumns, backoff
from consumers.sink_decode import decoders
from consumers.sink_metrics import LogEnds, Prometheus, Reporter, SinkSummary, assignment_lag, reached, targets
from consumers.sink_writer import ClickHouseWriter, EventWriter, StoreJob
from otcdesk.db.rows import TABLES, Provenance, record_row_builder, table_of, to_row
from otcdesk.dlq import dead_letter, dead_letter_id, headers_of
from otcdesk.errors import TransientError
from otcdesk.events import BY_SCHEMA, DeadLetter, Event
from otcdesk.kafka import EventProducer, admin_client, consumer_config, position
from otcdesk.serde import HEADER_LEN, MAGIC, DecodeError, default_serde
from otcdesk.settings import Settings

log = logging.getLogger("otcdesk.sink")

#: Fault-injection hook for the chaos tests: `1` makes the process `os._exit(137)` right after
#: the first batch is stored and before its offsets are committed (a kill -9 at the worst moment).
CRASH_HOOK_ENV = "OTCDESK_SINK_CRASH_AFTER_INSERT"
CONSUME_MAX = 10_000  # records per consume(): one call's cost spread over many
POLL_MAX_S = 0.2
ONCE_IDLE_S = 5.0  # --once: nothing received this long with an assignment = drained
ASSIGN_TIMEOUT_S = 30.0  # --once: plus the session timeout a crashed member holds the group
DRAIN_CHECK_S = 1.0  # --once under load: how often to compare positions with the targets
DLQ_FLUSH_S = 10.0
_UNSEEN: Any = object()  # a fingerprint not looked up yet in this consume() call


class Sink:
    """The consume -> batch -> insert -> commit loop; collaborators are injectable for tests."""

    def __init__(
        self,
        settings: Settings,
        options: SinkOptions,
        *,
        consumer: Consumer | None = None,
        writer: EventWriter | None = None,
        producer: EventProducer | None = None,
        ends: LogEnds | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conf = settings.sink
        self.settings = settings
        self.options = options
        self.clock = clock
        self.consumer = consumer or Consumer(
            consumer_config(settings, options.group_id, **{"session.timeout.ms": self.conf.session_timeout_ms})
        )
        self.writer = writer or ClickHouseWriter(settings, options.database)
        self.producer = producer or EventProducer(settings)
        self.ends = ends or LogEnds(admin_client(settings))
        self.serde = default_serde()
        self.decoders = decoders(self.serde)  # fingerprint -> straight-to-columns decoder
        # Decimal columns as unscaled ints, for every table a decoder fills (also its reference rows)
        self.scales = {d.cls: d.scales for d in self.decoders.values() if d.scales}
        self.batch = Batch(BatchPolicy(self.conf.batch_max_rows, self.conf.batch_max_ms), self.scales)
        self.started_at = clock()
        self.reporter = Reporter(
            self.conf.report_every_s,
            RateMeter(self.started_at),
            lambda: assignment_lag(self.consumer, self.ends),
            Prometheus.on_port(self.conf.metrics_port, settings.metrics.host),
            self.started_at,
        )
        self.spill: list[Message] = []  # consumed while paused, taken after the batch is stored
        self.job: StoreJob | None = None  # the previous batch, being inserted while this one fills
        self.rebalances = 0
        self.unflushed_dead_letters = 0
        self.dead_letters = 0
        self.skipped: dict[str, int] = {}
        self.batches = 0
        self.first_record_at: float | None = None
        self.last_ack_at: float | None = None
        self.last_record_at: float | None = None
        self.assigned_at: float | None = None
        self.targets: dict[tuple[str, int], int] = {}  # --once: end offsets when first assigned
        self._next_drain_check = 0.0
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to store what it holds, commit and return (signal handlers call this)."""
        self._stopping = True

    def run(self) -> SinkSummary:
        self.writer.check()
        self.consumer.subscribe(
            [self.settings.topic(t) for t in self.conf.topics],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._should_stop():
                received = self.consumer.consume(CONSUME_MAX, timeout=self._poll_timeout())
                self._take_all(received)
                if self.job is not None and self.job.finished:
                    self._settle()  # commit as soon as the server acknowledged, not at the next flush
                now = self.clock()
                if self.batch.should_flush(now):
                    self._flush()
                if self.options.once and self._drained(now, bool(received)):
                    break
                self.reporter.maybe_report(now)
            self._flush()
            self._settle()
            return self.summary()
        finally:
            self.consumer.close()

    def _should_stop(self) -> bool:
        limit = self.options.max_seconds
        return self._stopping or (limit is not None and self.clock() - self.started_at >= limit)

    def _poll_timeout(self) -> float:
        left = self.batch.time_to_deadline(self.clock())
        return POLL_MAX_S if left is None else min(POLL_MAX_S, left)

    def _drained(self, now: float, received: bool) -> bool:
        """--once: every assigned partition reached the end it had when assigned (records
        produced later are for the next run), or nothing came for ONCE_IDLE_S (an open
        transaction can hold read_committed below the end)."""
        if self.assigned_at is None:
            return now - self.started_at >= ASSIGN_TIMEOUT_S + self.conf.session_timeout_ms / 1000
        if received and now < self._next_drain_check:
            return False
        self._next_drain_check = now + DRAIN_CHECK_S
        if reached(self.consumer, self.targets):
            return True
        return not received and now - (self.last_record_at or self.assigned_at) >= ONCE_IDLE_S

    def summary(self) -> SinkSummary:
        meter = self.reporter.meter
        active = (self.last_ack_at or 0.0) - (self.first_record_at or 0.0)
        return SinkSummary(
            rows=dict(meter.totals),
            total_rows=meter.total,
            dead_letters=self.dead_letters,
            skipped=dict(self.skipped),
            batches=self.batches,
            elapsed_s=self.clock() - self.started_at,
            active_s=max(active, 0.0),
            rows_per_s=meter.total / active if active > 0 else 0.0,
            lag=assignment_lag(self.consumer, self.ends),
        )

    # -- rebalance ----------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        self.assigned_at = self.clock()
        log.info("assigned %d partitions", len(partitions))
        if self.options.once:
            fresh = [tp for tp in partitions if (tp.topic, tp.partition) not in self.targets]
            self.targets.update(targets(self.ends, fresh))

    def _on_revoke(self, consumer: Consumer, partitions: Sequence[TopicPartition]) -> None:
        """Drop, not flush: uncommitted rows are simply re-read from the committed offsets. A batch
        being inserted is waited for and committed if stored, else dropped like the others."""
        self._settle(retry=False)
        if not self.batch.empty or self.spill:
            log.info(
                "revoked %d partitions: dropping %d uncommitted records (they will be re-read)",
                len(partitions),
                self.batch.messages + len(self.spill),
            )
        self.batch.clear()
        self.spill.clear()
        self.rebalances += 1

    # -- one record -----------------------------------------------------------------------------
    def _take_all(self, messages: Sequence[Message]) -> None:
        """The hot loop: a record of a current schema goes straight into its table's columns
        (consumers/sink_decode.py); anything else, or anything that decoder refuses, takes
        `_take`, the reference decode that stores or dead-letters it."""
        if not messages:
            return
        now = self.clock()  # one look per consumed batch, not per record
        batch, fast = self.batch, self.decoders
        last, taken = batch.last_offsets, 0
        targets: dict[bytes, tuple[Any, TableColumns] | None] = {}  # fingerprint -> (decode, its table)
        for msg in messages:
            value = msg.value()
            target = None
            if type(value) is bytes and value[:2] == MAGIC:
                fingerprint = value[2:HEADER_LEN]
                target = targets.get(fingerprint, _UNSEEN)
                if target is _UNSEEN:
                    decoder = fast.get(fingerprint)
                    target = targets[fingerprint] = (
                        None if decoder is None else (decoder.decode, batch.table(decoder.cls, decoder.width))
                    )
            if target is None or msg.error() is not None:
                self._take(msg, now)
                continue
            decode, table = target
            topic, partition, offset = position(msg)
            try:
                decode(value, table.appends, topic, partition, offset)
            except Exception:  # noqa: BLE001 - the reference path gives the verdict and the reason
                self._take(msg, now)
                continue
            table.count += 1
            key = (topic, partition)
            if offset > last.get(key, -1):  # Batch.mark, inlined: offsets only move forward
                last[key] = offset
            taken += 1
        if taken:
            batch.messages += taken
            if batch.started_at is None:
                batch.started_at = now
            self.last_record_at = now
            if self.first_record_at is None:
                self.first_record_at = now

    def _take(self, msg: Message, now: float) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consume error %s[%s]: %s", msg.topic(), msg.partition(), err)
            return
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        if self.first_record_at is None:
            self.first_record_at = now
        self.last_record_at = now
        cls: type[Event]
        try:
            cls, row = self._decode_row(msg.value(), topic, partition, offset)
        except DecodeError as exc:
            cls, row = DeadLetter, to_row(self._dead_letter(msg, exc), Provenance(topic, partition, offset))
        if row is None:
            self._skip(cls)
        self.batch.add(cls if row is not None else None, row, topic, partition, offset, now)

    def _decode_row(
        self, data: bytes | None, topic: str, partition: int, offset: int
    ) -> tuple[type[Event], Row | None]:
        """The event's type and its row (None: no table for it), straight from the Avro record.

        `record_row_builder` skips the typed event the sink would only take apart again; it
        refuses what `from_avro` refuses, with the same DecodeError reason as `serde.decode`.
        """
        schema, record = self.serde.decode_record(data)
        try:
            cls = BY_SCHEMA[schema.event]
            if cls not in TABLES:
                return cls, None
            return cls, record_row_builder(cls)(record, topic, partition, offset)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError("bad_value", f"{schema.event}: {type(exc).__name__}: {exc}") from exc

    def _dead_letter(self, msg: Message, exc: DecodeError) -> DeadLetter:
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        _kind, ts_ms = msg.timestamp()
        letter = dead_letter(
            event_id=dead_letter_id(self.settings.group("sink"), topic, partition, offset),
            ts_us=ts_ms * 1000 if ts_ms > 0 else time.time_ns() // 1000,  # replay: same ts, same part
            stage=self.settings.group("sink"),
            topic=topic,
            partition=partition,
            offset=offset,
            key=msg.key(),
            value=msg.value(),
            exc=exc,
        )
        log.warning("dead-lettered %s[%d]@%d: %s", topic, partition, offset, letter.reason)
        if topic != self.settings.topic(DeadLetter.TOPIC):  # a broken record on dlq is stored, never re-dead-lettered
            self.producer.produce(letter, headers=headers_of(letter))
            self.unflushed_dead_letters += 1
        self.dead_letters += 1
        self.reporter.dead_letter()
        return letter

    def _skip(self, cls: type[Event]) -> None:
        name = cls.__name__
        if name not in self.skipped:
            log.warning("no ClickHouse table for %s: committed without storing", name)
        self.skipped[name] = self.skipped.get(name, 0) + 1

    # -- one batch ------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Settle the batch in flight, then hand this one to a StoreJob and start the next."""
        self._settle()
        if self.batch.empty:
            return
        self.job = job = StoreJob(self.writer, self.batch, self.clock)
        self.batch = Batch(self.batch.policy, self.scales)
        try:
            if self.unflushed_dead_letters:  # dead letters acknowledged before their batch is stored
                self.producer.flush(DLQ_FLUSH_S)
                self.unflushed_dead_letters = 0
        except TransientError as exc:
            job.error = exc  # not started: settled now by the loop's retries, dead letters first
            self._settle()
            return
        job.start()

    def _settle(self, retry: bool = True) -> None:
        """Wait for the batch in flight; retry what it could not store (unless revoked: then it is
        dropped uncommitted); then commit it."""
        job, self.job = self.job, None
        if job is None:
            return
        job.wait()
        for cls in job.stored:
            if job.batch.rows[cls]:
                self.reporter.rows(table_of(cls), len(job.batch.rows[cls]))
        if isinstance(job.error, TransientError):
            log.warning("store failed: %s", job.error)
            if not retry:
                log.info("revoked: dropping %d records not stored (they will be re-read)", job.batch.messages)
                return
            if not self._store(job.pending()):
                return  # revoked or stopping while the server was down: nothing committed
        elif job.error is not None:
            raise job.error
        else:
            self.last_ack_at = job.acked_at
        if os.environ.get(CRASH_HOOK_ENV) == "1":
            log.error("%s=1: exiting after the insert, before the commit", CRASH_HOOK_ENV)
            logging.shutdown()
            os._exit(137)
        self._commit(job.batch.commit_offsets())
        self.batches += 1
        spilled, self.spill = self.spill, []
        self._take_all(spilled)

    def _store(self, pending: dict[type[Event], TableColumns]) -> bool:
        """Dead letters acknowledged, then every pending table inserted; retried until done.

        Returns False when the batch was given up (revoked, stop requested, --max-seconds)."""
        delays = backoff(self.conf.retry_initial_s, self.conf.retry_max_s)
        generation, paused = self.rebalances, False
        try:
            while True:
                try:
                    self._store_pending(pending)
                    self.last_ack_at = self.clock()
                    return True
                except TransientError as exc:
                    paused = self._pause()
                    delay = next(delays)
                    log.warning(
                        "store failed, retry in %.1fs; consumption paused, %d rows held, nothing committed: %s",
                        delay,
                        sum(len(r) for r in pending.values()),
                        exc,
                    )
                    if not self._wait(delay, generation):
                        return False
        finally:
            if paused:
                self.consumer.resume(self.consumer.assignment())
                log.info("consumption resumed")

    def _store_pending(self, pending: dict[type[Event], TableColumns]) -> None:
        if self.unflushed_dead_letters:
            self.producer.flush(DLQ_FLUSH_S)
            self.unflushed_dead_letters = 0
        for cls in list(pending):
            rows = pending[cls]
            if rows:  # empty: the fast decoder opened the table, then refused its only record
                self.writer.insert(cls, rows)
                self.reporter.rows(table_of(cls), len(rows))
            del pending[cls]

    def _pause(self) -> bool:
        """Pause the whole assignment (again after a rebalance: new partitions come unpaused)."""
        parts = self.consumer.assignment()
        if parts:
            self.consumer.pause(parts)
        return True

    def _wait(self, delay_s: float, generation: int) -> bool:
        """Sleep by polling, so the group keeps us (max.poll.interval.ms) and rebalances are seen."""
        until = self.clock() + delay_s
        while (left := until - self.clock()) > 0:
            self.spill.extend(self.consumer.consume(CONSUME_MAX, timeout=min(left, 0.5)))
            if self.rebalances != generation or self._should_stop():
                return False
            self._pause()
        return True

    def _commit(self, offsets: list[tuple[str, int, int]]) -> None:
        """Synchronous; a failure is logged, not fatal: the rows are stored, a later commit covers
        them, and a replay before that is deduplicated by event_id."""
        try:
            result = self.consumer.commit(offsets=[TopicPartition(t, p, o) for t, p, o in offsets], asynchronous=False)
        except KafkaException as exc:
            log.error("commit failed (rows are stored; a replay is deduplicated): %s", exc)
            return
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            log.error("commit failed for %s", ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed))
