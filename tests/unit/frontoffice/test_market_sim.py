from __future__ import annotations

from collections import Counter
from decimal import Decimal as D
from itertools import pairwise

import pytest

from otcdesk.events import PriceUpdate, Venue
from otcdesk.instruments import Instrument
from otcdesk.market import MarketSim, Regime
from otcdesk.serde import default_serde
from otcdesk.settings import SimSettings

from .conftest import T0

#: CPU only (subprocesses with a 60 s timeout at most): make test runs it in the background phase.
pytestmark = pytest.mark.background

STEP_US = 250_000


def run(instruments: list[Instrument], settings: SimSettings, seed: int, steps: int) -> list[PriceUpdate]:
    sim = MarketSim(instruments, settings, seed)
    return [u for i in range(steps) for u in sim.step(T0 + i * STEP_US)]


def test_same_seed_same_updates_ids_included(instruments: list[Instrument]) -> None:
    s = SimSettings()
    first, second = run(instruments, s, 42, 200), run(instruments, s, 42, 200)
    assert first == second
    assert run(instruments, s, 43, 200) != first


def test_instrument_order_does_not_matter(instruments: list[Instrument]) -> None:
    s = SimSettings()
    assert run(instruments, s, 5, 50) == run(list(reversed(instruments)), s, 5, 50)


def test_books_are_deep_on_tick_and_lot_and_grow_away_from_touch(instruments: list[Instrument]) -> None:
    s = SimSettings(crossed_prob=0.0)
    by_key = {(i.venue, i.symbol): i for i in instruments}
    updates = run(instruments, s, 1, 40)
    assert {(u.venue, u.symbol) for u in updates} == set(by_key)
    for u in updates:
        inst = by_key[(u.venue, u.symbol)]
        assert (u.tick_size_quote, u.lot_size_base, u.taker_fee_rate) == (
            inst.tick_size_quote,
            inst.lot_size_base,
            inst.taker_fee_rate,
        )
        assert len(u.bids) >= 20 and len(u.asks) >= 20
        for lvl in u.bids + u.asks:
            assert lvl.price_quote % inst.tick_size_quote == 0
            assert lvl.qty_base % inst.lot_size_base == 0 and lvl.qty_base >= inst.min_qty_base
        assert all(a.price_quote > b.price_quote for a, b in pairwise(u.bids))
        assert all(a.price_quote < b.price_quote for a, b in pairwise(u.asks))
        assert u.bids[0].price_quote < u.asks[0].price_quote
        for side in (u.bids, u.asks):
            near = sum(lvl.qty_base for lvl in side[:5])
            far = sum(lvl.qty_base for lvl in side[-5:])
            assert far > 2 * near


def test_btc_depth_is_realistic(instruments: list[Instrument]) -> None:
    updates = run(instruments, SimSettings(crossed_prob=0.0), 3, 20)
    binance = [u for u in updates if u.venue is Venue.BINANCE and u.symbol == "BTC/USD"]
    for u in binance:
        assert D("0.5") <= u.bids[0].qty_base <= D("5")
        assert D("40") <= sum(lvl.qty_base for lvl in u.bids) <= D("200")
        mid = (u.bids[0].price_quote + u.asks[0].price_quote) / 2
        assert abs(mid / D(95_000) - 1) < D("0.01")
    last = {u.venue: u for u in updates if u.symbol == "BTC/USD"}
    total = sum(sum(lvl.qty_base for lvl in u.asks) for u in last.values())
    assert D("150") < total < D("500")  # a 200 BTC RFQ needs several venues


def test_sequences_increase_per_feed_and_times_are_now(instruments: list[Instrument]) -> None:
    sim = MarketSim(instruments, SimSettings(), 9)
    seen: dict[tuple[Venue, str], int] = {}
    for i in range(100):
        now = T0 + i * STEP_US
        for u in sim.step(now):
            assert u.ts_us == now and u.sequence > seen.get((u.venue, u.symbol), 0)
            seen[(u.venue, u.symbol)] = u.sequence


def test_stale_spells_silence_a_venue(instruments: list[Instrument]) -> None:
    s = SimSettings(stale_prob=0.05, stale_ms_range=(3000, 3000), update_prob=1.0)
    updates = run(instruments, s, 11, 400)
    gaps = []
    for key in {(u.venue, u.symbol) for u in updates}:
        times = [u.ts_us for u in updates if (u.venue, u.symbol) == key]
        gaps += [b - a for a, b in pairwise(times)]
    assert max(gaps) > 2_000_000  # longer than the default stale_book_ms


def test_crossed_books_happen_at_the_configured_rate(instruments: list[Instrument]) -> None:
    updates = run(instruments, SimSettings(crossed_prob=0.1), 13, 100)
    crossed = sum(u.bids[0].price_quote >= u.asks[0].price_quote for u in updates)
    assert 0.05 * len(updates) < crossed < 0.15 * len(updates)


def test_regimes_switch_and_stress_thins_depth(instruments: list[Instrument]) -> None:
    s = SimSettings(regime_mean_duration_s={"calm": 5.0, "normal": 5.0, "stressed": 5.0})
    sim = MarketSim(instruments, s, 17)
    depth: dict[Regime, list[D]] = {}
    counts: Counter[Regime] = Counter()
    for i in range(800):
        for u in sim.step(T0 + i * STEP_US):
            if u.venue is Venue.BINANCE and u.symbol == "BTC/USD":
                depth.setdefault(sim.current_regime, []).append(sum(lvl.qty_base for lvl in u.asks))
        counts[sim.current_regime] += 1
    assert set(counts) == set(Regime)
    avg = {r: sum(v) / len(v) for r, v in depth.items()}
    assert avg[Regime.STRESSED] < avg[Regime.NORMAL] < avg[Regime.CALM]


def test_updates_encode_with_the_avro_contract(instruments: list[Instrument]) -> None:
    serde = default_serde()
    for u in run(instruments, SimSettings(), 21, 3):
        assert serde.decode(serde.encode(u)) == u


def test_time_must_not_go_back(instruments: list[Instrument]) -> None:
    sim = MarketSim(instruments, SimSettings(), 1)
    sim.step(T0)
    with pytest.raises(ValueError):
        sim.step(T0 - 1)
