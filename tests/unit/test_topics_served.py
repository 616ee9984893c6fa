"""create_topics waits until every new partition's leader serves it (otcdesk.topics).

The waiting loop against admin clients whose ListOffsets fails for partitions whose log does not
exist yet, as a busy broker's does for seconds after CreateTopics: the real broker answers in that
window only on a loaded machine, so the loop is checked here without one.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from otcdesk import topics
from otcdesk.settings import Settings


class SlowLogs:
    """ListOffsets refuses a partition (NOT_LEADER_OR_FOLLOWER) until it was asked `ready_after` times."""

    def __init__(self, ready_after: dict[tuple[str, int], int]) -> None:
        self.ready_after = ready_after
        self.asked: dict[tuple[str, int], int] = {}
        self.clients = 0

    def client(self, _settings: Settings) -> SlowLogs:
        self.clients += 1
        return self

    def list_offsets(self, specs: dict[TopicPartition, Any], **_: Any) -> dict[TopicPartition, Future[object]]:
        out: dict[TopicPartition, Future[object]] = {}
        for tp in specs:
            key = (tp.topic, tp.partition)
            self.asked[key] = self.asked.get(key, 0) + 1
            future: Future[object] = Future()
            if self.asked[key] > self.ready_after.get(key, 0):
                future.set_result(object())
            else:
                future.set_exception(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
            out[tp] = future
        return out


def test_waits_for_each_partition_asking_again_with_a_fresh_client(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = SlowLogs({("rfq", 1): 3, ("rfq", 4): 1})
    monkeypatch.setattr(topics, "admin_client", broker.client)
    topics._wait_until_served(Settings(), [TopicPartition("rfq", p) for p in range(6)], timeout_s=10)
    assert broker.asked == {("rfq", 0): 1, ("rfq", 1): 4, ("rfq", 2): 1, ("rfq", 3): 1, ("rfq", 4): 2, ("rfq", 5): 1}
    assert broker.clients == 4  # one per round


def test_a_partition_never_served_is_logged_and_left_to_the_producers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broker = SlowLogs({("rfq", 2): 10**9})
    monkeypatch.setattr(topics, "admin_client", broker.client)
    with caplog.at_level(logging.WARNING, logger="otcdesk.topics"):
        topics._wait_until_served(Settings(), [TopicPartition("rfq", 2), TopicPartition("rfq", 3)], timeout_s=0.3)
    assert "partitions rfq[2] not served 0.3 s after their creation" in caplog.text
    assert broker.asked[("rfq", 3)] == 1
