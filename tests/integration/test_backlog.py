"""`streams.backlog.Backlog` on the real broker: a group has read the backlog found at the first
call only once it committed those end offsets, whatever arrives after."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from otcdesk.kafka import consumer_config, producer_config
from otcdesk.settings import Settings
from streams.backlog import Backlog
from tests.integration.desk import namespace

pytestmark = pytest.mark.integration


def test_backlog_is_read_once_the_group_committed_the_end_offsets_seen_first(stack: Settings) -> None:
    with namespace(stack) as settings:
        topic, group = settings.topic("quotes"), settings.group("acceptance")
        producer = Producer(producer_config(settings))
        for n in range(20):
            producer.produce(topic, key=f"k{n}".encode(), value=b"x")
        producer.flush(30)
        backlog = Backlog(settings, "quotes", group)
        assert not backlog.read()  # nothing committed yet
        ends = dict(backlog.ends or {})
        assert sum(ends.values()) == 20
        for n in range(5):  # arrives after the first call: not part of the backlog
            producer.produce(topic, key=f"late{n}".encode(), value=b"x")
        producer.flush(30)
        consumer = Consumer(consumer_config(settings, group))
        try:
            partial = [TopicPartition(topic, p, max(end - 1, 0)) for p, end in ends.items()]
            consumer.commit(offsets=partial, asynchronous=False)
            assert not backlog.read() or all(end == 0 for end in ends.values())
            consumer.commit(offsets=[TopicPartition(topic, p, end) for p, end in ends.items()], asynchronous=False)
            assert backlog.read() and backlog.done
            assert backlog.ends == ends  # the later records never moved the mark
        finally:
            consumer.close()
