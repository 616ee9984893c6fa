"""Find a live quote by id for a person accepting it at the CLI.

A quote can only be accepted while firm (seconds), so it was published within the last TTL:
the search reads each partition of `quotes` from the offset of `now - lookback` (Kafka's time
index, `offsets_for_times`) to the end, instead of scanning the topic.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from otcdesk.events import Quote
from otcdesk.kafka import consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings


def find_quote(settings: Settings, quote_id: str, lookback_s: float) -> Quote | None:
    topic = settings.topic("quotes")
    consumer = Consumer(consumer_config(settings, "otcdesk-cli-quote-lookup"))
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        since_ms = int((time.time() - lookback_s) * 1000)
        starts = consumer.offsets_for_times([TopicPartition(topic, p, since_ms) for p in partitions], timeout=10)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        consumer.assign([tp for tp in starts if tp.partition in todo])
        serde = default_serde()
        while todo:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            _topic, partition, offset = position(msg)
            if offset >= ends[partition] - 1:
                todo.discard(partition)
            try:
                event = serde.decode(msg.value())
            except DecodeError:
                continue
            if isinstance(event, Quote) and event.quote_id == quote_id:
                return event
        return None
    finally:
        consumer.close()
