"""Thin confluent-kafka wrappers with the desk's delivery settings in one place.

Why wrappers at all: three librdkafka defaults would silently hurt the desk.
- `partitioner` defaults to CRC32 (`consistent_random`) while aiokafka (faust) and Java use
  murmur2: an RFQ produced here and its trade produced by a faust stage would land on different
  partitions and co-partitioned joins would break. Every producer sets `murmur2_random`.
- `enable.idempotence` is off by default: a retried send could duplicate an event.
- errors in delivery callbacks are easy to drop; here they are counted, and `confirm()` (also
  on leaving a `with EventProducer(...)` block) raises unless the broker acknowledged every record.

librdkafka prints its own log (a line per refused connection, several a second) on stderr; every
client here sends it to the `otcdesk.librdkafka` logger instead, which is quiet unless a process
asks for it (`otcdesk --verbose`, the sink service): failures reach people as one error instead.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata

from otcdesk.errors import AuthenticationError, DeliveryError, TopicMissingError, TransientError
from otcdesk.events import Event
from otcdesk.serde import AvroSerde, default_serde
from otcdesk.settings import Settings

log = logging.getLogger(__name__)

#: Where every client of `client_config` sends librdkafka's log: nowhere until `show_librdkafka_log()`.
LIBRDKAFKA_LOG = logging.getLogger("otcdesk.librdkafka")
LIBRDKAFKA_LOG.addHandler(logging.NullHandler())
LIBRDKAFKA_LOG.propagate = False
#: Delivery failures kept as text in `DeliveryStats.errors` (the count has them all).
_ERRORS_KEPT = 20


def show_librdkafka_log() -> None:
    """Let librdkafka's log through to the handlers this process configured (the root logger's)."""
    LIBRDKAFKA_LOG.propagate = True


def client_config(settings: Settings) -> dict[str, Any]:
    """Bootstrap address and security settings shared by every confluent-kafka client.

    librdkafka redacts sasl.password and ssl.key.password in its own logs (even with debug=conf);
    nothing here logs this dict.
    """
    sec = settings.security
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "security.protocol": sec.protocol,
        "logger": LIBRDKAFKA_LOG,
    }
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


def unreachable(settings: Settings, detail: str) -> TransientError:
    """The one line for a broker that does not answer: where, why, and what to do about it."""
    fix = "check KAFKA_BOOTSTRAP" if settings.stack == "external" else "start it with `otcdesk stack up`"
    return TransientError(f"Kafka is not reachable at {settings.bootstrap} ({detail}) — {fix}")


def missing_topics(names: Iterable[str]) -> TopicMissingError:
    listed = sorted(set(names))
    if len(listed) == 1:
        return TopicMissingError(f"topic {listed[0]} does not exist — create it with `otcdesk init`")
    return TopicMissingError(f"topics {', '.join(listed)} do not exist — create them with `otcdesk init`")


def _connect_problem(bootstrap: str, timeout_s: float = 1.0) -> str | None:
    """Why no bootstrap address takes a TCP connection (None: one does, or the list is not host:port).
    librdkafka retries a refused connection until its timeout; this says it at once."""
    problem = None
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition("://")[2].rpartition(":")
        if not port.isdigit():
            return None
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s):
                return None
        except ConnectionRefusedError:
            problem = "connection refused"
        except OSError as exc:
            problem = exc.strerror or str(exc)
    return problem


def broker_metadata(settings: Settings, timeout_s: float = 5.0) -> ClusterMetadata:
    """The cluster's metadata; TransientError naming the address and the fix when the broker does
    not answer (at once when nothing listens there).

    A refused login raises AuthenticationError with the broker's reason instead, within a second:
    librdkafka reports it only to `error_cb` and would let list_topics run to its timeout and
    fail with 'Broker transport failure', so the request is retried in short slices.
    """
    problem = _connect_problem(settings.bootstrap)
    if problem is not None:
        raise unreachable(settings, problem)
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
                reason = str(exc.args[0].str()).replace("Failed to get metadata: ", "").replace("Local: ", "")
                raise unreachable(settings, f"no answer in {timeout_s:g} s: {reason}") from None


def check_broker(settings: Settings, timeout_s: float = 5.0) -> None:
    """Raise TransientError (no answer) or AuthenticationError (login refused) before real work."""
    broker_metadata(settings, timeout_s)


def require_topics(settings: Settings, names: Iterable[str], timeout_s: float = 5.0) -> ClusterMetadata:
    """The cluster's metadata once each topic of `names` (Kafka names, namespace included) exists;
    TopicMissingError naming the missing ones and `otcdesk init` otherwise. Before publishing:
    librdkafka would hold a record for an unknown topic 30 s before failing it."""
    metadata = broker_metadata(settings, timeout_s)
    missing = [name for name in names if name not in metadata.topics]
    if missing:
        raise missing_topics(missing)
    return metadata


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, as topic[partition]: reason
    missing_topics: set[str] = field(default_factory=set)  # failed as unknown to the broker


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record fetched without error or acknowledged by the broker.
    The client types each as optional, for the messages it builds itself; these carry all three."""
    return cast("tuple[str, int, int]", (msg.topic(), msg.partition(), msg.offset()))


