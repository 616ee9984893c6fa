"""bench.stagerun.STAGE_INPUTS is what the stages' agents really consume.

A saturation run times a stage's group until its *input* topics are drained; a stage that gained
an input topic the table does not list would be timed on part of its work only."""

from __future__ import annotations

import importlib

import pytest

from bench.stagerun import STAGE_INPUTS
from otcdesk.settings import Settings
from streams import STAGES


def test_every_stage_has_its_inputs_listed() -> None:
    assert set(STAGE_INPUTS) == set(STAGES)


@pytest.mark.parametrize("name", STAGES)
def test_inputs_are_the_topics_of_the_stage_agents(name: str) -> None:
    settings = Settings(namespace="unit-inputs-")
    stage = importlib.import_module(f"streams.{name.replace('-', '_')}").build(settings)
    consumed = {topic for agent in stage.app.agents.values() for topic in agent.channel.topics}
    assert consumed == {settings.topic(t) for t in STAGE_INPUTS[name]}
