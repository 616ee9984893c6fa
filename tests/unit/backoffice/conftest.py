"""Instruments with the venues' real rules (as tests/unit/frontoffice uses) and book builders."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from otcdesk.events import BookLevel, PriceUpdate, Side, TradeBooked, Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings

T0 = 1_764_000_000_000_000  # Monday 2025-11-24 16:00 UTC (11:00 New York)

# (symbol, venue) -> (tick, lot, min qty, taker fee), ccxt's figures for these venues
_RULES = {
    ("BTC/USD", Venue.BINANCE): ("0.01", "0.00001", "0.00001", "0.001"),
    ("BTC/USD", Venue.COINBASE): ("0.01", "0.00000001", "0.00000001", "0.012"),
    ("BTC/USD", Venue.OKX): ("0.1", "0.00000001", "0.00001", "0.0015"),
    ("BTC/USD", Venue.KRAKEN): ("0.1", "0.00000001", "0.0001", "0.0026"),
    ("ETH/USD", Venue.BINANCE): ("0.01", "0.0001", "0.0001", "0.001"),
    ("ETH/USD", Venue.KRAKEN): ("0.01", "0.00000001", "0.002", "0.0026"),
}

Instruments = dict[tuple[Venue, str], Instrument]


def make_instruments() -> Instruments:
    out: Instruments = {}
    for (symbol, venue), (tick, lot, min_qty, fee) in _RULES.items():
        base, quote = symbol.split("/")
        usdt = venue in (Venue.BINANCE, Venue.OKX)
        out[(venue, symbol)] = Instrument(venue, symbol, f"{base}/{'USDT' if usdt else quote}", base, quote,
                                          D(tick), D(lot), D(min_qty), D(fee), D(fee) / 2)
    return out


@pytest.fixture()
def instruments() -> Instruments:
    return make_instruments()


@pytest.fixture()
def settings() -> Settings:
    return Settings()


def book(venue: Venue, bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]],
         symbol: str = "BTC/USD", ts_us: int = T0) -> PriceUpdate:
    """A PriceUpdate from (price, qty) string pairs, best first."""
    return PriceUpdate(f"px-{venue}", ts_us, "test", venue, symbol,
                       tuple(BookLevel(D(p), D(q)) for p, q in bids),
                       tuple(BookLevel(D(p), D(q)) for p, q in asks), 1, D("0"), D("0.01"), D("0.00001"))


def ladder(venue: Venue, mid: str, step: str = "1", qty: str = "2", levels: int = 10) -> PriceUpdate:
    """A symmetric book: `levels` levels of `qty` every `step` around `mid`."""
    m, s = D(mid), D(step)
    return book(venue, [(str(m - s * (i + 1)), qty) for i in range(levels)],
                [(str(m + s * (i + 1)), qty) for i in range(levels)])


def trade(side: Side = Side.BUY, qty: str = "2.5", price: str = "95000", client: str = "ACME",
          symbol: str = "BTC/USD", fee: str = "0", ts_us: int = T0) -> TradeBooked:
    q, p = D(qty), D(price)
    return TradeBooked("ev-trade", ts_us, "test", "rfq-1", "trade-1", "quote-1", client, symbol, side,
                       q, p, q * p, D(fee), p)
