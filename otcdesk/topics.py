"""The desk's topics: specs from settings, idempotent creation, end offsets.

Lifecycle topics share one partition count so a deal's events (keyed by rfq_id) sit on the same
partition number everywhere: a stage can join them without a repartition. `prices` is keyed by
venue:symbol and sized on its own; `dlq` keeps one partition (ordered, like Kafka Connect's).
Replication follows the cluster the broker reports (`TopicSettings.replication`): on three brokers
every topic has three replicas and min.insync.replicas 2, so with acks=all a broker can die.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec, TopicMetadata

from otcdesk.errors import DeskError, TransientError
from otcdesk.kafka import admin_client, broker_metadata, client_config
from otcdesk.settings import ALL_TOPICS, CONTROL_TOPICS, LIFECYCLE_TOPICS, Settings
from otcdesk.streamtime import PRODUCERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    end_offsets: tuple[int, ...]

    @property
    def messages(self) -> int:
        return sum(self.end_offsets)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    t = settings.topics
    specs = []
    for name in ALL_TOPICS:
        if name in LIFECYCLE_TOPICS:
            specs.append(TopicSpec(settings.topic(name), t.partitions, t.retention_ms))
        elif name == "prices":
            specs.append(TopicSpec(settings.topic(name), t.prices_partitions, t.prices_retention_ms))
        else:
            specs.append(TopicSpec(settings.topic(name), t.dlq_partitions, t.dlq_retention_ms))
    # one partition per producer of a session (otcdesk.streamtime.PRODUCERS): a stage reads those it waits for
    specs += [TopicSpec(settings.topic(name), len(PRODUCERS), t.retention_ms) for name in CONTROL_TOPICS]
    return specs


def replication(settings: Settings, brokers: int) -> tuple[int, dict[str, str]]:
    """(replication factor, topic config) of a topic made on a cluster of `brokers`."""
    factor, min_isr = settings.topics.replication(brokers)
    return factor, {"min.insync.replicas": str(min_isr)}


def create_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, str]:
    """Create missing topics; returns name -> 'created' | 'exists'. Refuses a partition mismatch."""
    metadata = broker_metadata(settings, timeout_s)
    existing = metadata.topics
    factor, replicated = replication(settings, len(metadata.brokers))
    admin = admin_client(settings)
    result: dict[str, str] = {}
    new = []
    for spec in topic_specs(settings):
        if spec.name in existing:
            have = len(existing[spec.name].partitions)
            if have != spec.partitions:
                raise DeskError(
                    f"topic {spec.name} has {have} partitions, settings say {spec.partitions}: "
                    "co-partitioning needs them equal (recreate it or change the setting)"
                )
            result[spec.name] = "exists"
            continue
        new.append(
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=factor,
                config={"retention.ms": str(spec.retention_ms)} | replicated,
            )
        )
    if new:
        for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
            try:
                future.result()
                result[name] = "created"
            except KafkaException as exc:
                if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: a concurrent create won
                    raise DeskError(f"creating topic {name} failed: {exc.args[0]}") from None
                result[name] = "exists"
        _wait_for_leaders(settings, admin, [t.topic for t in new], timeout_s)
        _wait_until_served(
            settings, [TopicPartition(t.topic, p) for t in new for p in range(t.num_partitions)], timeout_s
        )
    return result


def _wait_for_leaders(settings: Settings, admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """A created topic answers metadata before its partitions have leaders; wait for them. On a
    cluster each broker learns of a new topic from the controller in its own time, and a client
    that asks another broker a moment later would not find it: each broker is asked."""
    deadline = time.monotonic() + timeout_s
    clients = _each_broker(settings, admin, timeout_s)
    while time.monotonic() < deadline:
        if all(_have_leaders(c.list_topics(timeout=timeout_s).topics, names) for c in clients):
            return
        time.sleep(0.2)
    raise TransientError(f"topics {', '.join(names)} have no partition leaders after {timeout_s}s")


def _wait_until_served(settings: Settings, partitions: list[TopicPartition], timeout_s: float) -> None:
    """Wait until the leader of every new partition answers ListOffsets, that is, has created the
    partition's log. Metadata names a leader as soon as the controller has placed the partition,
    but a busy broker creates the logs of a batch of new topics one by one, seconds later. A
    record sent in that window can be reported delivered by librdkafka's idempotent producer
    without the partition ever holding it (the broker refuses a first batch, accepts a later
    one as the partition's first, then answers the retried first batch as a duplicate, which
    librdkafka counts as delivered), so nothing should be produced before every log exists.

    Each round asks with a fresh client (a client's metadata can still hold the leaders of a
    topic deleted and made again). A precaution, not a condition: partitions still not served
    after `timeout_s` are logged and left to the producers' own retries."""
    deadline = time.monotonic() + timeout_s
    pending = list(partitions)
    while pending:
        admin = admin_client(settings)
        futures = admin.list_offsets({tp: OffsetSpec.latest() for tp in pending}, request_timeout=timeout_s)
        failed = []
        for tp, future in futures.items():
            try:
                future.result()
            except KafkaException:
                failed.append(tp)
        pending = failed
        if pending and time.monotonic() >= deadline:
            names = sorted({f"{tp.topic}[{tp.partition}]" for tp in pending})
            log.warning("partitions %s not served %g s after their creation", ", ".join(names[:5]), timeout_s)
            return
        if pending:
            time.sleep(0.1)


def _each_broker(settings: Settings, admin: AdminClient, timeout_s: float) -> list[AdminClient]:
    """One admin client per broker of the cluster (just `admin` when there is one broker), to
    see what each of them knows: a fresh client asks its bootstrap broker."""
    brokers = admin.list_topics(timeout=timeout_s).brokers.values()
    if len(brokers) < 2:
        return [admin]
    return [AdminClient(client_config(settings) | {"bootstrap.servers": f"{b.host}:{b.port}"}) for b in brokers]


