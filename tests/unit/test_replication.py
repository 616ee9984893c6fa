"""Replication means something only if every producer waits for the in-sync replicas: acks=all
and idempotence in both client libraries, and the topics' factor taken from the cluster's size."""

from __future__ import annotations

from otcdesk.kafka import producer_config
from otcdesk.settings import Settings, TopicSettings
from otcdesk.topics import replication
from streams.app import IdempotentProducer, make_app


def test_confluent_kafka_producers_wait_for_every_in_sync_replica() -> None:
    conf = producer_config(Settings())
    assert conf["acks"] == "all" and conf["enable.idempotence"] is True


def test_faust_stages_produce_with_acks_all_and_idempotence() -> None:
    app = make_app("unit-acks", Settings().model_copy(update={"namespace": "unit-"}))
    assert app.conf.producer_acks == -1
    producer = app.producer
    assert isinstance(producer, IdempotentProducer)
    conf = {**producer._settings_default(), **producer._settings_extra()}  # what aiokafka is given
    assert conf["acks"] == "all" and conf["enable_idempotence"] is True
    assert app.conf.topic_disable_leader  # faust makes no topic itself: otcdesk.topics replicates them all


def test_topics_take_their_replication_from_the_cluster_unless_pinned() -> None:
    settings = Settings()
    assert replication(settings, 1) == (1, {"min.insync.replicas": "1"})
    assert replication(settings, 3) == (3, {"min.insync.replicas": "2"})
    pinned = settings.model_copy(update={"topics": TopicSettings(replication_factor=3, min_insync_replicas=2)})
    assert replication(pinned, 1) == (3, {"min.insync.replicas": "2"})
