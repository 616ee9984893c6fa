"""The monitor behind `lag --watch` and `--serve` on the real broker: every commit followed from
__consumer_offsets, STOP within a bounded number of refreshes of a consumer stopping (after the
"lag was zero recently" exemption), and the exporter's gauges scraped over HTTP."""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from consumers.lag import LagMonitor
from consumers.lag_rules import WINDOW, GroupStatus, PartitionStatus
from otcdesk.kafka import admin_client, client_config
from otcdesk.settings import Settings
from tests.ports import free_port

pytestmark = pytest.mark.integration

INTERVAL_S = 0.5  # between two refreshes of the stopped phase
PROGRESS = 3  # commits that consume one record each, then one re-commit of the same offset


@pytest.fixture
def topic(stack: Settings) -> Iterator[str]:
    name = f"h2lag-{uuid.uuid4().hex[:8]}"
    admin = admin_client(stack)
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture
def group(stack: Settings) -> Iterator[str]:
    name = f"h2lag-{uuid.uuid4().hex[:8]}"
    yield name
    delete_group(stack, name)


def delete_group(settings: Settings, group: str) -> None:
    admin = admin_client(settings)
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        with contextlib.suppress(KafkaException):  # already gone
            future.result(timeout=60)


def produce(settings: Settings, topic: str, n: int = 1) -> None:
    producer = Producer(client_config(settings))
    for _ in range(n):
        producer.produce(topic, value=b"x", partition=0)
    assert producer.flush(30) == 0


def consume_one(consumer: Consumer) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            return msg.offset()
    raise AssertionError("no record arrived")


def test_stopped_consumer_turns_stop_within_a_bounded_number_of_refreshes(
    stack: Settings, topic: str, group: str
) -> None:
    monitor = LagMonitor(stack)
    history = monitor.follow_commits(offset_refresh_s=0.0)  # one log end per refresh: a short test
    consumer = Consumer(
        client_config(stack) | {"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        # the consumer keeps up: each record consumed and committed, then its position re-committed
        for i in range(PROGRESS + 1):
            if i < PROGRESS:
                produce(stack, topic)
                consume_one(consumer)
            consumer.commit(
                offsets=[TopicPartition(topic, 0, PROGRESS if i == PROGRESS else i + 1)], asynchronous=False
            )
            monitor.snapshot([group])
            time.sleep(1.2)  # past Burrow's min-distance: each commit is its own entry
    finally:
        consumer.close()
    window = history.windows[(group, topic, 0)]
    # every commit is in the window, the re-commit of an unchanged offset too (OffsetFetch cannot see it)
    assert [s.offset for s in window] == [1, 2, 3, 3] and all(s.lag == 0 for s in window)
    span = window[-1].ts - window[0].ts

    # stopped, and its input grows: STOP once the ring no longer holds a log end it had reached
    # (WINDOW refreshes) and the silence is longer than the window spans
    bound = max(WINDOW, math.ceil(span / INTERVAL_S) + 1)
    statuses = []
    while len(statuses) < bound + 3:
        produce(stack, topic)
        (result,) = monitor.snapshot([group])
        statuses.append(result.partitions[0].status)
        if statuses[-1] is PartitionStatus.STOP:
            break
        time.sleep(INTERVAL_S)
    monitor.close()
    assert result.status is GroupStatus.STOPPED  # no member and lag: named at once
    assert statuses[-1] is PartitionStatus.STOP, statuses
    assert WINDOW <= len(statuses) <= bound, statuses  # not before the exemption ends, not after the bound
    assert set(statuses[:-1]) == {PartitionStatus.OK}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def refreshed_at(text: str) -> float | None:
    found = re.search(r"^otcdesk_lag_last_refresh_timestamp_seconds (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def scrapes_until(port: int, done, refreshes: int = 40) -> str:
    """Scrape once per exporter refresh, at most `refreshes` of them, until `done(text)`."""
    seen: set[float] = set()
    deadline = time.monotonic() + 120
    text = ""
    while len(seen) < refreshes and time.monotonic() < deadline:
        try:
            text = scrape(port)
        except OSError:
            text = ""  # not listening yet
        if (stamp := refreshed_at(text)) is not None:
            seen.add(stamp)
            if done(text):
                return text
        time.sleep(0.2)
    return text


def test_serve_exports_the_gauges_and_drops_a_deleted_group(stack: Settings, topic: str, group: str) -> None:
    produce(stack, topic, 10)
    committer = Consumer(client_config(stack) | {"group.id": group, "enable.auto.commit": False})
    committer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)
    committer.close()
    port = free_port()
    env = os.environ | {"OTCDESK_STACK": "external", "KAFKA_BOOTSTRAP": stack.bootstrap}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from otcdesk.cli.main import main; main()",
            "lag",
            "--serve",
            str(port),
            "--interval",
            "0.5",
            "--group",
            group,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        labels = f'group="{group}",partition="0",topic="{topic}"'
        text = scrapes_until(port, lambda t: f"otcdesk_lag_group_lag{{{labels}}}" in t)
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert f"otcdesk_lag_group_lag{{{labels}}} 6.0" in text
        assert f"otcdesk_lag_group_offset{{{labels}}} 4.0" in text
        assert f'otcdesk_lag_partition_latest_offset{{partition="0",topic="{topic}"}} 10.0' in text
        assert re.search(rf"^otcdesk_lag_group_lag_seconds\{{{labels}\}} \d", text, re.M)
        assert f'otcdesk_lag_group_max_lag{{group="{group}"}} 6.0' in text
        assert f'otcdesk_lag_group_status{{group="{group}",status="STOP"}} 1.0' in text  # Empty with lag
        status_labels = f'group="{group}",partition="0",status="OK",topic="{topic}"'  # sorted by name
        assert f"otcdesk_lag_partition_status{{{status_labels}}} 1.0" in text  # one commit: no trend yet
        assert "process_start_time_seconds" in text

        delete_group(stack, group)
        text = scrapes_until(port, lambda t: f'group="{group}"' not in t, refreshes=10)
        assert f'group="{group}"' not in text and refreshed_at(text) is not None
    finally:
        server.terminate()
        server.wait(30)
