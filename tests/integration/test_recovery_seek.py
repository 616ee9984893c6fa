"""A restarted worker with a table handles every record past its committed offsets.

faust 0.15.3 drops records in two windows of a restart (streams.app.SeekFirstConsumer): those
fetched while recovery seeks the stream partitions to their committed offsets (its queues are
cleared right after), and those fetched while its set of active partitions is empty, on
partitions without a committed offset. The worker here (recovering_app) slows the seek to 3 s and
its handler to 0.25 s a record, so both windows are wide, and the test restarts it with records
waiting on every partition, half of which have no committed offset yet. The desk's consumer must
hand every record over; faust's own, run the same way, must still lose some: the day it stops
losing them, the desk's consumer can go.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from otcdesk.events import Rfq
from otcdesk.follow import partition_of
from otcdesk.kafka import EventProducer, admin_client, consume, consumer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from tests.samples import sample_events

#: exclusive: the verdict is what was forwarded within 30 wall seconds of a restart whose windows
#: are timed (a 3 s seek, 0.25 s a record); tests running beside it would stretch them.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive]
SERDE = default_serde()
SEEK_DELAY_S, HANDLE_DELAY_S = "3", "0.25"


def _rfqs(tag: str, batch: str, partitions: int, on: range, per_partition: int) -> list[Rfq]:
    """`per_partition` RFQs keyed onto each partition in `on` (murmur2, like every producer)."""
    rfq = next(e for e in sample_events() if isinstance(e, Rfq))
    count = dict.fromkeys(on, 0)
    out: list[Rfq] = []
    i = 0
    while any(n < per_partition for n in count.values()):
        rfq_id = f"{tag}-{batch}{i}"
        i += 1
        p = partition_of(rfq_id, partitions)
        if p in count and count[p] < per_partition:
            count[p] += 1
            out.append(replace(rfq, event_id=rfq_id, rfq_id=rfq_id))
    return out


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.recovering_app", "worker", "--without-web", "-l", "info"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> None:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]

    def stop(self) -> None:
        self.proc.terminate()  # a clean stop: it commits and leaves the group, no session timeout
        self.proc.wait(60)


def _forwarded(settings: Settings, target: str, partitions: int, want: int, worker: Worker, wait_s: float) -> set[str]:
    consumer = Consumer(consumer_config(settings, f"test-recovering-check-{uuid.uuid4().hex[:8]}"))
    consumer.assign([TopicPartition(target, p, 0) for p in range(partitions)])
    got: set[str] = set()
    deadline = time.monotonic() + wait_s
    while len(got) < want and time.monotonic() < deadline:
        worker.alive()
        got |= {SERDE.decode(m.value()).event_id for m in consume(consumer, 1000, 1.0)}
    consumer.close()
    return got


def _restart_with_records_waiting(settings: Settings, tmp_path: Path, stock: bool) -> tuple[set[str], set[str]]:
    """(event ids sent, event ids forwarded) after a restart of the worker with records waiting."""
    tag = uuid.uuid4().hex[:8]
    source, target = f"test-rec-src-{tag}", f"test-rec-dst-{tag}"
    partitions = settings.topics.partitions
    admin = admin_client(settings)
    for future in admin.create_topics([NewTopic(t, partitions, 1) for t in (source, target)]).values():
        future.result(timeout=30)
    env = dict(
        os.environ,
        OTCDESK_TEST_SOURCE=source,
        OTCDESK_TEST_TARGET=target,
        OTCDESK_TEST_STAGE=f"test-recovering-{tag}",
        OTCDESK_TEST_STOCK_CONSUMER="1" if stock else "0",
        PYTHONUNBUFFERED="1",
    )
    # only the restart is slowed: the first start must hand everything over whichever consumer
    slowed = env | {"OTCDESK_TEST_SEEK_DELAY_S": SEEK_DELAY_S, "OTCDESK_TEST_HANDLE_DELAY_S": HANDLE_DELAY_S}
    log = tmp_path / f"worker-{'stock' if stock else 'desk'}.log"
    # committed offsets on the first half of the partitions only; records waiting on all of them
    before = _rfqs(tag, "a", partitions, range(partitions // 2), 3)
    after = _rfqs(tag, "b", partitions, range(partitions), 5)
    try:
        with EventProducer(settings) as producer:
            for event in before:
                producer.produce(event, topic=source)
        worker = Worker(env, log)
        try:
            assert len(_forwarded(settings, target, partitions, len(before), worker, 90)) == len(before)
        finally:
            worker.stop()  # its offsets are committed: the restart starts past `before`
        with EventProducer(settings) as producer:
            for event in after:
                producer.produce(event, topic=source)
        worker = Worker(slowed, log)
        try:
            sent = {e.event_id for e in before + after}
            # the restart reads the table's changelog back, seeks for 3 s and handles the 30
            # records in under 10 s: what is not forwarded 30 s after its start was dropped
            return sent, _forwarded(settings, target, partitions, len(sent), worker, 30)
        finally:
            worker.stop()
    finally:
        admin.delete_topics([source, target, f"otcdesk-test-recovering-{tag}-seen-changelog"])


def test_restarted_worker_handles_records_fetched_while_it_seeks(stack: Settings, tmp_path: Path) -> None:
    sent, forwarded = _restart_with_records_waiting(stack, tmp_path, stock=False)
    assert sent - forwarded == set(), (tmp_path / "worker-desk.log").read_text()[-3000:]


def test_fausts_own_consumer_still_drops_them(stack: Settings, tmp_path: Path) -> None:
    sent, forwarded = _restart_with_records_waiting(stack, tmp_path, stock=True)
    assert forwarded < sent, "faust no longer loses records fetched during its seek: drop SeekFirstConsumer"
