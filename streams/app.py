"""The faust app every desk stage runs on, with the desk's delivery settings.

faust-streaming leaves aiokafka's producer at acks=1 without idempotence unless the app runs
exactly-once, whose open duplicate/crash bugs (faust-streaming #517, #323, #177, #440, #136) rule
it out here. So the desk runs at-least-once with an idempotent producer (the transport below
turns it on) and consumers that deduplicate by event_id. aiokafka partitions keys with murmur2,
like Java and like our confluent-kafka producers (`partitioner=murmur2_random`). Its consumer
closes two windows in which faust drops records after a rebalance (SeekFirstConsumer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Set
from typing import Any

import faust
from faust.serializers import codecs
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from otcdesk.settings import Settings
from streams.codec import DeskAvroCodec


class IdempotentProducer(aiokafka_driver.Producer):
    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class SeekFirstConsumer(aiokafka_driver.Consumer):
    """faust's consumer without two ways a restarted worker with tables drops records for good.

    Found by `otcdesk chaos kill` (a restarted acceptance never handled a quote) and reproduced
    on the real broker by tests/integration/test_recovery_seek.py. Both are faust 0.15.3 races
    around a rebalance; neither is fixed upstream (faust-streaming #596 is the first, open).

    1. Recovery resumes the stream partitions, seeks them to their committed offsets (a round
       trip in the consumer thread) while the fetcher runs, then resumes flow control, which
       clears every stream's queue. Records fetched during the seek are cleared, and their read
       offset has moved on, so when they come again the consumer drops them as already read.
       Here a partition resumed takes effect at the next `resume_flow`: faust calls it after every
       resume, after the seek and the clear, so nothing is fetched in between.
    2. faust fetches with its *live* set of active partitions, read in the consumer thread while
       the event loop changes it. When it empties meanwhile (recovery pauses the changelogs
       before it resumes the streams), aiokafka reads an empty set as "every partition" and
       hands over records faust then drops as inactive, with their positions moved on. The seek
       to committed offsets brings back those of partitions that have one; a partition without
       (a deal's first records) loses them. Here the fetch gets a copy taken when it starts.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_pending: set[TP] = set()

    def resume_partitions(self, tps: Iterable[TP]) -> None:
        self._resume_pending.update(tps)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = set(tps)
        self._resume_pending.difference_update(tps)
        super().pause_partitions(tps)

    def resume_flow(self) -> None:
        pending, self._resume_pending = self._resume_pending, set()
        if pending:
            super().resume_partitions(pending)
        super().resume_flow()

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        self._resume_pending.difference_update(revoked)
        await super().on_partitions_revoked(revoked)

    async def _getmany(self, active_partitions: Set[TP] | None, timeout: float) -> Mapping[TP, list[Any]]:
        if active_partitions is None:  # client-only apps: every partition is meant
            return await super()._getmany(None, timeout)
        snapshot = set(active_partitions)
        if not snapshot:
            return {}
        return await super()._getmany(snapshot, timeout)


class DeskTransport(aiokafka_driver.Transport):
    Producer = IdempotentProducer
    Consumer = SeekFirstConsumer


class DeskWorker(faust.Worker):
    """faust's worker without its start-up spinner's logging hook.

    For the spinner, faust sets the root logger to DEBUG and adds a DEBUG handler, and leaves both
    after start-up when the spinner has stopped: every debug line of aiokafka and faust (several
    per fetch and per produce) then builds a LogRecord and walks the stack for nothing, about 5 %
    of a stage's CPU on the quote path. Without the hook the root logger keeps the level asked for.
    """

    def _setup_spinner_handler(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None  # start-up then ends with "Ready" at info instead of the spinner's "OK"


class DeskApp(faust.App):
    """faust.App whose Kafka transport uses the idempotent producer."""

    def _new_transport(self) -> DeskTransport:
        return DeskTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> DeskTransport:
        return DeskTransport(self.conf.broker_producer, self)


codecs.register("otcdesk-avro", DeskAvroCodec())


def broker_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """faust's form of the desk's security settings; faust hands them to every aiokafka client it
    makes (consumer, producer, topic creation). The protocol follows from the type: SASL
    credentials with a TLS context are SASL_SSL, without one SASL_PLAINTEXT; SSL credentials SSL."""
    sec = settings.security
    context = sec.ssl_context()
    if sec.sasl_mechanism:
        password = sec.sasl_password.get_secret_value() if sec.sasl_password else ""
        return faust.SASLCredentials(
            username=sec.sasl_username or "", password=password, mechanism=sec.sasl_mechanism, ssl_context=context
        )
    return faust.SSLCredentials(context) if context else None


def make_app(stage: str, settings: Settings, **overrides: Any) -> DeskApp:
    """A faust app named `otcdesk-<stage>`: that is its consumer group id, visible in `otcdesk lag`."""
    datadir = settings.state_dir / "faust" / settings.group(stage)
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    conf: dict[str, Any] = dict(
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=broker_credentials(settings),
        key_serializer="raw",
        value_serializer="otcdesk-avro",
        store="memory://",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        topic_partitions=settings.topics.partitions,
        # faust declares no topic of its own here (no tables, no leader topic): the desk's topics and
        # any changelog are made beforehand by otcdesk.topics, replicated by the cluster's size
        topic_replication_factor=settings.topics.replication_factor or 1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_interval=1.0,
        # records wait in the stage's event-time queue, acknowledged once handled: a rebalance must
        # not wait for them (their offsets are simply not committed yet, and come again)
        stream_wait_empty=False,
        # a killed worker's group membership ends after this; its restarted self (or the next
        # worker) waits that long for its partitions. faust's 60 s default is a minute of outage.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        datadir=str(datadir),
        Worker=DeskWorker,
    )
    conf.update(overrides)
    return DeskApp(settings.group(stage), **conf)
