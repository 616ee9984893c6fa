"""The sink's background insert (StoreJob): commit after the insert, retries, revoke, dead letters first."""

from __future__ import annotations

import time
from typing import Any

from otcdesk.errors import TransientError
from otcdesk.events import Event
from tests.samples import sample_events
from tests.unit.test_sink import FakeMessage, FakeWriter, _encoded, _sink


class FlakyWriter(FakeWriter):
    """Fails the first insert of one event type; logs every call."""

    def __init__(self, fail_on: str, log: list[str], delay_s: float = 0.0) -> None:
        super().__init__()
        self.fail_on, self.log, self.delay_s = fail_on, log, delay_s

    def insert(self, cls: type[Event], rows: Any) -> None:
        time.sleep(self.delay_s)
        self.log.append(f"insert {cls.__name__}")
        if cls.__name__ == self.fail_on:
            self.fail_on = ""
            raise TransientError("ClickHouse at fake:9000 is not answering")
        super().insert(cls, rows)


def test_a_failed_background_insert_retries_only_the_tables_not_stored() -> None:
    events = sample_events()[:3]
    log: list[str] = []
    writer = FlakyWriter(type(events[1]).__name__, log)
    sink, consumer, _ = _sink([_encoded(e, i) for i, e in enumerate(events)], writer)
    sink.run()
    names = [type(e).__name__ for e in events]
    assert log == [f"insert {n}" for n in (names[0], names[1], names[1], names[2])]
    assert {n: len(rows) for n, rows in writer.stored.items()} == {n: 1 for n in names}
    assert len(consumer.commits) == 1


def test_dead_letters_unacknowledged_hold_the_insert_until_kafka_has_them() -> None:
    log: list[str] = []
    writer = FlakyWriter("", log)
    sink, consumer, producer = _sink([FakeMessage("fills", 0, 1, b"junk"), _encoded(sample_events()[0], 2)], writer)
    flushes = {"n": 0}

    def flush(timeout_s: float) -> None:
        flushes["n"] += 1
        log.append("flush")
        if flushes["n"] == 1:
            raise TransientError("1 events not acknowledged by Kafka within 10s")

    producer.flush = flush
    sink.run()
    assert log[:2] == ["flush", "flush"] and all(entry.startswith("insert") for entry in log[2:])
    assert len(writer.stored["DeadLetter"]) == 1 and len(writer.stored["Rfq"]) == 1
    assert consumer.commits == [[("fills", 0, 2), ("rfq", 0, 3)]]


def test_revoke_waits_for_the_batch_in_flight_and_commits_it_once_stored() -> None:
    writer = FlakyWriter("", [], delay_s=0.05)
    sink, consumer, _ = _sink([], writer)
    sink._take_all([_encoded(sample_events()[0], 9)])
    sink._flush()
    assert sink.job is not None and sink.batch.empty
    sink._on_revoke(consumer, [])
    assert sink.job is None and len(writer.stored["Rfq"]) == 1
    assert consumer.commits == [[("rfq", 0, 10)]] and sink.batches == 1


def test_revoke_drops_a_batch_in_flight_whose_insert_failed() -> None:
    writer = FlakyWriter("Rfq", [])
    sink, consumer, _ = _sink([], writer)
    sink._take_all([_encoded(sample_events()[0], 9)])
    sink._flush()
    sink._on_revoke(consumer, [])
    assert sink.job is None and writer.stored == {} and consumer.commits == [] and sink.batches == 0
