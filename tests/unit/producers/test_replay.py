"""Replay: relative timing of ts_us at a speed factor, and the JSON-lines recording format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from otcdesk.clock import SimClock
from otcdesk.errors import UserError
from otcdesk.events import Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import SimSettings
from producers.feeds.recording import Recorder, decode_record, encode_line, read_recording
from producers.feeds.replay import replay_updates, wall_offset_s
from producers.feeds.sim import DEFAULT_SIM_START_US, SimFeedPlan, sim_updates

from .conftest import FakeWall

T0 = DEFAULT_SIM_START_US


@pytest.fixture()
def recorded(instruments: dict[tuple[Venue, str], Instrument]) -> list:
    plan = SimFeedPlan(T0, 250, 10, speed=1.0, sleep=False)
    return list(sim_updates(instruments.values(), SimSettings(), 9, plan))


def test_wall_offset_is_sim_delta_over_speed() -> None:
    assert wall_offset_s(T0 + 10_000_000, T0, 1.0) == 10.0
    assert wall_offset_s(T0 + 10_000_000, T0, 20.0) == 0.5
    assert wall_offset_s(T0 - 5, T0, 2.0) == 0.0  # earlier than the first: due at once
    with pytest.raises(ValueError):
        wall_offset_s(T0, T0, 0)


def test_replay_sleeps_the_recorded_gaps_divided_by_speed(recorded: list) -> None:
    base = recorded[0]
    times = [T0, T0 + 1_000_000, T0 + 1_000_000, T0 + 3_000_000, T0 + 2_000_000, T0 + 7_000_000]
    records = [replace(base, ts_us=t, sequence=i) for i, t in enumerate(times)]
    wall = FakeWall()
    released: list[tuple[float, int]] = []

    def clock(first_us: int, speed: float) -> SimClock:
        return SimClock(first_us, speed, wall_ns=wall.wall_ns, sleep=wall.sleep)

    for update in replay_updates(records, 4.0, make_clock=clock):
        released.append((wall.wall_s(), update.ts_us))
    assert [ts for _, ts in released] == times  # file order kept, never re-sorted
    expected = [0.0, 0.25, 0.25, 0.75, 0.75, 1.75]  # (ts - ts0) / 4, a late record at once
    assert [at for at, _ in released] == pytest.approx(expected, abs=1e-6)


def test_replay_keeps_events_or_shifts_them_by_one_offset(recorded: list) -> None:
    assert list(replay_updates(recorded, 1.0, sleep=False)) == recorded
    shifted = list(replay_updates(recorded, 1.0, sleep=False, shift_to_us=T0 + 86_400_000_000))
    assert [u.ts_us - 86_400_000_000 for u in shifted] == [u.ts_us for u in recorded]
    assert [replace(u, ts_us=0) for u in shifted] == [replace(u, ts_us=0) for u in recorded]


def test_recording_round_trips_exactly_and_is_stable_text(recorded: list, tmp_path: Path) -> None:
    path = tmp_path / "prices.jsonl"
    with Recorder(path) as recorder:
        for update in recorded:
            recorder.write(update)
    assert list(read_recording(path)) == recorded
    line = encode_line(recorded[0])
    assert '"price_quote":"' in line and '"taker_fee_rate":"' in line  # decimals as strings
    assert encode_line(decode_record(json.loads(line))) == line


def test_a_bad_line_names_file_and_line(recorded: list, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(encode_line(recorded[0]) + "\n" + '{"venue": "BINANCE"}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:2"):
        list(read_recording(path))
    with pytest.raises(UserError, match="cannot read"):
        list(read_recording(tmp_path / "missing.jsonl"))
