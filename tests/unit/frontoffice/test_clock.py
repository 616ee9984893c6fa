from __future__ import annotations

import asyncio

import pytest

from otcdesk.clock import FixedClock, SimClock


class FakeWall:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns

    def sleep(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9) + 1


@pytest.mark.parametrize("speed", [1.0, 10.0, 600.0, 0.5])
def test_sim_time_runs_speed_times_wall_time(speed: float) -> None:
    wall = FakeWall()
    clock = SimClock(1_000_000, speed, wall_ns=wall, sleep=wall.sleep)
    assert clock.now_us() == 1_000_000
    wall.ns += 2_000_000_000  # two wall seconds
    assert clock.now_us() == 1_000_000 + int(2_000_000 * speed)


def test_sleep_until_waits_sim_delta_over_speed() -> None:
    wall = FakeWall()
    clock = SimClock(0, 60.0, wall_ns=wall, sleep=wall.sleep)
    start = wall.ns
    clock.sleep_until(600_000_000)  # ten sim minutes
    assert clock.now_us() >= 600_000_000
    assert (wall.ns - start) / 1e9 == pytest.approx(10.0, abs=1e-3)  # ten wall seconds
    before = wall.ns
    clock.sleep_until(0)  # the past: no wait
    assert wall.ns == before


def test_async_sleep_on_a_fast_clock_is_short() -> None:
    clock = SimClock(0, 1000.0)  # real wall clock, 1000x
    asyncio.run(clock.sleep_until_async(50_000))  # 50 sim ms = 50 wall us
    assert clock.now_us() >= 50_000


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SimClock(0, 0)


def test_fixed_clock_moves_only_by_hand() -> None:
    clock = FixedClock(100)
    assert clock.now_us() == 100
    assert clock.advance(50) == 150
    clock.sleep_until(1_000)
    assert clock.now_us() == 1_000
    asyncio.run(clock.sleep_until_async(2_000))
    assert clock.now_us() == 2_000
    with pytest.raises(ValueError):
        clock.set(10)
    with pytest.raises(ValueError):
        clock.advance(-1)
