"""Thin confluent-kafka wrappers with the desk's delivery settings in one place.

Why wrappers at all: three librdkafka defaults would silently hurt the desk.
- `partitioner` defaults to CRC32 (`consistent_random`) while aiokafka (faust) and Java use
  murmur2: an RFQ produced here and its trade produced by a faust stage would land on different
  partitions and co-partitioned joins would break. Every producer sets `murmur2_random`.
- `enable.idempotence` is off by default: a retried send could duplicate an event.
- errors in delivery callbacks are easy to drop; here they are counted and logged with
  topic[partition] and offset.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

from otcdesk.errors import AuthenticationError, TransientError
from otcdesk.events import Event
from otcdesk.serde import AvroSerde, default_serde
from otcdesk.settings import Settings

log = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """Bootstrap address and security settings shared by every confluent-kafka client.

    librdkafka redacts sasl.password and ssl.key.password in its own logs (even with debug=conf);
    nothing here logs this dict.
    """
    sec = settings.security
    conf: dict[str, Any] = {"bootstrap.servers": settings.bootstrap, "security.protocol": sec.protocol}
    if sec.sasl_mechanism:
        conf["sasl.mechanisms"] = sec.sasl_mechanism
        conf["sasl.username"] = sec.sasl_username or ""
        conf["sasl.password"] = sec.sasl_password.get_secret_value() if sec.sasl_password else ""
    if sec.ssl_cafile:
        conf["ssl.ca.location"] = str(sec.ssl_cafile)
    if sec.ssl_certfile and sec.ssl_keyfile:
        conf["ssl.certificate.location"] = str(sec.ssl_certfile)
        conf["ssl.key.location"] = str(sec.ssl_keyfile)
    if sec.ssl_key_password:
        conf["ssl.key.password"] = sec.ssl_key_password.get_secret_value()
    return conf


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    conf = client_config(settings) | {
        "enable.idempotence": True,  # implies acks=all, retries, max.in.flight <= 5
        "acks": "all",
        "partitioner": "murmur2_random",  # same partition as aiokafka/Java for the same key
        "linger.ms": 5,
        "compression.type": "none",  # aiokafka needs extra packages to read lz4/zstd
        # librdkafka gives up on an event after 5 min by default; a broker restart took 4 min on a
        # loaded 2-core box (docs/reliability.md, scenario 3): keep retrying through a longer one.
        "message.timeout.ms": 900_000,
    }
    return conf | overrides


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    conf = client_config(settings) | {
        "group.id": group_id,
        "enable.auto.commit": False,  # commit after the work is done (at-least-once)
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }
    return conf | overrides


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(client_config(settings))


def partition_numbers(settings: Settings, topic: str, timeout_s: float = 10.0) -> list[int]:
    """A topic's partitions from the broker's metadata (empty if it does not exist)."""
    meta = admin_client(settings).list_topics(topic, timeout=timeout_s).topics.get(topic)
    return sorted(meta.partitions) if meta is not None and not meta.error else []


def broker_metadata(settings: Settings, timeout_s: float = 5.0) -> ClusterMetadata:
    """The cluster's metadata; TransientError with the address when the broker does not answer.

    A refused login raises AuthenticationError with the broker's reason instead, within a second:
    librdkafka reports it only to `error_cb` and would let list_topics run to its timeout and
    fail with 'Broker transport failure', so the request is retried in short slices.
    """
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings) | {"error_cb": errors.append})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin.list_topics(timeout=max(0.01, min(1.0, deadline - time.monotonic())))
        except KafkaException as exc:
            admin.poll(0)  # serves the queued error callbacks
            refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
            if refused:
                who = f"user {settings.security.sasl_username!r}" if settings.security.sasl_username else "the desk"
                raise AuthenticationError(f"Kafka at {settings.bootstrap} refused {who}: {refused[0].str()}") from None
            if time.monotonic() >= deadline:
                raise TransientError(f"Kafka at {settings.bootstrap} did not answer: {exc.args[0]}") from None


def check_broker(settings: Settings, timeout_s: float = 5.0) -> None:
    """Raise TransientError (no answer) or AuthenticationError (login refused) before real work."""
    broker_metadata(settings, timeout_s)


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class EventProducer:
    """Produces typed events as single-object Avro, keyed by the deal's rfq_id."""

    def __init__(self, settings: Settings, serde: AvroSerde | None = None, **overrides: Any) -> None:
        self.serde = serde or default_serde()
        self.settings = settings
        self.stats = DeliveryStats()
        #: (topic, partition) -> one past the offset of the last acknowledged record
        self.positions: dict[tuple[str, int], int] = {}
        self._producer = Producer(producer_config(settings, **overrides))

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.delivered += 1
            tp, offset = (msg.topic(), msg.partition()), msg.offset()
            if offset is not None and offset + 1 > self.positions.get(tp, 0):
                self.positions[tp] = offset + 1
            return
        self.stats.failed += 1
        text = f"{msg.topic()}[{msg.partition()}]: {err.str()}"
        self.stats.errors.append(text)
        log.error("delivery failed %s", text)

    def produce(self, event: Event, topic: str | None = None, headers: list[tuple[str, bytes]] | None = None,
                partition: int | None = None) -> None:
        self.produce_bytes(topic or self.settings.topic(event.TOPIC), event.key.encode(), self.serde.encode(event),
                           headers, partition)

    def produce_bytes(self, topic: str, key: bytes | None, value: bytes | None,
                      headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        extra = {} if partition is None else {"partition": partition}  # else the key's (murmur2)
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery,
                                       **extra)
                break
            except BufferError:  # local queue full: serve callbacks, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every delivery; TransientError if some are still unacknowledged."""
        left = self._producer.flush(timeout_s)
        if left:
            raise TransientError(f"{left} events not acknowledged by Kafka within {timeout_s}s")

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def consume(consumer: Consumer, max_messages: int, timeout_s: float) -> Iterator[Message]:
    """Messages (errors logged with topic[partition] and skipped) until a quiet period or the count."""
    seen = 0
    while seen < max_messages:
        batch = consumer.consume(num_messages=min(500, max_messages - seen), timeout=timeout_s)
        if not batch:
            return
        for msg in batch:
            if msg.error():
                log.warning("consume error %s[%s]: %s", msg.topic(), msg.partition(), msg.error())
                continue
            seen += 1
            yield msg


def subscribe(settings: Settings, group_id: str, topics: Iterable[str], **overrides: Any) -> Consumer:
    consumer = Consumer(consumer_config(settings, group_id, **overrides))
    consumer.subscribe(list(topics))
    return consumer
