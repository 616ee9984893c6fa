"""The saturation benchmarks' plumbing on the real broker: copies, drain detection, the floor.

A benchmark's figure is only as good as (1) its input being the same bytes on the same
partitions in every run and (2) "drained" meaning every input offset committed: both are
checked here, without any timing assertion.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from bench.core import BenchContext
from bench.stagerun import (
    FLOOR_OUT,
    DrainWatch,
    copy_records,
    end_offsets,
    floor_process,
    make_topic,
    read_records,
    session_env,
    tally,
    timed_drain,
)
from otcdesk.client_sim import ClientSim
from otcdesk.clock import wall_now_us
from otcdesk.events import Rfq
from otcdesk.kafka import EventProducer, consumer_config
from otcdesk.serde import default_serde
from otcdesk.settings import Settings


@pytest.fixture()
def ctx(stack: Settings) -> BenchContext:
    return BenchContext(stack, repeats=1, smoke=True)


def _rfqs(n: int) -> list[Rfq]:
    clients = ClientSim(int(uuid.uuid4().int % 1000), source="test")
    return [clients.next_rfq(wall_now_us() + i) for i in range(n)]


def test_copy_keeps_partition_key_value_headers_and_the_window(ctx: BenchContext) -> None:
    with ctx.scratch_namespace("t-src") as src, ctx.scratch_namespace("t-dst") as dst:
        with EventProducer(src) as producer:
            for i, rfq in enumerate(_rfqs(60)):
                producer.produce(rfq, headers=[("n", str(i).encode())])
        ends = end_offsets(src, ["rfq"])
        start = {tp: end // 2 for tp, end in ends.items()}
        assert copy_records(src, dst, ["rfq"], start=start) == sum(ends.values()) - sum(start.values())
        original = {
            (m.partition(), m.key(), m.value(), tuple(m.headers())) for _, m in read_records(src, ["rfq"], start=start)
        }
        copied = {(m.partition(), m.key(), m.value(), tuple(m.headers())) for _, m in read_records(dst, ["rfq"])}
        assert copied == original and len(copied) == sum(ends.values()) - sum(start.values())
        assert tally(dst, ["rfq"]) == {"rfq:Rfq": len(copied)}


def test_drained_means_every_input_offset_committed(ctx: BenchContext) -> None:
    with ctx.scratch_namespace("t-drain") as ns:
        with EventProducer(ns) as producer:
            for rfq in _rfqs(40):
                producer.produce(rfq)
        ends = end_offsets(ns, ["rfq"])
        group = ns.group("probe")
        consumer = Consumer(consumer_config(ns, group, **{"enable.auto.commit": False}))
        try:
            half = [TopicPartition(ns.topic("rfq"), p, end // 2) for (_, p), end in ends.items()]
            consumer.commit(offsets=half, asynchronous=False)
            watch = DrainWatch(ns, group, ["rfq"])
            joined, committed, left = watch.poll()
            assert not joined  # no member: nobody is consuming
            assert committed == sum(end // 2 for end in ends.values())
            assert left == sum(ends.values()) - committed > 0
            consumer.commit(
                offsets=[TopicPartition(tp.topic, tp.partition, ends[("rfq", tp.partition)]) for tp in half],
                asynchronous=False,
            )
            assert watch.poll()[1:] == (sum(ends.values()), 0)
        finally:
            consumer.close()


def test_the_floor_drains_what_is_loaded_after_it_joined_and_reencodes_it(ctx: BenchContext) -> None:
    rfqs = _rfqs(50)
    with ctx.scratch_namespace("t-floor") as ns:
        make_topic(ns, FLOOR_OUT)
        env = session_env(ns, start_us=wall_now_us(), speed=1.0)
        started = time.monotonic()
        with floor_process(["rfq"], env) as proc:

            def load() -> int:
                with EventProducer(ns) as producer:
                    for rfq in rfqs:
                        producer.produce(rfq)
                return len(rfqs)

            drain = timed_drain(
                DrainWatch(ns, ns.group("floor"), ["rfq"]), load, started=started, alive=lambda: proc.poll() is None
            )
        assert drain.events == len(rfqs) and drain.drain_s > 0 and drain.join_s > 0
        serde = default_serde()
        out = [serde.decode(m.value()) for _, m in read_records(ns, [FLOOR_OUT])]
        assert sorted(out, key=lambda e: e.event_id) == sorted(rfqs, key=lambda e: e.event_id)
