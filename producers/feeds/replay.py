"""Replay: re-publish a recording with the relative timing of its `ts_us`, at a speed factor.

Record k is due `(ts_k - ts_0) / speed` wall seconds after the first. That is exactly what a
`SimClock` started at `ts_0` with the same speed computes, so replay reuses it rather than a
second copy of the arithmetic. Records whose `ts_us` goes backwards (books of several venues
polled concurrently) are due at once; their order in the file is kept, never re-sorted, so a
replay publishes the same sequence that was recorded.

By default the recorded events go out unchanged (ids and times), so a replay of a sim run is
that run again and ClickHouse's dedup by event_id absorbs a second replay of the same file.
`shift_to_us` moves every `ts_us` by one offset (first record at that instant) when the books
must look fresh next to a desk running on another epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from otcdesk.clock import US_PER_S, Clock, FixedClock, SimClock
from otcdesk.events import PriceUpdate


def wall_offset_s(ts_us: int, first_ts_us: int, speed: float) -> float:
    """Wall seconds after the replay starts at which a record of time `ts_us` is due (>= 0)."""
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    return max(ts_us - first_ts_us, 0) / US_PER_S / speed


def shifted(update: PriceUpdate, offset_us: int) -> PriceUpdate:
    return update if offset_us == 0 else replace(update, ts_us=update.ts_us + offset_us)


ClockFactory = Callable[[int, float], Clock]


def pacing_clock(first_ts_us: int, speed: float) -> Clock:
    return SimClock(first_ts_us, speed)


def no_sleep_clock(first_ts_us: int, speed: float) -> Clock:
    return FixedClock(first_ts_us)


def replay_updates(
    records: Iterable[PriceUpdate],
    speed: float,
    *,
    sleep: bool = True,
    shift_to_us: int | None = None,
    make_clock: ClockFactory | None = None,
) -> Iterator[PriceUpdate]:
    """Records released at their due time (`sleep=False`: as fast as possible).

    `make_clock(first_ts_us, speed)` builds the pacing clock (tests give a SimClock on a fake wall).
    """
    make_clock = make_clock or (pacing_clock if sleep else no_sleep_clock)
    clock: Clock | None = None
    offset_us = 0
    for update in records:
        if clock is None:
            clock = make_clock(update.ts_us, speed)
            offset_us = 0 if shift_to_us is None else shift_to_us - update.ts_us
        clock.sleep_until(update.ts_us)
        yield shifted(update, offset_us)
