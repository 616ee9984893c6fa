"""Fold a whole topic into in-memory state, from its first offset, in every worker.

Some desk state is a sum over all deals, not over one partition: the desk's inventory per asset
and each client's credit usage (quote engine). A faust Table would shard it by key across
workers; instead each worker reads every partition of `trades` from the beginning with a
group-less consumer (nothing committed, nothing shared), like a GlobalTable. A restart therefore
rebuilds the state exactly, and `caught_up` tells the stage when the fold has reached the end
offsets seen at start (it should not quote on a half-built inventory).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from otcdesk.errors import TransientError
from otcdesk.events import Event
from otcdesk.kafka import partition_numbers
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings

log = logging.getLogger(__name__)


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


class TopicFold:
    """Applies every decodable event of `topic` to `apply`, from offset 0, forever."""

    def __init__(self, settings: Settings, topic: str, apply: Callable[[Event], None],
                 lookback_s: float | None = None, *, once: bool = False) -> None:
        self.settings = settings
        self.topic = settings.topic(topic)
        self.apply = apply
        self.lookback_s = lookback_s  # None: from the first offset; else the records of the last seconds
        self.once = once  # stop at the end offsets seen at start (a rebuild), instead of following
        self.caught_up = asyncio.Event()
        self.applied = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._next: dict[TopicPartition, int] = {}  # partition -> offset of the next record to apply
        self._applied_batch = asyncio.Event()  # set after every batch: `read_to_end` looks again

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", **aiokafka_auth(self.settings),
        )
        await consumer.start()
        try:
            numbers = await asyncio.to_thread(partition_numbers, self.settings, self.topic)  # aiokafka has none for a topic nobody subscribed to
            if not numbers:
                raise TransientError(f"topic {self.topic} has no partitions (run `otcdesk init`)")
            partitions = [TopicPartition(self.topic, p) for p in sorted(numbers)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            if self.lookback_s is not None:
                await self._seek_back(consumer, partitions)
            targets = await consumer.end_offsets(partitions)
            self._next = {tp: await consumer.position(tp) for tp in partitions}
            self._consumer = consumer
            await self._loop(consumer, targets)
        finally:
            self._consumer = None
            self._applied_batch.set()  # a `read_to_end` waiting on this fold returns: it has stopped
            await consumer.stop()

    async def read_to_end(self) -> None:
        """Until every record the broker holds now (end offsets asked now) is applied.

        Partitions are fetched and applied unevenly: a fold can be past an instant on one venue's
        partition and seconds behind it on another, and what it last heard of a partition (the
        fetch's high watermark) may be old too. A record produced before the one that moved a
        watermark is on the broker by then (one producer, one broker connection, requests in
        order), so the end offsets asked after it cover it."""
        consumer = self._consumer
        if consumer is None:
            return
        try:
            ends = await consumer.end_offsets(list(self._next))
        except KafkaError as exc:  # the broker is away: what is applied is all there is
            log.warning("end offsets of %s unknown: %s", self.topic, exc)
            return
        while self._consumer is consumer and any(self._next[tp] < end for tp, end in ends.items()):
            self._applied_batch.clear()
            await self._applied_batch.wait()

    async def _loop(self, consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> None:
        serde = default_serde()
        while True:
            if not self.caught_up.is_set() and await self._reached(consumer, targets):
                self.caught_up.set()
                log.info("fold of %s caught up after %d events", self.topic, self.applied)
                if self.once:
                    return
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                if records:
                    self._next[tp] = records[-1].offset + 1
                for record in records:
                    if self.once and record.offset >= targets.get(TopicPartition(record.topic, record.partition), 0):
                        continue  # past the rebuild's end: the stage's own consumer has it
                    try:
                        self.apply(serde.decode(record.value))
                        self.applied += 1
                    except DecodeError:
                        continue  # the stage that owns the topic dead-letters it
            if batches:
                self._applied_batch.set()

    async def _seek_back(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """To the first record written in the last `lookback_s` wall seconds (the end if none)."""
        since_ms = int((time.time() - (self.lookback_s or 0)) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, targets: dict[TopicPartition, int]) -> bool:
        for tp, end in targets.items():
            if await consumer.position(tp) < end:
                return False
        return True
