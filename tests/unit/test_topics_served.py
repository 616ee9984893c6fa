"""create_topics returns only once every new partition's leader serves it (otcdesk.topics).

The waiting loop against an admin client whose ListOffsets fails for partitions whose log does not
exist yet, as a busy broker's does for seconds after CreateTopics: the real broker answers in that
window only on a loaded machine, so the loop is checked here without one.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from otcdesk.errors import TransientError
from otcdesk.topics import _wait_until_served


class SlowLogs:
    """ListOffsets refuses a partition (NOT_LEADER_OR_FOLLOWER) until it was asked `ready_after` times."""

    def __init__(self, ready_after: dict[tuple[str, int], int]) -> None:
        self.ready_after = ready_after
        self.asked: dict[tuple[str, int], int] = {}

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


def test_waits_for_each_partition_and_asks_again_only_for_those_not_served() -> None:
    admin = SlowLogs({("rfq", 1): 3, ("rfq", 4): 1})
    parts = [TopicPartition("rfq", p) for p in range(6)]
    _wait_until_served(admin, parts, timeout_s=10)
    assert admin.asked == {("rfq", 0): 1, ("rfq", 1): 4, ("rfq", 2): 1, ("rfq", 3): 1, ("rfq", 4): 2, ("rfq", 5): 1}


def test_a_partition_never_served_is_a_transient_error_naming_it() -> None:
    admin = SlowLogs({("rfq", 2): 10**9})
    with pytest.raises(TransientError, match=r"rfq\[2\] not served after 0.3s"):
        _wait_until_served(admin, [TopicPartition("rfq", 2), TopicPartition("rfq", 3)], timeout_s=0.3)
