"""Run desk stages as real processes in an isolated namespace of the shared broker.

Every test gets its own topic and consumer-group prefix (`OTCDESK_NAMESPACE`), so stages under
test see only that test's events; the topics and groups are deleted afterwards. The processes
themselves are started by `otcdesk.child_processes` (bench uses it too), re-exported here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from confluent_kafka import Consumer, TopicPartition

from otcdesk.child_processes import OTCDESK, env_of, processes, restart, tails
from otcdesk.events import Event
from otcdesk.kafka import consumer_config, position
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics, delete_namespace

__all__ = ["OTCDESK", "TopicReader", "env_of", "namespace", "processes", "restart", "tails"]


@contextmanager
def namespace(stack: Settings) -> Iterator[Settings]:
    settings = stack.model_copy(update={"namespace": f"t{uuid.uuid4().hex[:8]}-"})
    create_topics(settings)
    try:
        yield settings
    finally:
        delete_namespace(settings)


class TopicReader:
    """Reads decoded events of some desk topics from their beginning (no group commits)."""

    def __init__(self, settings: Settings, topics: Sequence[str]) -> None:
        self.consumer = Consumer(consumer_config(settings, f"test-reader-{uuid.uuid4().hex[:8]}"))
        names = [settings.topic(t) for t in topics]
        meta = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(n, p, 0) for n in names for p in meta[n].partitions])
        self.events: list[tuple[str, Event]] = []
        self.undecodable = 0

    def poll(self, seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        serde = default_serde()
        while time.monotonic() < deadline:
            for msg in self.consumer.consume(1000, 0.1):
                if msg.error():
                    continue
                try:
                    self.events.append((position(msg)[0], serde.decode(msg.value())))
                except DecodeError:
                    self.undecodable += 1

    def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float, alive: Callable[[], None]) -> Event:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            alive()
            self.poll(0.3)
            for _, event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
        raise AssertionError(f"no matching event within {timeout_s}s ({len(self.events)} events read)")

    def of(self, kind: type) -> list:
        return [e for _, e in self.events if isinstance(e, kind)]

    def close(self) -> None:
        self.consumer.close()
