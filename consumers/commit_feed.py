"""Every offset commit as it happens, read from Kafka's internal `__consumer_offsets` topic.

This is how Burrow sees commits: each one with the broker's commit timestamp, including a
consumer re-committing an unchanged offset, which sampling OffsetFetch cannot tell from silence.
The reader is assigned (never subscribed: no group join, never commits) to every partition of
the topic from its beginning; compaction leaves the latest commit of each key plus the recent
tail, which is Burrow's start too. `drain()` reads up to the log ends measured when it is
called, so a commit acknowledged before a refresh is always in that refresh.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from consumers.offsets_codec import CodecError, GroupKey, OffsetKey, decode_key, decode_value
from otcdesk.kafka import position

OFFSETS_TOPIC = "__consumer_offsets"


@dataclass(frozen=True)
class Commit:
    """One record of the topic: a commit, or a deletion (offset None) of one partition's commit
    (`partition` set) or of the whole group (`topic` empty)."""

    group: str
    topic: str
    partition: int
    offset: int | None
    ts: float  # commit time, epoch seconds (the broker's clock); 0 for a deletion


class CommitFeed:
    def __init__(self, conf: Mapping[str, Any], probe_group: str, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.undecodable = 0
        self._consumer = Consumer(
            dict(conf)
            | {
                "group.id": probe_group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_uncommitted",
                "fetch.wait.max.ms": 50,
            }
        )
        meta = self._consumer.list_topics(OFFSETS_TOPIC, timeout=timeout_s).topics.get(OFFSETS_TOPIC)
        self._partitions = sorted(meta.partitions) if meta is not None and not meta.error else []
        self._consumer.assign([TopicPartition(OFFSETS_TOPIC, p, OFFSET_BEGINNING) for p in self._partitions])
        self._next: dict[int, int] = {}  # partition -> next offset to read

    @property
    def partitions(self) -> list[tuple[str, int]]:
        return [(OFFSETS_TOPIC, p) for p in self._partitions]

    def drain(self, ends: Mapping[tuple[str, int], int]) -> list[Commit]:
        """Every record up to `ends` (the topic's log ends, read by the caller just before), oldest
        first within each partition; gives up on what is left after `timeout_s`."""
        todo = {p: end for (_, p), end in ends.items() if end > self._next.get(p, 0)}
        commits: list[Commit] = []
        deadline = time.monotonic() + self.timeout_s
        while todo and time.monotonic() < deadline:
            for msg in self._consumer.consume(num_messages=500, timeout=0.2):
                if msg.error():
                    continue
                _topic, partition, offset = position(msg)
                self._next[partition] = offset + 1
                commit = self._decode(msg.key(), msg.value())
                if commit is not None:
                    commits.append(commit)
                if partition in todo and self._next[partition] >= todo[partition]:
                    del todo[partition]
            todo = {p: end for p, end in todo.items() if not self._caught_up(p, end)}
        return commits

    def close(self) -> None:
        self._consumer.close()

    def _caught_up(self, partition: int, end: int) -> bool:
        """A compacted-away or control record at the end is never delivered: ask the position."""
        if self._next.get(partition, 0) >= end:
            return True
        (tp,) = self._consumer.position([TopicPartition(OFFSETS_TOPIC, partition)])
        return tp.offset >= end

    def _decode(self, raw_key: bytes | None, raw_value: bytes | None) -> Commit | None:
        try:
            key = decode_key(raw_key)
            if isinstance(key, GroupKey):
                return Commit(key.group, "", -1, None, 0.0) if raw_value is None else None
            value = decode_value(raw_value)
        except CodecError:
            self.undecodable += 1
            return None
        assert isinstance(key, OffsetKey)
        if value is None:
            return Commit(key.group, key.topic, key.partition, None, 0.0)
        return Commit(key.group, key.topic, key.partition, value.offset, value.commit_ms / 1000.0)
