"""Scenario 5: 10,000 malformed messages on every input topic of the stages beside a normal
seeded session: no stage exits, each message is dead-lettered by every stage that must refuse
it, with a reason of its kind, and every RFQ of the session gets its outcome
(otcdesk/chaos/hostile.py, otcdesk/chaos/fuzz.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcdesk.chaos import fuzz, hostile
from otcdesk.serde import DecodeError, default_serde
from otcdesk.settings import Settings
from tests.chaos.figures import record

#: Beyond pyproject's 300 s per test: the scenario itself takes minutes on a loaded 2-core box.
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(1500)]


def test_generation_is_seeded_and_covers_every_kind_and_topic() -> None:
    first, again = fuzz.generate(2000, seed=3), fuzz.generate(2000, seed=3)
    assert first == again and first != fuzz.generate(2000, seed=4)
    assert {m.topic for m in first} == set(fuzz.CONSUMERS)
    assert {m.kind for m in first} >= {*fuzz.WIRE_FAULTS, *fuzz.VALUE_FAULTS, "wrong_event", "huge_string"}
    for m in first:  # a decode fault really does not decode, with the reason it announces
        if m.reason.startswith("decode:"):
            with pytest.raises(DecodeError) as refused:
                default_serde().decode(m.value)
            assert f"decode:{refused.value.reason}".startswith(m.reason), m.kind


def test_stages_dead_letter_hostile_input_and_keep_serving(stack: Settings, tmp_path: Path) -> None:
    figures = hostile.run(stack, messages=10_000, rfqs=5, namespace="c2.fuzz-", logs=tmp_path, timeout_s=900)
    record(figures, stack)
    detail = figures.detail
    assert figures.faults == 10_000
    assert detail["restarts"] == {} and detail["not_running"] == [], "a stage exited under hostile input"
    assert detail["missing"] == 0 and detail["wrong_reason"] == 0, detail
    assert detail["answered"] == detail["rfqs"] == 5  # the normal flow got every outcome
