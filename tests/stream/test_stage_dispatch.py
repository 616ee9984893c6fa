"""Every agent of every stage takes the event types its handlers declare (`Stage.consume`): an
event of another type is dead-lettered by the runtime with one reason and one text shape, except
where the input ignores the others (client-sim reads only the quotes on `quotes`)."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from prometheus_client import REGISTRY

from otcdesk.events import DeadLetter
from otcdesk.settings import Settings
from streams import STAGES
from streams.testing import StageHarness

T0 = 1_764_000_000_000_000
#: (stage, input topic) -> an event of another type is passed over, not refused
IGNORES_OTHERS = {("client-sim", "quotes")}


def _stranger() -> DeadLetter:
    """A valid event no stage takes on any input."""
    return DeadLetter("e-stranger", T0, "test", "tc-x", 0, 0, b"rfq-1", None, "r", "C", "m", "g")


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _agents(settings: Settings, name: str) -> tuple[StageHarness, list[str]]:
    stage = importlib.import_module(f"streams.{name.replace('-', '_')}").build(settings)
    topics = sorted(t.removeprefix(settings.namespace) for t in stage._consumed)
    return StageHarness(stage), topics


@pytest.mark.parametrize("name", STAGES)
def test_an_event_of_a_type_an_agent_does_not_take_is_dead_lettered_as_a_wrong_event(
    settings: Settings, name: str
) -> None:
    harness, topics = _agents(settings, name)
    assert topics
    timed = _count("otcdesk_stage_handler_seconds_count", stage=name, type="dead_letter")
    refusals = _count("otcdesk_stage_dead_letters_total", stage=name, reason="invalid:wrong_event")
    for topic in topics:
        harness.put(topic, _stranger())
    asyncio.run(harness.run())
    refused = [t for t in topics if (name, t) not in IGNORES_OTHERS]
    assert [(d.source_topic, d.reason, d.error_class, d.error_message) for d in harness.dead_letters()] == [
        (settings.topic(t), "invalid:wrong_event", "RejectedError", f"wrong_event: DeadLetter on {t}") for t in refused
    ]
    assert [e for e in harness.sent_events() if not isinstance(e, DeadLetter)] == []
    assert harness.stage.handled == len(topics)
    # counted as every handled record: taken, timed in the handler, dead-lettered by reason
    assert _count("otcdesk_stage_handler_seconds_count", stage=name, type="dead_letter") == timed + len(topics)
    assert _count("otcdesk_stage_dead_letters_total", stage=name, reason="invalid:wrong_event") == refusals + len(
        refused
    )
    for topic in topics:
        assert _count("otcdesk_stage_events_in_total", stage=name, topic=topic, type="dead_letter") >= 1
