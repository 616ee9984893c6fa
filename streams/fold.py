"""Read whole topics without a consumer group: every partition, from the first offset.

Two uses, both by every worker for itself (nothing committed, nothing shared):

- `TopicFold` follows a topic for good: state that is a sum over all deals (the quote engine's
  inventory, credit and volatility), the books of `prices`, the session's watermark records;
- `read_to_end` reads topics up to the end offsets they have when it starts: a stage's start-up
  read of its inputs and of its own outputs (streams/stage.py).

`caught_up` tells when a fold has reached the end offsets of its start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from otcdesk.errors import TransientError
from otcdesk.kafka import partition_numbers
from otcdesk.settings import Settings

log = logging.getLogger(__name__)

OnRecord = Callable[[ConsumerRecord], None]


def aiokafka_auth(settings: Settings) -> dict[str, Any]:
    """aiokafka's names for the desk's security settings."""
    sec = settings.security
    conf: dict[str, Any] = {"security_protocol": sec.protocol, "ssl_context": sec.ssl_context()}
    if sec.sasl_mechanism:
        conf |= {
            "sasl_mechanism": sec.sasl_mechanism,
            "sasl_plain_username": sec.sasl_username,
            "sasl_plain_password": sec.sasl_password.get_secret_value() if sec.sasl_password else None,
        }
    return conf


def _consumer(settings: Settings, **extra: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **aiokafka_auth(settings),
        **extra,
    )


async def _partitions(settings: Settings, topics: Sequence[str]) -> list[TopicPartition]:
    out = []
    for topic in topics:
        # aiokafka has no metadata for a topic nobody subscribed to: ask the admin client
        numbers = await asyncio.to_thread(partition_numbers, settings, topic)
        if not numbers:
            raise TransientError(f"topic {topic} has no partitions (run `otcdesk init`)")
        out += [TopicPartition(topic, p) for p in sorted(numbers)]
    return out


async def read_to_end(
    settings: Settings,
    topics: Sequence[str],
    on_record: OnRecord,
    on_ends: Callable[[dict[tuple[str, int], int]], None] | None = None,
) -> dict[tuple[str, int], int]:
    """Every record of `topics` (Kafka names) before the end offsets they have now, each
    partition in offset order; returns those end offsets, which `on_ends` gets before any record."""
    consumer = _consumer(settings)
    await consumer.start()
    try:
        partitions = await _partitions(settings, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = {(tp.topic, tp.partition): end for tp, end in (await consumer.end_offsets(partitions)).items()}
        if on_ends is not None:
            on_ends(ends)
        todo = {tp for tp in partitions if ends[(tp.topic, tp.partition)] > await consumer.position(tp)}
        while todo:
            for tp, records in (await consumer.getmany(*todo, timeout_ms=500)).items():
                end = ends[(tp.topic, tp.partition)]
                for record in records:
                    if record.offset < end:
                        on_record(record)
                if records and records[-1].offset + 1 >= end:
                    todo.discard(tp)
        return ends
    finally:
        await consumer.stop()


class TopicFold:
    """Hands every record of `topic` (desk name) to `on_record`, from the first offset, or from
    the records of the last `lookback_s` wall seconds, forever (a `Followers` of one topic)."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        on_record: OnRecord,
        lookback_s: float | None = None,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.followers = Followers(settings)
        self.caught_up = self.followers.follow(topic, on_record, lookback_s=lookback_s, partitions=partitions)
        self.topic = settings.topic(topic)

    async def run(self) -> None:
        await self.followers.run()


class Followers:
    """Several topics followed by one group-less consumer (one fetch loop per stage, not one per
    topic): each topic from its first offset or a lookback, its records to its own callback."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._follows: dict[str, tuple[OnRecord, float | None, Sequence[int] | None, asyncio.Event]] = {}
        self.applied = 0

    def follow(
        self,
        topic: str,
        on_record: OnRecord,
        *,
        lookback_s: float | None = None,
        partitions: Sequence[int] | None = None,
    ) -> asyncio.Event:
        """Follow `topic` (desk name); returns the event set once its end offsets of the start are read."""
        caught_up = asyncio.Event()
        self._follows[self.settings.topic(topic)] = (on_record, lookback_s, partitions, caught_up)
        return caught_up

    async def run(self) -> None:
        if not self._follows:
            return
        consumer = _consumer(self.settings)
        await consumer.start()
        try:
            assigned: list[TopicPartition] = []
            for tp in await _partitions(self.settings, list(self._follows)):
                wanted = self._follows[tp.topic][2]
                if wanted is None or tp.partition in wanted:
                    assigned.append(tp)
            for topic, (_, _, _, caught_up) in self._follows.items():
                if not any(tp.topic == topic for tp in assigned):
                    caught_up.set()
            if not assigned:
                return
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            await self._seek_back(consumer, assigned)
            targets = await consumer.end_offsets(assigned)
            callbacks = {topic: follow[0] for topic, follow in self._follows.items()}
            while True:
                for topic, (_, _, _, caught_up) in self._follows.items():
                    if not caught_up.is_set() and all(
                        [await consumer.position(tp) >= end for tp, end in targets.items() if tp.topic == topic]
                    ):
                        caught_up.set()
                        log.info("fold of %s caught up after %d records", topic, self.applied)
                for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                    on_record = callbacks[tp.topic]
                    for record in records:
                        on_record(record)
                    self.applied += len(records)
        finally:
            await consumer.stop()

    async def _seek_back(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Topics with a lookback: to the first record written in its last wall seconds (the end if none)."""
        back = [tp for tp in partitions if self._follows[tp.topic][1] is not None]
        if not back:
            return
        now_ms = time.time() * 1000
        found = await consumer.offsets_for_times(
            {tp: int(now_ms - (self._follows[tp.topic][1] or 0) * 1000) for tp in back}
        )
        ends = await consumer.end_offsets(back)
        for tp in back:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