def _have_leaders(topics: dict[str, TopicMetadata], names: list[str]) -> bool:
    return all(
        n in topics and topics[n].partitions and all(p.leader >= 0 for p in topics[n].partitions.values())
        for n in names
    )


def describe_topics(settings: Settings, timeout_s: float = 10.0) -> list[TopicState]:
    """Partitions and end offsets (high watermarks) of the desk's topics that exist."""
    conf = client_config(settings) | {"group.id": "otcdesk-topics-cli", "enable.auto.commit": False}
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(timeout=timeout_s).topics
        states = []
        for name in map(settings.topic, (*ALL_TOPICS, *CONTROL_TOPICS)):
            if name not in meta:
                continue
            ends = tuple(
                consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout_s)[1]
                for p in sorted(meta[name].partitions)
            )
            states.append(TopicState(name, len(ends), ends))
        return states
    except KafkaException as exc:
        raise TransientError(f"Kafka at {settings.bootstrap} did not answer: {exc.args[0]}") from None
    finally:
        consumer.close()


def ensure_changelog_topic(settings: Settings, name: str, partitions: int, timeout_s: float = 30.0) -> None:
    """Create a faust table's compacted changelog topic up front (idempotent).

    faust declares it itself once the worker runs, but a table written before the worker's
    consumer has metadata for a just-made topic fails with PartitionsMismatch ("0 partitions");
    made before the worker starts, the topic is in the consumer's first metadata.
    """
    admin = admin_client(settings)
    metadata = admin.list_topics(timeout=timeout_s)
    if name in metadata.topics:
        return
    factor, replicated = replication(settings, len(metadata.brokers))
    topic = NewTopic(
        name, num_partitions=partitions, replication_factor=factor, config={"cleanup.policy": "compact"} | replicated
    )
    try:
        admin.create_topics([topic], operation_timeout=timeout_s)[name].result(timeout=timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != 36:  # TOPIC_ALREADY_EXISTS: another worker made it
            raise DeskError(f"creating changelog topic {name} failed: {exc.args[0]}") from None
    _wait_for_leaders(settings, admin, [name], timeout_s)


def delete_namespace(settings: Settings, timeout_s: float = 30.0, *, wait_for_members: bool = False) -> list[str]:
    """Delete a namespace's topics (desk topics and faust changelogs) and consumer groups.

    For `otcdesk simulate` (a session starts from empty topics) and for tests. Refuses the default
    (empty) namespace: that is the desk's production data. Returns the topics deleted.
    `wait_for_members`: wait until groups still held by (killed) members can be deleted too.
    """
    if not settings.namespace:
        raise DeskError("refusing to delete the default namespace's topics")
    admin = admin_client(settings)
    listed = admin.list_topics(timeout=timeout_s).topics
    prefixes = (settings.namespace, f"otcdesk-{settings.namespace}")
    topics = sorted(t for t in listed if t.startswith(prefixes))
    for future in admin.delete_topics(topics, operation_timeout=timeout_s).values() if topics else ():
        with contextlib.suppress(KafkaException):  # already gone
            future.result(timeout=timeout_s)
    _delete_groups(admin, f"otcdesk-{settings.namespace}", timeout_s, wait_for_members)
    deadline = time.monotonic() + timeout_s
    clients = _each_broker(settings, admin, timeout_s)
    while time.monotonic() < deadline:  # deletion is asynchronous: a re-create must not race it
        if not any(set(topics) & set(c.list_topics(timeout=timeout_s).topics) for c in clients):
            break
        time.sleep(0.2)
    return topics


def recreate_namespace(settings: Settings, timeout_s: float = 30.0) -> None:
    """A namespace emptied and its desk topics made anew (`delete_namespace`, then `create_topics`).

    A topic the broker that answers still lists right after its deletion would be taken as
    existing and never made again, and the session would start on topics about to vanish: the
    creation is repeated until every deleted desk topic was created, not found."""
    deleted = set(delete_namespace(settings, timeout_s, wait_for_members=True))
    deadline = time.monotonic() + timeout_s
    while True:
        made = create_topics(settings, timeout_s)
        stale = sorted(name for name, done in made.items() if done == "exists" and name in deleted)
        if not stale:
            return
        if time.monotonic() >= deadline:
            raise TransientError(f"topics {', '.join(stale)} still listed {timeout_s:g} s after their deletion")
        time.sleep(0.5)


def _delete_groups(admin: AdminClient, prefix: str, timeout_s: float, wait_for_members: bool) -> None:
    """Delete the consumer groups named `prefix*`, waiting out members of killed processes.

    A group with members cannot be deleted; a process killed with -9 stays a member until its
    session times out, and a new worker joining that group waits for it just as long (its first
    event would come a minute late). So wait here, once, with the reason in the error if it
    does not end.
    """
    deadline = time.monotonic() + max(timeout_s, 90.0)
    while True:
        listed = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout=timeout_s).valid
        groups = [g.group_id for g in listed if g.group_id.startswith(prefix)]
        if not groups:
            return
        busy = []
        for group, future in admin.delete_consumer_groups(groups, request_timeout=timeout_s).items():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    busy.append(group)
        if not busy or not wait_for_members:
            return
        if time.monotonic() > deadline:
            raise DeskError(
                f"consumer groups {', '.join(busy)} still have members: stop the processes of "
                "the earlier session (or wait for their session timeout)"
            )
        time.sleep(2.0)
