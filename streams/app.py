"""The faust app every desk stage runs on, with the desk's delivery settings.

faust-streaming leaves aiokafka's producer at acks=1 without idempotence unless the app runs
exactly-once, whose open duplicate/crash bugs (faust-streaming #517, #323, #177, #440, #136) rule
it out here. So the desk runs at-least-once with an idempotent producer (the transport below
turns it on) and consumers that deduplicate by event_id. aiokafka partitions keys with murmur2,
like Java and like our confluent-kafka producers (`partitioner=murmur2_random`).
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.serializers import codecs
from faust.transport.drivers import aiokafka as aiokafka_driver

from otcdesk.settings import Settings
from streams.codec import DeskAvroCodec


class IdempotentProducer(aiokafka_driver.Producer):
    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class DeskTransport(aiokafka_driver.Transport):
    Producer = IdempotentProducer


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
        topic_replication_factor=settings.topics.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        broker_commit_interval=1.0,
        # a killed worker's group membership ends after this; its restarted self (or the next
        # worker) waits that long for its partitions. faust's 60 s default is a minute of outage.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        datadir=str(datadir),
        Worker=DeskWorker,
    )
    conf.update(overrides)
    return DeskApp(settings.group(stage), **conf)
