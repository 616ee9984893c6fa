"""The places a stage is registered besides `streams.STAGES` that no other test holds
(docs/architecture.md, "Add a stage"): its module builds a stage of its own name in its own
consumer group, `otcdesk stage list` names that group, it has a `watermarks` partition, the
stages reading its outputs wait for its watermark, and tests/stream runs its agents in faust's
test_context."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from otcdesk.cli.main import app as cli_app
from otcdesk.settings import ALL_TOPICS, Settings, get_settings
from otcdesk.streamtime import PRODUCERS
from streams import STAGES
from streams.stage import Stage

STREAM_TESTS = Path(__file__).resolve().parents[1] / "stream"
NAMESPACE = "walkthrough-"
#: (reader, topic, writer) a reader does not wait for, and why
NOT_WAITED_FOR = {
    # client-sim answers Quotes; acceptance's refusals on `quotes` are not for it, and acceptance
    # waits for client-sim's answers: waiting back would hold both watermarks forever.
    ("client-sim", "quotes", "acceptance"),
}


def _module(stage: str) -> str:
    return stage.replace("-", "_")


@pytest.mark.parametrize("name", STAGES)
def test_the_stage_module_builds_the_stage_of_its_name_in_its_group(name: str) -> None:
    settings = Settings(namespace=NAMESPACE)
    stage = importlib.import_module(f"streams.{_module(name)}").build(settings)
    assert (stage.name, stage.app.conf.id) == (name, settings.group(name))


def test_stage_list_names_each_stage_with_its_consumer_group() -> None:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["stage", "list", "--json"], env={"OTCDESK_NAMESPACE": NAMESPACE})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    groups = Settings(namespace=NAMESPACE).group
    assert json.loads(result.stdout) == [{"stage": s, "consumer group": groups(s)} for s in STAGES]


def test_every_stage_has_its_partition_of_the_watermarks_topic() -> None:
    """A stage publishes its watermark to partition `PRODUCERS.index(name)`: a stage missing
    there fails at its first watermark, in a simulated session only."""
    assert set(STAGES) <= set(PRODUCERS)
    assert len(set(PRODUCERS)) == len(PRODUCERS)


@pytest.fixture(scope="module")
def stream_stages() -> dict[str, Stage]:
    settings = Settings(namespace=NAMESPACE, time="stream")
    return {name: importlib.import_module(f"streams.{_module(name)}").build(settings) for name in STAGES}


def test_every_topic_a_stage_reads_or_writes_is_one_init_creates(stream_stages: dict[str, Stage]) -> None:
    read = {spec.topic.removeprefix(NAMESPACE) for stage in stream_stages.values() for spec in stage.processor.inputs}
    written = {topic for stage in stream_stages.values() for topic in stage.outputs}
    assert read | written <= set(ALL_TOPICS)


def test_every_input_waits_for_the_stages_that_write_its_topic(stream_stages: dict[str, Stage]) -> None:
    """In stream time an input is released once the watermarks of `waits_for` pass it: a stage
    writing the topic but missing there has its records judged before they arrive."""
    writers = {(topic, name) for name, stage in stream_stages.items() for topic in stage.outputs}
    missing = [
        (reader, spec.topic.removeprefix(NAMESPACE), writer)
        for reader, stage in stream_stages.items()
        for spec in stage.processor.inputs
        for topic, writer in writers
        if topic == spec.topic.removeprefix(NAMESPACE) and writer not in (reader, *spec.waits_for)
    ]
    assert set(missing) == NOT_WAITED_FOR
    waited = {p for stage in stream_stages.values() for spec in stage.processor.inputs for p in spec.waits_for}
    assert waited <= set(PRODUCERS)


def test_every_stage_has_agent_tests_in_faust_test_context() -> None:
    imported = {
        m
        for path in STREAM_TESTS.glob("test_*.py")
        for m in re.findall(r"^from streams\.(\w+) import", path.read_text(), flags=re.MULTILINE)
    }
    assert {_module(s) for s in STAGES} <= imported
