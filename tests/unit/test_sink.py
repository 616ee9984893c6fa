"""The sink's delivery rules without a broker: flush triggers, commit offsets, backoff, lag, and the
loop's behaviour against fakes (ClickHouse down -> paused, retried, nothing committed until stored;
undecodable record -> dead letter + dlq row; revoke -> batch dropped)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from consumers.sink import Sink, SinkOptions
from consumers.sink_batch import Batch, BatchPolicy, RateMeter, backoff, commit_positions, partition_lag, total_lag
from otcdesk.db.rows import Provenance, record_row_builder, to_row
from otcdesk.dlq import dead_letter_id
from otcdesk.errors import TransientError
from otcdesk.events import DeadLetter, Event, Rfq, RfqPriced
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from tests.samples import sample_events

# -- pure batching ------------------------------------------------------------------------------


def test_flushes_when_one_table_reaches_max_rows() -> None:
    batch = Batch(BatchPolicy(max_rows=3, max_ms=60_000))
    for offset in range(2):
        batch.add(Rfq, ("r",), "rfq", 0, offset, now=0.0)
    batch.add(DeadLetter, ("d",), "dlq", 0, 0, now=0.0)
    assert not batch.should_flush(0.0)  # 3 rows, but no single table holds 3
    batch.add(Rfq, ("r",), "rfq", 1, 0, now=0.0)
    assert batch.should_flush(0.0)


def test_flushes_when_oldest_row_reaches_max_ms() -> None:
    batch = Batch(BatchPolicy(max_rows=10_000, max_ms=1_000))
    assert not batch.should_flush(100.0)  # empty never flushes
    batch.add(Rfq, ("r",), "rfq", 0, 0, now=10.0)
    batch.add(Rfq, ("r",), "rfq", 0, 1, now=10.9)
    assert not batch.should_flush(10.99)
    assert batch.time_to_deadline(10.5) == pytest.approx(0.5)
    assert batch.should_flush(11.0)  # age counts from the first row, not the last


def test_commit_offsets_are_last_plus_one_per_partition() -> None:
    batch = Batch(BatchPolicy())
    for topic, partition, offset in [("rfq", 0, 5), ("rfq", 0, 6), ("rfq", 2, 40), ("fills", 0, 9), ("rfq", 0, 7)]:
        batch.add(Rfq, ("r",), topic, partition, offset, now=0.0)
    batch.add(None, None, "rfq-priced", 1, 3, now=0.0)  # skipped records are committed too
    assert batch.commit_offsets() == [("fills", 0, 10), ("rfq", 0, 8), ("rfq", 2, 41), ("rfq-priced", 1, 4)]


def test_a_lower_offset_never_moves_the_commit_back() -> None:
    batch = Batch(BatchPolicy())
    batch.add(Rfq, ("r",), "rfq", 0, 9, now=0.0)
    batch.add(Rfq, ("r",), "rfq", 0, 4, now=0.0)
    assert commit_positions(batch.last_offsets) == [("rfq", 0, 10)]


def test_clear_forgets_rows_offsets_and_age() -> None:
    batch = Batch(BatchPolicy(max_ms=1))
    batch.add(Rfq, ("r",), "rfq", 0, 0, now=0.0)
    batch.clear()
    assert batch.empty and batch.commit_offsets() == [] and not batch.should_flush(99.0)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert list(itertools.islice(backoff(0.5, 10.0), 7)) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_lag_counts_from_position_or_low_watermark_and_is_never_negative() -> None:
    assert partition_lag(position=7, low=0, high=10) == 3
    assert partition_lag(position=-1001, low=4, high=10) == 6  # nothing consumed or committed yet
    assert partition_lag(position=2, low=5, high=10) == 5  # position deleted by retention
    assert partition_lag(position=12, low=0, high=10) == 0
    assert total_lag([(7, 0, 10), (-1001, 0, 0), (1, 0, 3)]) == 5


def test_rate_meter_reports_deltas_since_last_interval() -> None:
    meter = RateMeter(started_at=0.0)
    meter.record("rfq", 100)
    meter.record("fills", 300)
    assert meter.interval(2.0) == ({"rfq": 100, "fills": 300}, 200.0)
    meter.record("rfq", 50)
    assert meter.interval(3.0) == ({"rfq": 50}, 50.0)
    assert meter.total == 450


# -- the loop against fakes ---------------------------------------------------------------------


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None) -> None:
        self._t, self._p, self._o, self._v = topic, partition, offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes:
        return b"k"

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_764_000_000_000)


class FakeConsumer:
    def __init__(self, messages: list[FakeMessage]) -> None:
        self.queue = messages
        self.commits: list[list[tuple[str, int, int]]] = []
        self.paused = self.resumed = 0
        self.on_revoke: Any = None

    def subscribe(self, topics: Sequence[str], on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.on_revoke = on_revoke
        on_assign(self, [])

    def consume(self, num: int, timeout: float) -> list[FakeMessage]:
        taken, self.queue = self.queue[:num], self.queue[num:]
        return taken

    def commit(self, offsets: Any, asynchronous: bool) -> list[Any]:
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])
        return []

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("rfq", 0)]

    def pause(self, parts: Any) -> None:
        self.paused += 1

    def resume(self, parts: Any) -> None:
        self.resumed += 1

    def position(self, parts: Any) -> list[TopicPartition]:
        return [TopicPartition("rfq", 0, 43)]

    def close(self) -> None:
        pass


class FakeWriter:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.stored: dict[str, list[tuple[Any, ...]]] = {}

    def check(self) -> None:
        pass

    def insert(self, cls: type[Event], rows: list[tuple[Any, ...]]) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("ClickHouse at fake:9000 is not answering")
        self.stored.setdefault(cls.__name__, []).extend(rows)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[Event] = []
        self.flushes = 0

    def produce(self, event: Event, headers: Any = None) -> None:
        self.sent.append(event)

    def flush(self, timeout_s: float) -> None:
        self.flushes += 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01  # every look at the clock advances it: retries and sleeps end
        return self.now


class FakeEnds:
    def ends(self, parts: Any) -> dict[tuple[str, int], int]:
        return {}

    def starts(self, parts: Any) -> dict[tuple[str, int], int]:
        return {}


def _sink(messages: list[FakeMessage], writer: FakeWriter) -> tuple[Sink, FakeConsumer, FakeProducer]:
    settings = Settings().model_copy(
        update={"sink": Settings().sink.model_copy(update={"retry_initial_s": 0.05, "retry_max_s": 0.1})}
    )
    consumer, producer = FakeConsumer(messages), FakeProducer()
    sink = Sink(
        settings,
        SinkOptions("g", "db", max_seconds=5.0),
        consumer=consumer,
        writer=writer,
        producer=producer,
        ends=FakeEnds(),
        clock=FakeClock(),
    )
    return sink, consumer, producer


def _encoded(event: Event, offset: int) -> FakeMessage:
    return FakeMessage(event.TOPIC, 0, offset, default_serde().encode(event))


def test_clickhouse_down_pauses_retries_and_commits_only_after_the_insert() -> None:
    rfq = sample_events()[0]
    writer = FakeWriter(failures=3)
    sink, consumer, _ = _sink([_encoded(rfq, 41), FakeMessage("rfq", 0, 42, b"garbage")], writer)
    sink.run()
    assert consumer.paused >= 3 and consumer.resumed == 1
    assert consumer.commits == [[("rfq", 0, 43)]]  # one commit, after the successful attempt
    assert len(writer.stored["Rfq"]) == 1 and len(writer.stored["DeadLetter"]) == 1


def test_garbage_is_dead_lettered_and_stored_but_a_broken_dlq_record_is_only_stored() -> None:
    writer = FakeWriter()
    sink, consumer, producer = _sink([FakeMessage("fills", 2, 7, b"\x00junk"), FakeMessage("dlq", 0, 3, None)], writer)
    summary = sink.run()
    (letter,) = producer.sent
    assert isinstance(letter, DeadLetter)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == ("fills", 2, 7)
    assert letter.raw_value == b"\x00junk" and letter.reason.startswith("decode:")
    assert letter.event_id == dead_letter_id(letter.consumer_group, "fills", 2, 7) and producer.flushes >= 1
    assert letter.consumer_group.endswith("sink")
    assert len(writer.stored["DeadLetter"]) == 2 and summary.dead_letters == 2
    assert consumer.commits == [[("dlq", 0, 4), ("fills", 2, 8)]]


def test_revoke_drops_the_uncommitted_batch() -> None:
    writer = FakeWriter()
    sink, consumer, _ = _sink([], writer)
    sink.batch.add(Rfq, to_row(sample_events()[0], Provenance("rfq", 0, 0)), "rfq", 0, 0, now=0.0)
    consumer.on_revoke = sink._on_revoke
    consumer.on_revoke(consumer, [])
    assert sink.batch.empty and sink.rebalances == 1


# -- rows straight from the Avro record (the sink's fast path) -----------------------------------


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_row_from_the_decoded_record_is_the_row_of_the_typed_event(event: Event) -> None:
    _, record = default_serde().decode_record(default_serde().encode(event))
    row = record_row_builder(type(event))(record, "fills", 2, 7)
    expected = to_row(event, Provenance("fills", 2, 7))
    assert row == expected and [type(v) for v in row] == [type(v) for v in expected]


def test_row_builder_refuses_what_the_typed_event_refuses() -> None:
    serde = default_serde()
    _, rfq = serde.decode_record(serde.encode(sample_events()[0]))
    build = record_row_builder(Rfq)
    with pytest.raises(ValueError, match="SIDEWAYS"):
        build({**rfq, "side": "SIDEWAYS"}, "rfq", 0, 0)  # an enum symbol the Python enum lacks
    with pytest.raises(TypeError):
        build({**rfq, "surplus": 1}, "rfq", 0, 0)
    with pytest.raises(KeyError):
        build({**{k: v for k, v in rfq.items() if k != "side"}, "surplus": 1}, "rfq", 0, 0)
    priced = next(e for e in sample_events() if isinstance(e, RfqPriced))
    _, record = serde.decode_record(serde.encode(priced))
    record["allocations"][0]["venue"] = "NYSE"  # inside a nested record too
    with pytest.raises(ValueError, match="NYSE"):
        record_row_builder(RfqPriced)(record, "rfq-priced", 0, 0)
