"""The sim feed: one seed and duration give the same events, byte for byte, at sim-clock times."""

from __future__ import annotations

import pytest

from otcdesk.clock import SimClock
from otcdesk.errors import UserError
from otcdesk.events import Venue
from otcdesk.instruments import Instrument
from otcdesk.serde import default_serde
from otcdesk.settings import Settings, SimSettings
from producers.feeds.selection import select_instruments, split_names, venues_of
from producers.feeds.sim import DEFAULT_SIM_START_US, SimFeedPlan, resolve_start_us, sim_updates

from .conftest import FakeWall

Instruments = dict[tuple[Venue, str], Instrument]
T0 = DEFAULT_SIM_START_US


def run(instruments: Instruments, seed: int, duration_s: float, start_us: int = T0) -> list:
    plan = SimFeedPlan(start_us, 250, duration_s, speed=1.0, sleep=False)
    return list(sim_updates(instruments.values(), SimSettings(), seed, plan))


def test_same_seed_and_duration_give_byte_identical_events(instruments: Instruments) -> None:
    first, second = run(instruments, 11, 30), run(instruments, 11, 30)
    assert first == second
    serde = default_serde()
    assert [serde.encode(u) for u in first] == [serde.encode(u) for u in second]
    assert run(instruments, 12, 30) != first


def test_every_venue_and_symbol_publishes_at_step_instants(instruments: Instruments) -> None:
    updates = run(instruments, 3, 5)
    assert {(u.venue, u.symbol) for u in updates} == set(instruments)
    assert {u.ts_us for u in updates} <= {T0 + k * 250_000 for k in range(20)}
    assert all(u.key == f"{u.venue.value}:{u.symbol}" for u in updates)
    assert len({u.event_id for u in updates}) == len(updates)


def test_a_longer_run_starts_with_the_shorter_one(instruments: Instruments) -> None:
    short, long = run(instruments, 5, 5), run(instruments, 5, 10)
    assert long[: len(short)] == short


def test_step_count_covers_a_partial_last_step() -> None:
    plan = SimFeedPlan(T0, 250, 1.1, speed=1.0)
    assert plan.step_count == 5
    assert list(plan.step_times_us()) == [T0 + k * 250_000 for k in range(5)]
    assert SimFeedPlan(T0, 250, None, speed=1.0).step_count is None


def test_pacing_sleeps_sim_time_divided_by_speed(instruments: Instruments) -> None:
    wall = FakeWall()
    plan = SimFeedPlan(T0, 250, 60, speed=600.0)
    clock = SimClock(T0, 600.0, wall_ns=wall.wall_ns, sleep=wall.sleep)
    updates = list(sim_updates(instruments.values(), SimSettings(), 1, plan, clock))
    assert updates == run(instruments, 1, 60)  # pacing never changes the events
    assert sum(wall.sleeps_s) == pytest.approx(59.75 / 600, rel=1e-3)  # last step at 59.75 s


def test_start_us_resolution() -> None:
    settings = Settings()
    assert resolve_start_us(None, settings) == (settings.sim_start_us or DEFAULT_SIM_START_US)
    assert resolve_start_us("1700000000000000", settings) == 1_700_000_000_000_000
    assert abs(resolve_start_us("now", settings) - settings.clock().now_us()) < 60_000_000
    with pytest.raises(UserError):
        resolve_start_us("yesterday", settings)


def test_selection_rejects_unknown_names(instruments: Instruments) -> None:
    assert split_names("btc/usd, ETH/USD,,") == ("BTC/USD", "ETH/USD")
    assert venues_of(("KRAKEN", "BINANCE")) == (Venue.BINANCE, Venue.KRAKEN)
    chosen = select_instruments(instruments, ("BTC/USD",), (Venue.OKX,))
    assert list(chosen) == [(Venue.OKX, "BTC/USD")]
    with pytest.raises(UserError, match="DOGE/USD"):
        select_instruments(instruments, ("DOGE/USD",), (Venue.OKX,))
    with pytest.raises(UserError, match="FTX"):
        venues_of(("FTX",))
