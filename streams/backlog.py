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

from confluent_kafka import KafkaException

from consumers.lag import LagMonitor
from otcdesk.errors import TransientError
from otcdesk.kafka import partition_numbers
from otcdesk.settings import Settings

log = logging.getLogger(__name__)


class Backlog:
    def __init__(self, settings: Settings, topic: str, group: str) -> None:
        self.topic, self.group, self.settings = settings.topic(topic), group, settings
        self._monitor: LagMonitor | None = None  # made at the first call: a stage built in a test never asks
        self.ends: dict[int, int] | None = None  # partition -> end offset when first asked
        self.done = False

    def read(self) -> bool:
        """True once the group committed the end offsets of the first call (blocking: a thread)."""
        if self.done:
            return True
        try:
            self._monitor = self._monitor or LagMonitor(self.settings)
            if self.ends is None:
                self.ends = self._end_offsets(self._monitor)
                log.info("backlog of %s on %s: %s", self.group, self.topic, self.ends)
            committed = self._monitor.committed(self.group)
        except (KafkaException, TransientError) as exc:  # the broker is away: not read yet, asked again later
            log.warning("backlog of %s on %s unknown: %s", self.group, self.topic, exc)
            return False
        self.done = all(committed.get((self.topic, p), 0) >= end for p, end in self.ends.items())
        return self.done

    def _end_offsets(self, monitor: LagMonitor) -> dict[int, int]:
        partitions = partition_numbers(self.settings, self.topic)
        if not partitions:
            raise TransientError(f"topic {self.topic} has no partitions")
        ends = monitor.log_end_offsets((self.topic, p) for p in partitions)
        if len(ends) != len(partitions):
            raise TransientError(f"no end offset for every partition of {self.topic}")
        return {p: end for (_, p), end in ends.items()}
