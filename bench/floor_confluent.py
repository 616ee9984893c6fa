"""The Python floor of a stage: a bare confluent-kafka loop that decodes and re-encodes every event.

What bench.floor does with faust, without faust: one consumer in the group the bench watches
(`<namespace>floor`) on the same input topics, `consume()` of up to 1,000 records, each decoded to
its event and encoded again with the desk's serde (fastavro underneath), produced to the same
output topic with the desk's producer settings (idempotent, acks=all), and the consumed offsets
committed every second after a flush, as faust commits (`broker_commit_interval`). The faust
floor's events/s divided by this one's is what the framework costs on top of the Python client
(bench/stages.py).

    OTCDESK_NAMESPACE=x- OTCDESK_BENCH_FLOOR_TOPICS=rfq python -m bench.floor_confluent
"""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

from confluent_kafka import Consumer, Producer

from otcdesk.kafka import consumer_config, producer_config
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings

OUT = "bench-floor-out"  # bench.stagerun.FLOOR_OUT (not imported: this process stays small)
COMMIT_EVERY_S = 1.0
BATCH = 1000


def run(settings: Settings, sources: list[str]) -> None:
    stop = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    consumer = Consumer(consumer_config(settings, settings.group("floor"), **{"isolation.level": "read_uncommitted"}))
    producer = Producer(producer_config(settings))
    consumer.subscribe([settings.topic(s) for s in sources])
    serde, out = default_serde(), settings.topic(OUT)
    pending, committed_at = False, time.monotonic()
    try:
        while not stop["now"]:
            for msg in consumer.consume(BATCH, 0.1):
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    value = serde.encode(serde.decode(msg.value()))
                except DecodeError:
                    value = None  # a floor forwards what decodes; the desk's stages dead-letter the rest
                if value is not None:
                    try:
                        producer.produce(out, value, msg.key())
                    except BufferError:  # the local queue is full: wait for it, then send
                        producer.flush()
                        producer.produce(out, value, msg.key())
                pending = True
            producer.poll(0)
            if pending and time.monotonic() - committed_at >= COMMIT_EVERY_S:
                producer.flush()  # at-least-once: an offset is committed once its output is acknowledged
                consumer.commit(asynchronous=False)
                pending, committed_at = False, time.monotonic()
    finally:
        producer.flush()
        if pending:
            consumer.commit(asynchronous=False)
        consumer.close()


if __name__ == "__main__":
    run(Settings(), os.environ["OTCDESK_BENCH_FLOOR_TOPICS"].split(","))
