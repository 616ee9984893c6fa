"""Has a stage's consumer group read what was on its input when the stage started?

A timer that acts on the *absence* of an event (the acceptance expires a quote nobody answered)
must not run on a worker that has not yet read its backlog: after a restart, an answer can sit
unread in that backlog while the timer sees its quote as unanswered. `Backlog` takes the input's
end offsets once, at the first call, and answers True once the group has committed every one of
them (faust commits what its agents handled, every `broker_commit_interval`). The group's other
workers count too: the whole backlog is read, whoever owns a partition.
"""

from __future__ import annotations

import logging

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from otcdesk.kafka import admin_client
from otcdesk.settings import Settings

log = logging.getLogger(__name__)
TIMEOUT_S = 10.0


class Backlog:
    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self.topic, self.group, self.settings = settings.topic(topic), group, settings
        self._admin: AdminClient | None = None  # made at the first call: a stage built in a test never asks
        self.ends: dict[int, int] | None = None  # partition -> end offset when first asked
        self.done = False

    def read(self) -> bool:
        """True once the group committed the end offsets of the first call (blocking: a thread)."""
        if self.done:
            return True
        try:
            self._admin = self._admin or admin_client(self.settings)
            if self.ends is None:
                self.ends = self._end_offsets()
                log.info("backlog of %s on %s: %s", self.group, self.topic, self.ends)
            committed = self._committed()
        except KafkaException as exc:  # the broker is away: not read yet, asked again later
            log.warning("backlog of %s on %s unknown: %s", self.group, self.topic, exc)
            return False
        self.done = all(committed.get(p, 0) >= end for p, end in self.ends.items())
        return self.done

    def _end_offsets(self) -> dict[int, int]:
        assert self._admin is not None
        meta = self._admin.list_topics(self.topic, timeout=TIMEOUT_S).topics.get(self.topic)
        partitions = sorted(meta.partitions) if meta is not None and not meta.error else []
        if not partitions:
            raise KafkaException(f"topic {self.topic} has no partitions")
        request = {TopicPartition(self.topic, p): OffsetSpec.latest() for p in partitions}
        futures = self._admin.list_offsets(request, request_timeout=TIMEOUT_S)
        return {tp.partition: future.result().offset for tp, future in futures.items()}

    def _committed(self) -> dict[int, int]:
        assert self._admin is not None
        request = [ConsumerGroupTopicPartitions(self.group)]
        result = self._admin.list_consumer_group_offsets(request, request_timeout=TIMEOUT_S)[self.group].result()
        return {tp.partition: tp.offset for tp in result.topic_partitions or []
                if tp.topic == self.topic and tp.error is None and tp.offset >= 0}
