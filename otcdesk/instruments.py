"""Instrument metadata per venue: tick, lot, minimum size and taker fee, as ccxt reports them.

The desk quotes BTC/USD and ETH/USD. Venues list those against USD or USDT; the desk treats
USDT as USD at par when consolidating (a documented simplification: a real desk would price the
USDT/USD basis), so each venue maps a desk symbol to its own market (`venue_symbol`).

The numbers are never typed by hand: `otcdesk.venues.providers` loads them through ccxt
(markets from recorded exchange responses, fees from ccxt's static schedules). This module only
holds the value type and the lookups every stage shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from otcdesk.events import Venue


@dataclass(frozen=True, slots=True)
class Instrument:
    """One symbol on one venue."""

    venue: Venue
    symbol: str  # desk symbol, e.g. "BTC/USD"
    venue_symbol: str  # the venue's ccxt unified market, e.g. "BTC/USDT" on Binance
    base: str
    quote: str
    tick_size_quote: Decimal
    lot_size_base: Decimal
    min_qty_base: Decimal
    taker_fee_rate: Decimal  # fraction of notional, 0.001 = 10 bps
    maker_fee_rate: Decimal

    def round_price(self, price_quote: Decimal) -> Decimal:
        """Nearest tick (banker's rounding, so no side gets a systematic edge)."""
        ticks = (price_quote / self.tick_size_quote).to_integral_value(ROUND_HALF_EVEN)
        return ticks * self.tick_size_quote

    def floor_qty(self, qty_base: Decimal) -> Decimal:
        """Largest multiple of the lot size not above `qty_base` (never sends more than asked)."""
        lots = (qty_base / self.lot_size_base).to_integral_value(ROUND_DOWN)
        return lots * self.lot_size_base


def base_of(symbol: str) -> str:
    return symbol.split("/", 1)[0]


def quote_of(symbol: str) -> str:
    return symbol.split("/", 1)[1] if "/" in symbol else ""
