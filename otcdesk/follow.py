"""Follow one deal's events as they arrive: the partition its rfq_id hashes to, from now on.

Every lifecycle topic is keyed by rfq_id with the same partition count and murmur2 hashing, so
one deal lives on one partition number everywhere: following it reads one partition per topic
from its current end, not whole topics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, TopicPartition

from otcdesk.events import Event
from otcdesk.kafka import consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives `key`."""
    every = list(range(partitions))
    return int(DefaultPartitioner()(key.encode(), every, every))


class DealFollower:
    """Positions at the end of the deal's partition of each topic; call before publishing."""

    def __init__(self, settings: Settings, rfq_id: str, topics: Sequence[str]) -> None:
        self.rfq_id = rfq_id
        self._consumer = Consumer(consumer_config(settings, "otcdesk-cli-follow", **{"enable.partition.eof": False}))
        partition = partition_of(rfq_id, settings.topics.partitions)
        assignment = []
        for topic in topics:
            _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            assignment.append(TopicPartition(topic, partition, high))
        self._consumer.assign(assignment)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def events(self, timeout_s: float) -> Iterator[Event]:
        """The deal's decodable events until `timeout_s` passes (the caller stops earlier)."""
        serde = default_serde()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                msg = self._consumer.poll(0.2)
                if msg is None or msg.error() or msg.key() != self.rfq_id.encode():
                    continue
                try:
                    yield serde.decode(msg.value())
                except DecodeError:
                    continue  # the stages dead-letter it; a follower only shows the deal
        finally:
            self.close()
