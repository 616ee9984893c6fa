"""Scenario 2: the sink killed -9 (first between a ClickHouse insert and the offset commit) while
RFQs flow: every event stored once in the FINAL view, none lost (otcdesk/chaos/sink_kill.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcdesk.chaos import sink_kill
from otcdesk.settings import Settings
from tests.chaos.figures import record

#: Beyond pyproject's 300 s per test: the scenario itself takes minutes on a loaded 2-core box.
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(600)]


def test_sink_killed_mid_flow_stores_every_event_once(stack: Settings, tmp_path: Path) -> None:
    figures = sink_kill.run(stack, events=2000, kills=2, rate_per_s=100, namespace="c2-chaos-sink-", logs=tmp_path)
    record(figures, stack)
    assert figures.faults == 3 and figures.processed == 2000
    # the first kill left a stored, uncommitted batch: the replay really happened and FINAL hid it
    stored_before_replay = figures.detail["stored_before_replay"]
    assert isinstance(stored_before_replay, int) and stored_before_replay > 0
    assert figures.detail["final_rows"] == figures.detail["distinct_event_ids"] == 2000
