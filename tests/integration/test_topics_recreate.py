"""A namespace made anew on the real broker (otcdesk.topics.recreate_namespace): every desk topic
exists again, empty, and each of its partitions is served; the records of the run before are gone."""

from __future__ import annotations

import uuid

import pytest

from otcdesk.kafka import EventProducer
from otcdesk.settings import ALL_TOPICS, CONTROL_TOPICS, Settings
from otcdesk.topics import create_topics, delete_namespace, describe_topics, recreate_namespace
from tests.samples import sample_events

pytestmark = pytest.mark.integration


def test_a_recreated_namespace_has_every_topic_empty(stack: Settings) -> None:
    scoped = stack.model_copy(update={"namespace": f"t-recreate-{uuid.uuid4().hex[:8]}-"})
    try:
        create_topics(scoped)
        with EventProducer(scoped) as producer:
            for event in sample_events():
                producer.produce(event)
        assert sum(t.messages for t in describe_topics(scoped)) > 0  # the run before left records
        recreate_namespace(scoped)
        states = describe_topics(scoped)
        assert {t.name for t in states} == {scoped.topic(t) for t in (*ALL_TOPICS, *CONTROL_TOPICS)}
        assert all(t.messages == 0 for t in states), states
    finally:
        delete_namespace(scoped)
