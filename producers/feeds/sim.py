"""The simulated feed: `MarketSim` stepped every `step_ms` of sim time on a sim clock.

Determinism is the point: step k happens at `start_us + k * step_ms`, computed, never read from
a clock, and `MarketSim` draws prices and event ids from the seed. So `--seed` and `--duration`
(and the start epoch) fix the whole sequence byte for byte. The wall clock only decides *when*
each step is sent: `SimClock(start_us, speed)` sleeps `step / speed` of wall time between steps
(speed 600 runs ten sim minutes per wall second), and `FixedClock` (no-sleep mode) never waits,
for tests and benchmarks. A step that is late is sent at once; sim time never slips.

The default start epoch is fixed (the session's `sim_start_us`, else `DEFAULT_SIM_START_US`)
rather than "now", because "now" differs every run and would make two runs of one seed differ in
every `ts_us`; `--start-us now` is there for feeding a desk that runs on wall time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from otcdesk.clock import Clock, FixedClock, SimClock
from otcdesk.errors import UserError
from otcdesk.events import PriceUpdate
from otcdesk.instruments import Instrument
from otcdesk.market.sim import MarketSim
from otcdesk.settings import Settings, SimSettings
from otcdesk.validation import MAX_TS_US, MIN_TS_US

#: 2025-01-01T00:00:00Z: where sim time starts unless `--start-us` says otherwise.
DEFAULT_SIM_START_US = 1_735_689_600_000_000
US_PER_MS = 1000


@dataclass(frozen=True, slots=True)
class SimFeedPlan:
    """When the sim feed steps: from `start_us`, every `step_ms`, for `duration_s` (None: forever)."""

    start_us: int
    step_ms: int
    duration_s: float | None
    speed: float
    sleep: bool = True

    @property
    def step_count(self) -> int | None:
        """Steps inside the duration (a partial last step still runs), None when unbounded."""
        if self.duration_s is None:
            return None
        return math.ceil(self.duration_s * 1000 / self.step_ms)

    def step_times_us(self) -> Iterator[int]:
        """Sim instants of the steps: start_us, start_us + step, ... (forever if unbounded)."""
        step_us = self.step_ms * US_PER_MS
        k = 0
        while self.step_count is None or k < self.step_count:
            yield self.start_us + k * step_us
            k += 1

    def clock(self) -> Clock:
        """The pacing clock: sim time at `speed`, or a clock that jumps (no-sleep mode)."""
        return SimClock(self.start_us, self.speed) if self.sleep else FixedClock(self.start_us)


def sim_updates(
    instruments: Iterable[Instrument],
    settings: SimSettings,
    seed: int,
    plan: SimFeedPlan,
    clock: Clock | None = None,
    *,
    conflate: bool = False,
) -> Iterator[PriceUpdate]:
    """The updates of every step, each step released when the pacing clock reaches it.

    `clock` replaces the plan's pacing clock (tests pass a SimClock on a fake wall). `conflate`
    (a live desk): a step the clock has passed by a whole step already is skipped, and the market
    moves straight to the latest due step (its walks take any time increment), as a real feed
    conflates to the latest book when its consumer is slow: a desk paced faster than this process
    can publish keeps current books instead of books falling further behind its clock.
    """
    sim = MarketSim(instruments, settings, seed)
    clock = clock or plan.clock()
    step_us = plan.step_ms * US_PER_MS
    for now_us in plan.step_times_us():
        if conflate and clock.now_us() - now_us >= step_us:
            continue
        clock.sleep_until(now_us)
        yield from sim.step(now_us)


def resolve_start_us(text: str | None, settings: Settings) -> int:
    """Where sim time starts, from `--start-us`.

    - an integer: that epoch microsecond (reproducible);
    - `now`: the desk clock's present (`settings.clock()`: the session's sim time when a session
      is set, else wall time), so a running desk sees fresh books; not reproducible;
    - absent: the session's fixed `sim_start_us` when set, else `DEFAULT_SIM_START_US`.
    """
    if text is None or not text.strip():
        return settings.sim_start_us if settings.sim_start_us is not None else DEFAULT_SIM_START_US
    if text.strip().lower() == "now":
        return settings.clock().now_us()
    try:
        start_us = int(text)
    except ValueError:
        raise UserError(f"--start-us must be epoch microseconds or 'now', got {text!r}") from None
    if not MIN_TS_US <= start_us <= MAX_TS_US:  # the stages refuse event times outside this window
        raise UserError(f"--start-us must be epoch microseconds between 2000 and 2100, got {text.strip():.30}")
    return start_us
