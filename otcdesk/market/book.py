"""One venue's L2 book around its mid: prices on the venue's tick, sizes on its lot.

Shape, from what real books look like: a touch a fraction of a bp wide (wider in stress), levels
roughly `level_step_bps` apart (random gaps, never less than one tick), and size that grows
linearly away from the touch (`touch * (1 + g * level)`, jittered +/-40%) because liquidity
providers quote more size further out. With the defaults a BTC book holds about 1.5 BTC at the
touch of the deepest venue and ~100 BTC over 20 levels; stress cuts depth to a third, so a
200 BTC RFQ sweeps several venues and can run out of depth.

A crossed book (best bid >= best ask) is made on purpose now and then: real feeds deliver them
(missed deltas, a venue mid-auction), and the price aggregator must refuse to price off them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from otcdesk.events import BookLevel
from otcdesk.instruments import Instrument

JITTER = 0.4  # sizes and gaps vary uniformly by +/- 40 %


@dataclass(frozen=True, slots=True)
class BookShape:
    """Everything a venue's book depends on at one instant besides the instrument."""

    mid_quote: float
    half_spread_bps: float
    level_step_bps: float
    touch_qty_base: float
    size_growth_per_level: float
    levels: int
    crossed: bool


def _ticks(price: float, tick: Decimal, rounding: str) -> int:
    return int((Decimal(repr(price)) / tick).to_integral_value(rounding))


def _qty(instrument: Instrument, qty: float) -> Decimal:
    """Floor to the lot, never below one lot nor the venue's minimum order."""
    floored = instrument.floor_qty(Decimal(repr(qty)))
    return max(floored, instrument.lot_size_base, instrument.min_qty_base)


def build_book(
    instrument: Instrument, shape: BookShape, rng: random.Random
) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
    """(bids best first, asks best first)."""
    tick = instrument.tick_size_quote
    half = shape.mid_quote * shape.half_spread_bps * 1e-4
    bid_ticks = _ticks(shape.mid_quote - half, tick, ROUND_FLOOR)
    ask_ticks = max(_ticks(shape.mid_quote + half, tick, ROUND_CEILING), bid_ticks + 1)
    if shape.crossed:
        bid_ticks += ask_ticks - bid_ticks + rng.randint(0, 3)  # best bid >= best ask
    step_ticks = shape.mid_quote * shape.level_step_bps * 1e-4 / float(tick)
    bids: list[BookLevel] = []
    asks: list[BookLevel] = []
    for level in range(shape.levels):
        mean_qty = shape.touch_qty_base * (1.0 + shape.size_growth_per_level * level)
        bid_qty = mean_qty * rng.uniform(1 - JITTER, 1 + JITTER)
        ask_qty = mean_qty * rng.uniform(1 - JITTER, 1 + JITTER)
        bids.append(BookLevel(bid_ticks * tick, _qty(instrument, bid_qty)))
        asks.append(BookLevel(ask_ticks * tick, _qty(instrument, ask_qty)))
        bid_ticks -= max(1, math.floor(step_ticks * rng.uniform(1 - JITTER, 1 + JITTER)))
        ask_ticks += max(1, math.floor(step_ticks * rng.uniform(1 - JITTER, 1 + JITTER)))
    return tuple(bids), tuple(asks)
