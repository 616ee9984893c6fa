"""Event time for the desk: real time, or simulation time running `speed` times faster.

A 10-minute TWAP or six Bitcoin confirmations must play out in seconds in a demo, so every stage
reads time from a `Clock` instead of `time.time()`. `SimClock` maps wall time onto sim time
linearly: `now = start_us + (wall - wall_at_start) * speed`, with a monotonic wall source so a
system clock adjustment never makes event time jump backwards. Sleeping until a sim instant
waits the corresponding wall duration (`sim delta / speed`). `FixedClock` is time moved by hand
for tests: sleeping on it advances it instantly.

All times are epoch microseconds (`*_us`), the unit of every event's `ts_us`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

US_PER_S = 1_000_000


class Clock(Protocol):
    def now_us(self) -> int: ...

    def sleep_until(self, ts_us: int) -> None: ...

    async def sleep_until_async(self, ts_us: int) -> None: ...


def wall_now_us() -> int:
    return time.time_ns() // 1000


class SimClock:
    """Sim time advancing `speed` times wall time from `start_us` (speed 1 = real time)."""

    def __init__(
        self,
        start_us: int | None = None,
        speed: float = 1.0,
        *,
        wall_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start_us = wall_now_us() if start_us is None else start_us
        self.speed = speed
        self._wall_ns = wall_ns
        self._sleep = sleep
        self._wall0_ns = wall_ns()

    def now_us(self) -> int:
        elapsed_ns = self._wall_ns() - self._wall0_ns
        return self.start_us + int(elapsed_ns * self.speed) // 1000

    def wall_seconds_until(self, ts_us: int) -> float:
        """Wall seconds to wait for sim time `ts_us` (0 if already past)."""
        return max(ts_us - self.now_us(), 0) / US_PER_S / self.speed

    def sleep_until(self, ts_us: int) -> None:
        # Loop: time.sleep may wake early, and now_us() truncates to whole microseconds.
        while (delay_s := self.wall_seconds_until(ts_us)) > 0:
            self._sleep(delay_s)

    async def sleep_until_async(self, ts_us: int) -> None:
        while (delay_s := self.wall_seconds_until(ts_us)) > 0:
            await asyncio.sleep(delay_s)


class FixedClock:
    """Manually advanced time for tests; sleeping jumps straight to the target."""

    def __init__(self, start_us: int = 0) -> None:
        self._now_us = start_us

    def now_us(self) -> int:
        return self._now_us

    def advance(self, delta_us: int) -> int:
        if delta_us < 0:
            raise ValueError("time does not go backwards")
        self._now_us += delta_us
        return self._now_us

    def set(self, ts_us: int) -> None:
        if ts_us < self._now_us:
            raise ValueError("time does not go backwards")
        self._now_us = ts_us

    def sleep_until(self, ts_us: int) -> None:
        self._now_us = max(self._now_us, ts_us)

    async def sleep_until_async(self, ts_us: int) -> None:
        self.sleep_until(ts_us)
        await asyncio.sleep(0)


class AnchoredClock:
    """The desk clock shared by separate processes: sim time pinned to a wall-clock anchor.

    `SimClock` measures from its own start, so two processes would disagree; every process of a
    live desk instead reads `now = start_us + (wall_now - anchor_wall_us) * speed` from the same
    three settings (`OTCDESK_SIM_START_US`, `OTCDESK_SIM_ANCHOR_WALL_US`, `OTCDESK_SIM_SPEED`),
    which `otcdesk run all` sets for all of them. A simulated session does not use it: its stages
    run on stream time (`otcdesk.streamtime`), and only its sources pace themselves on it.
    """

    def __init__(self, start_us: int, anchor_wall_us: int, speed: float) -> None:
        self.start_us, self.anchor_wall_us, self.speed = start_us, anchor_wall_us, speed

    def now_us(self) -> int:
        return self.start_us + int((wall_now_us() - self.anchor_wall_us) * self.speed)

    def wall_seconds_until(self, ts_us: int) -> float:
        return max(ts_us - self.now_us(), 0) / US_PER_S / self.speed

    def sleep_until(self, ts_us: int) -> None:
        while (delay_s := self.wall_seconds_until(ts_us)) > 0:
            time.sleep(delay_s)

    async def sleep_until_async(self, ts_us: int) -> None:
        while (delay_s := self.wall_seconds_until(ts_us)) > 0:
            await asyncio.sleep(delay_s)


def desk_clock(start_us: int | None, anchor_wall_us: int | None, speed: float) -> AnchoredClock:
    """The desk clock from settings; without an anchor, anchored at this moment's wall time."""
    if start_us is None or anchor_wall_us is None:
        now = wall_now_us()
        return AnchoredClock(now, now, speed)
    return AnchoredClock(start_us, anchor_wall_us, speed)
