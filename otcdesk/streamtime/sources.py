"""The two ends of stream time outside the stages, for processes on confluent-kafka.

- `SourceWatermarks`: a source of a session (the feed, the session's RFQs) says how far its
  records go, after the broker has acknowledged every one of them, so the positions it writes
  cover them all;
- `WatermarkBoard`: the latest watermark of every producer, read from the `watermarks` topic (the
  session runner waits on it for the end of a session; the feed keeps within reach of the stages
  that read it).
"""

from __future__ import annotations

import logging
import os
import uuid

from confluent_kafka import Consumer, TopicPartition

from otcdesk.errors import TransientError
from otcdesk.events import TopicPosition, WatermarkAdvanced
from otcdesk.kafka import EventProducer, consumer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.streamtime import BEFORE_ALL_US, END_US, PRODUCERS, partition_of

log = logging.getLogger(__name__)

_IDS = uuid.UUID("8e2b7f54-61c3-4d2a-b0a9-5d7c1f3e2a60")


class SourceWatermarks:
    """Watermark records of one source that produces with `producer`.

    A watermark goes out only once the broker has acknowledged every record before it. While the
    broker does not answer (it restarts), `advance` gives up after `FLUSH_S` and remembers how far
    the source has got; the next call (or `catch_up`) publishes it. A source never blocks on a
    broker that is down, so a process that also has other work (the session runner) goes on."""

    FLUSH_S = 1.0

    def __init__(self, settings: Settings, producer: EventProducer, source: str) -> None:
        self.settings, self.producer, self.source = settings, producer, source
        self.topic = settings.topic("watermarks")
        self.published_us = BEFORE_ALL_US
        self.wanted_us = BEFORE_ALL_US
        self._count = 0

    def advance(self, ts_us: int) -> bool:
        """Nothing more of this source before `ts_us`. True once published (or nothing to do)."""
        self.wanted_us = max(self.wanted_us, ts_us)
        if self.wanted_us <= self.published_us:
            return True
        try:
            self.producer.flush(self.FLUSH_S)  # every record so far acknowledged: in `positions`
        except TransientError:
            log.warning("%s: the broker has not acknowledged its records yet; watermark held", self.source)
            return False
        self._count += 1
        positions = tuple(
            TopicPosition(t, p, o) for (t, p), o in sorted(self.producer.positions.items()) if t != self.topic
        )
        mark = WatermarkAdvanced(
            str(uuid.uuid5(_IDS, f"{self.source}:{os.getpid()}:{self._count}")),
            self.wanted_us,
            self.source,
            None,
            None,
            positions,
        )
        self.producer.produce(mark, self.topic, partition=partition_of(self.source))
        self.published_us = self.wanted_us
        return True

    def catch_up(self) -> bool:
        """Publish what an earlier `advance` could not."""
        return self.advance(self.wanted_us)

    @property
    def ended(self) -> bool:
        return self.published_us == END_US

    def end(self) -> None:
        """The source is done: nothing more, ever (waits for the broker as long as it takes)."""
        while not self.advance(END_US):
            pass
        while True:
            try:
                self.producer.flush(self.FLUSH_S)
                return
            except TransientError:
                log.warning("%s: waiting for the broker to acknowledge the end of its stream", self.source)


class WatermarkBoard:
    """The latest `WatermarkAdvanced` of some producers of a namespace (default: all)."""

    def __init__(self, settings: Settings, producers: tuple[str, ...] = PRODUCERS) -> None:
        self._consumer = Consumer(consumer_config(settings, f"otcdesk.board-{uuid.uuid4().hex[:8]}"))
        topic = settings.topic("watermarks")
        self._consumer.assign([TopicPartition(topic, partition_of(p), 0) for p in producers])
        self.latest: dict[str, WatermarkAdvanced] = {}
        self.heard: dict[str, int] = {}  # producer -> records read from it (a restarted one says so at once)
        self._serde = default_serde()

    def poll(self, timeout_s: float = 0.0) -> int:
        """Read what is there (waiting up to `timeout_s` for the first record); returns how many."""
        read = 0
        for msg in self._consumer.consume(1000, timeout_s):
            if msg.error() or msg.value() is None:
                continue
            try:
                mark = self._serde.decode(msg.value())
            except DecodeError:
                continue
            if not isinstance(mark, WatermarkAdvanced):
                continue
            read += 1
            self.heard[mark.source] = self.heard.get(mark.source, 0) + 1
            known = self.latest.get(mark.source)
            if known is None or mark.ts_us >= known.ts_us:
                self.latest[mark.source] = mark
        return read

    def wm(self, producer: str) -> int:
        mark = self.latest.get(producer)
        return BEFORE_ALL_US if mark is None else mark.ts_us

    def ended(self, producers: tuple[str, ...] | list[str]) -> bool:
        return all(self.wm(p) == END_US for p in producers)

    def close(self) -> None:
        self._consumer.close()
