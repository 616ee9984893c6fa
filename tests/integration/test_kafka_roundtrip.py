"""The Avro contract on the real broker: every event type out and back, keys on the right partition,
and a faust agent forwarding between two topics in a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from otcdesk.kafka import EventProducer, admin_client, consume, consumer_config, producer_config, subscribe
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from otcdesk.topics import create_topics, describe_topics
from tests.samples import sample_events

pytestmark = pytest.mark.integration
SERDE = default_serde()


@pytest.fixture(scope="module")
def settings(stack: Settings) -> Settings:
    create_topics(stack)
    return stack


def _fresh(events: list, tag: str) -> list:
    return [replace(e, event_id=f"{tag}-{e.SCHEMA}") for e in events]


def test_nine_topics_exist_with_co_partitioned_lifecycle(settings: Settings) -> None:
    states = {s.name: s for s in describe_topics(settings)}
    assert set(states) >= {"rfq", "prices", "quotes", "trades", "orders", "fills", "settlements", "recon", "dlq"}
    lifecycle = {states[t].partitions for t in ("rfq", "quotes", "trades", "orders", "fills", "settlements", "recon")}
    assert lifecycle == {settings.topics.partitions}
    assert set(create_topics(settings).values()) == {"exists"}  # idempotent


def test_every_event_type_round_trips_through_the_broker(settings: Settings) -> None:
    tag = uuid.uuid4().hex[:8]
    sent = _fresh(sample_events(), tag)
    with EventProducer(settings) as producer:
        for event in sent:
            producer.produce(event)
    assert producer.stats.failed == 0 and producer.stats.delivered == len(sent)
    consumer = subscribe(settings, f"test-roundtrip-{tag}", sorted({e.TOPIC for e in sent}))
    got = {}
    deadline = time.monotonic() + 60
    try:
        while len(got) < len(sent) and time.monotonic() < deadline:
            for msg in consume(consumer, 10_000, 2.0):
                try:
                    event = SERDE.decode(msg.value())
                except DecodeError:
                    continue  # other tests' dead-letter probes share these topics
                if event.event_id.startswith(tag):
                    got[event.event_id] = (event, msg.key())
    finally:
        consumer.close()
    assert {e.event_id: e for e in sent} == {k: v[0] for k, v in got.items()}
    for event in sent:
        assert got[event.event_id][1] == event.key.encode()


def test_confluent_and_aiokafka_put_one_key_on_the_same_partition(settings: Settings) -> None:
    """librdkafka's default partitioner is CRC32; ours must be murmur2, like aiokafka and Java."""
    from aiokafka.partitioner import DefaultPartitioner

    tag = uuid.uuid4().hex[:8]
    partitions = settings.topics.partitions
    probe_topic = f"test-partitioner-{tag}"
    admin = admin_client(settings)
    admin.create_topics([NewTopic(probe_topic, partitions, 1)])[probe_topic].result(timeout=30)
    keys = [f"{tag}-{i}".encode() for i in range(60)]
    producer = Producer(producer_config(settings))
    placed = {}

    def on_delivery(err, msg) -> None:
        assert err is None
        placed[msg.key()] = msg.partition()

    for key in keys:
        producer.produce(probe_topic, key=key, value=b"partitioner-probe", on_delivery=on_delivery)
    producer.flush(30)
    admin.delete_topics([probe_topic])
    all_partitions = list(range(partitions))
    for key in keys:
        assert placed[key] == DefaultPartitioner()(key, all_partitions, all_partitions), key
    assert len(set(placed.values())) > 1  # the keys really spread


def _dead_letters_from(settings: Settings, source_topic: str, timeout_s: float = 30) -> list:
    consumer = Consumer(consumer_config(settings, f"test-dlq-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe(["dlq"])
    letters = []
    deadline = time.monotonic() + timeout_s
    while not letters and time.monotonic() < deadline:
        for msg in consume(consumer, 100_000, 2.0):
            letter = SERDE.decode(msg.value())
            if letter.source_topic == source_topic:
                headers = dict(msg.headers() or [])
                assert headers["otcdesk.errors.topic"] == source_topic.encode()
                letters.append(letter)
    consumer.close()
    return letters


def test_faust_agent_forwards_typed_events_in_a_real_worker(settings: Settings, tmp_path) -> None:
    tag = uuid.uuid4().hex[:8]
    source, target = f"test-fwd-src-{tag}", f"test-fwd-dst-{tag}"
    admin = admin_client(settings)
    for future in admin.create_topics([NewTopic(t, 3, 1) for t in (source, target)]).values():
        future.result(timeout=30)
    env = dict(
        os.environ,
        OTCDESK_TEST_SOURCE=source,
        OTCDESK_TEST_TARGET=target,
        OTCDESK_TEST_STAGE=f"test-forwarder-{tag}",
        PYTHONUNBUFFERED="1",
    )
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - the worker's stdout, closed after it exits
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.forwarder_app", "worker", "--without-web", "-l", "warn"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        sent = _fresh(sample_events(), tag)
        with EventProducer(settings) as producer:
            for event in sent:
                producer.produce(event, topic=source)
            producer.produce_bytes(source, b"bad", b"\x00not avro at all")
        consumer = Consumer(consumer_config(settings, f"test-fwd-check-{tag}"))
        consumer.assign([TopicPartition(target, p, 0) for p in range(3)])
        got = []
        deadline = time.monotonic() + 90
        while len(got) < len(sent) and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            got.extend(SERDE.decode(m.value()) for m in consume(consumer, 1000, 1.0))
        consumer.close()
        assert sorted(e.event_id for e in got) == sorted(e.event_id for e in sent)
        assert {e.event_id: e for e in got} == {e.event_id: e for e in sent}
        letters = _dead_letters_from(settings, source)
        assert [(d.raw_value, d.reason, d.source_key) for d in letters] == [
            (b"\x00not avro at all", "decode:bad_magic", b"bad")
        ]
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        admin.delete_topics([source, target])
