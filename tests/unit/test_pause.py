"""A session's clock stands still while a process restarts (otcdesk.pause), read by every process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import otcdesk.clock
from otcdesk.clock import AnchoredClock
from otcdesk.pause import PauseReader, SessionPause, mark_ready
from otcdesk.settings import Settings

SPEED = 600.0


class Wall:
    """Wall time moved by hand, for the clock (module function) and the pause (injected)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.us = 1_000_000_000_000
        monkeypatch.setattr(otcdesk.clock, "wall_now_us", lambda: self.us)

    def __call__(self) -> int:
        return self.us

    def advance_s(self, seconds: float) -> None:
        self.us += int(seconds * 1_000_000)


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> Wall:
    return Wall(monkeypatch)


def test_a_clock_stands_still_while_a_process_is_down_and_goes_on_from_there(tmp_path: Path, wall: Wall) -> None:
    pause = SessionPause(tmp_path, wall_us=wall)
    clock = AnchoredClock(0, wall(), SPEED, PauseReader(tmp_path))
    wall.advance_s(1)
    assert clock.now_us() == 600_000_000
    pause.hold("hedger")
    wall.advance_s(15)  # the restart
    assert clock.now_us() == 600_000_000
    pause.release("hedger")
    assert clock.now_us() == 600_000_000  # the 15 s are not counted
    wall.advance_s(1)
    assert clock.now_us() == 1_200_000_000
    assert pause.paused_us == 15_000_000 and pause.lengths_s == [15.0]


def test_the_clock_waits_for_every_process_that_is_down(tmp_path: Path, wall: Wall) -> None:
    pause = SessionPause(tmp_path, wall_us=wall)
    clock = AnchoredClock(0, wall(), SPEED, PauseReader(tmp_path))
    pause.hold("feed")
    wall.advance_s(2)
    pause.hold("recon")  # a second process down: still one pause, from the first
    wall.advance_s(3)
    pause.release("feed")
    wall.advance_s(4)
    assert clock.now_us() == 0 and pause.down == {"recon"}
    pause.release("recon")
    wall.advance_s(1)
    assert clock.now_us() == 600_000_000 and pause.paused_us == 9_000_000 and pause.lengths_s == [9.0]


def test_a_clock_that_read_past_the_start_of_a_pause_never_goes_back(tmp_path: Path, wall: Wall) -> None:
    pause = SessionPause(tmp_path, wall_us=wall)
    clock = AnchoredClock(0, wall(), SPEED, PauseReader(tmp_path))
    held_at = wall()
    wall.advance_s(0.01)
    assert clock.now_us() == 6_000_000  # this process read before it saw the pause ...
    pause.since_us, pause.down = held_at, {"feed"}  # ... which began 10 ms earlier
    pause._write()
    assert clock.now_us() == 6_000_000  # held, not 0
    pause.release("feed")  # 10 ms paused: the clock reads 0 again ...
    wall.advance_s(0.005)
    assert clock.now_us() == 6_000_000  # ... so it holds until time passes its last reading
    wall.advance_s(0.01)
    assert clock.now_us() == 9_000_000


def test_without_a_pause_file_the_clock_runs_on_wall_time(tmp_path: Path, wall: Wall) -> None:
    clock = AnchoredClock(5, wall(), SPEED, PauseReader(tmp_path / "none"))
    wall.advance_s(2)
    assert clock.now_us() == 5 + 1_200_000_000 == AnchoredClock(5, wall() - 2_000_000, SPEED).now_us()


def test_a_session_settings_clock_reads_the_pauses(tmp_path: Path, wall: Wall) -> None:
    pause = SessionPause(tmp_path, wall_us=wall)
    settings = Settings(sim_start_us=0, sim_anchor_wall_us=wall(), sim_speed=SPEED, sim_control_dir=tmp_path)
    clock = settings.clock()
    pause.hold("feed")
    wall.advance_s(3)
    assert clock.now_us() == 0
    assert Settings(sim_start_us=0, sim_anchor_wall_us=wall(), sim_speed=SPEED).clock()._pauses is None


def test_a_process_says_it_is_ready_with_its_pid(tmp_path: Path) -> None:
    pause = SessionPause(tmp_path)
    assert pause.ready_pid("hedger") is None
    mark_ready(tmp_path, "hedger")
    assert pause.ready_pid("hedger") == os.getpid()


def test_a_stage_says_it_is_ready_once_rebalanced_and_its_state_rebuilt(tmp_path: Path) -> None:
    from streams.stage import Stage

    async def scenario() -> None:
        stage = Stage("recon", Settings(sim_control_dir=tmp_path, namespace="pause-"))
        rebuilt = asyncio.Event()
        stage.ready_after(rebuilt)
        await stage.app.on_rebalance_complete.send()
        await asyncio.sleep(0.01)
        assert SessionPause(tmp_path).ready_pid("recon") is None  # rebalanced, not rebuilt yet
        rebuilt.set()
        assert stage._announcing is not None
        await stage._announcing
        assert SessionPause(tmp_path).ready_pid("recon") == os.getpid()

    asyncio.run(scenario())
