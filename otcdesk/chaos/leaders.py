"""Who leads what on a cluster: the broker to kill, and how long the cluster takes to elect others.

Read from the cluster's metadata (AdminClient.list_topics: leader and in-sync replicas per
partition) and end offsets; every function takes the admin client of the caller, whose
librdkafka log lines (a dead broker refuses connections until it is back) go nowhere.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec

from otcdesk.kafka import client_config
from otcdesk.settings import Settings

#: The group coordinator's topic: its partitions move with their leaders too.
OFFSETS_TOPIC = "__consumer_offsets"

_quiet = logging.getLogger("otcdesk.chaos.librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def admin(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings) | {"logger": _quiet})


@dataclass(frozen=True)
class Leadership:
    """Leader and in-sync replicas of every partition of some topics, and the active controller."""

    leaders: dict[tuple[str, int], int]
    isr: dict[tuple[str, int], tuple[int, ...]]
    controller: int

    def led_by(self, node: int) -> list[tuple[str, int]]:
        return [tp for tp, leader in self.leaders.items() if leader == node]


def leadership(client: AdminClient, topics: Sequence[str], timeout_s: float = 5.0) -> Leadership:
    meta = client.list_topics(timeout=timeout_s)
    leaders, isr = {}, {}
    for name in topics:
        for p, part in meta.topics[name].partitions.items() if name in meta.topics else ():
            leaders[(name, p)], isr[(name, p)] = part.leader, tuple(part.isrs)
    return Leadership(leaders, isr, meta.controller_id)


def end_offsets(
    client: AdminClient, partitions: Sequence[tuple[str, int]], timeout_s: float = 2.0
) -> dict[tuple[str, int], int]:
    """End offsets of `partitions` that have a leader now (the others are left out)."""
    if not partitions:
        return {}
    asked = {TopicPartition(name, p): OffsetSpec.latest() for name, p in partitions}
    ends = {}
    for tp, future in client.list_offsets(asked, request_timeout=timeout_s).items():
        try:
            ends[(tp.topic, tp.partition)] = future.result(timeout=timeout_s).offset
        except Exception:  # noqa: BLE001 - no leader (yet): not known now
            continue
    return ends


def records_led(client: AdminClient, now: Leadership) -> tuple[Counter[int], dict[tuple[str, int], int]]:
    """Records on the partitions each broker leads (the busiest leader is the one whose death
    interrupts the most traffic), and the end offset of every partition."""
    ends = end_offsets(client, list(now.leaders), timeout_s=10.0)
    led: Counter[int] = Counter()
    for tp, leader in now.leaders.items():
        led[leader] += ends.get(tp, 0)
    return led, ends


def replication_of(client: AdminClient, topic: str, timeout_s: float = 10.0) -> tuple[int, int]:
    """(replicas of partition 0, min.insync.replicas) of a topic, as the cluster reports them."""
    replicas = len(client.list_topics(topic, timeout=timeout_s).topics[topic].partitions[0].replicas)
    (config,) = client.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    return replicas, int(config.result(timeout=timeout_s)["min.insync.replicas"].value)


def wait_for(
    check: Callable[[Leadership], bool],
    client: AdminClient,
    topics: Sequence[str],
    step: Callable[[], object],
    timeout_s: float,
) -> float | None:
    """Seconds until `check` holds of the cluster's leadership of `topics` (None: not within
    `timeout_s`), calling `step` (the session's own work) between two looks."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        try:
            if check(leadership(client, topics, timeout_s=2.0)):
                return time.monotonic() - began
        except Exception:  # noqa: BLE001 - a metadata request may time out while the cluster elects
            pass
        step()
    return None


def elected_without(node: int) -> Callable[[Leadership], bool]:
    """Every partition has a live leader other than `node` (the dead broker)."""
    return lambda now: bool(now.leaders) and all(leader not in (node, -1) for leader in now.leaders.values())


def in_sync(replicas: int) -> Callable[[Leadership], bool]:
    """Every partition has `replicas` in-sync replicas again (the restarted broker caught up)."""
    return lambda now: bool(now.isr) and all(len(members) >= replicas for members in now.isr.values())