class EventProducer:
    """Produces typed events as single-object Avro, keyed by the deal's rfq_id."""

    def __init__(self, settings: Settings, serde: AvroSerde | None = None, /, **overrides: Any) -> None:
        self.serde = serde or default_serde()
        self.settings = settings
        self.stats = DeliveryStats()
        #: (topic, partition) -> one past the offset of the last acknowledged record (not kept for
        #: the records of `produce_records`)
        self.positions: dict[tuple[str, int], int] = {}
        #: records handed to librdkafka by `produce_records`, counted as they go (also when interrupted)
        self.records_produced = 0
        self._producer = Producer(producer_config(settings, **overrides))

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats.delivered += 1
            topic, partition, offset = position(msg)
            tp = (topic, partition)
            if offset is not None and offset + 1 > self.positions.get(tp, 0):
                self.positions[tp] = offset + 1
            return
        self._on_failure(err, msg)

    def _on_counted_delivery(self, err: KafkaError | None, msg: Message) -> None:
        """The delivery callback of `produce_records`: a counter per acknowledgement, failures as
        in `_on_delivery`."""
        if err is None:
            self.stats.delivered += 1
        else:
            self._on_failure(err, msg)

    def _on_failure(self, err: KafkaError, msg: Message) -> None:
        self.stats.failed += 1
        text = f"{msg.topic()}[{msg.partition()}]: {err.str()}"
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            self.stats.missing_topics.add(str(msg.topic()))
        if len(self.stats.errors) < _ERRORS_KEPT:
            self.stats.errors.append(text)
            log.error("delivery failed %s", text)

    def produce(
        self,
        event: Event,
        topic: str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        self.produce_bytes(
            topic or self.settings.topic(event.TOPIC), event.key.encode(), self.serde.encode(event), headers, partition
        )

    def produce_bytes(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None = None,
        partition: int | None = None,
    ) -> None:
        extra: dict[str, Any] = {} if partition is None else {"partition": partition}  # else the key's (murmur2)
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=headers,  # type: ignore[arg-type]  # typed list/dict; any sequence or mapping works
                    on_delivery=self._on_delivery,
                    **extra,
                )
                break
            except BufferError:  # local queue full: serve callbacks, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def produce_records(self, topic: str, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce already encoded (key, value) records to `topic` in order, partitioned by key.

        The loop a bulk sender needs and no more: `produce` with a counting delivery callback, then
        `poll(0)` to serve the callbacks; a full local queue is waited out as in `produce_bytes`.
        Acknowledgements and failures land in `stats` like every record's; `records_produced` grows
        by each record librdkafka accepted, also when a KeyboardInterrupt stops the loop.
        """
        producer = self._producer
        produce, poll, on_delivery = producer.produce, producer.poll, self._on_counted_delivery
        handed = 0
        try:
            for key, value in records:
                while True:
                    try:
                        produce(topic, value, key, on_delivery=on_delivery)
                        break
                    except BufferError:  # local queue full: serve callbacks, then retry
                        poll(0.05)
                handed += 1
                poll(0)
        finally:
            self.records_produced += handed

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every delivery; TransientError if some are still unacknowledged (failed ones
        are counted in `stats`: `confirm` is the check that none failed)."""
        left = self._producer.flush(timeout_s)
        if left:
            raise TransientError(f"{left} events not acknowledged by Kafka within {timeout_s}s")

    def confirm(self, timeout_s: float = 30.0) -> None:
        """Wait for the broker's answer to every record produced so far; DeliveryError unless each
        one was acknowledged (TopicMissingError when its topic does not exist)."""
        left = self._producer.flush(timeout_s)
        stats = self.stats
        if stats.missing_topics:
            raise missing_topics(stats.missing_topics)
        if not stats.failed and not left:
            return
        produced = stats.delivered + stats.failed + left
        parts = [f"{stats.failed} failed, first {stats.errors[0]}"] if stats.failed else []
        parts += [f"{left} unanswered after {timeout_s:g} s (is it up? `otcdesk stack status`)"] if left else []
        raise DeliveryError(
            f"Kafka at {self.settings.bootstrap} acknowledged {stats.delivered} of {produced} "
            f"records: {'; '.join(parts)}"
        )

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Confirm every record; with an exception in flight only flush (that exception is the news)."""
        if exc_type is None:
            self.confirm()
        else:
            self._producer.flush(30.0)


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
