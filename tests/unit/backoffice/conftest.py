"""Instruments with the venues' real rules (as tests/unit/frontoffice uses) and book builders."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from otcdesk.events import BookLevel, PriceUpdate, Side, TradeBooked, Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings
from tests.instruments import instrument_list

T0 = 1_764_000_000_000_000  # Monday 2025-11-24 16:00 UTC (11:00 New York)

Instruments = dict[tuple[Venue, str], Instrument]


def make_instruments() -> Instruments:
    # Back-office tests use BTC on all four venues and ETH on two.
    keep = {("BTC/USD", v) for v in Venue} | {("ETH/USD", Venue.BINANCE), ("ETH/USD", Venue.KRAKEN)}
    return {(i.venue, i.symbol): i for i in instrument_list() if (i.symbol, i.venue) in keep}


@pytest.fixture()
def instruments() -> Instruments:
    return make_instruments()


@pytest.fixture()
def settings() -> Settings:
    return Settings()


def book(
    venue: Venue,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    symbol: str = "BTC/USD",
    ts_us: int = T0,
) -> PriceUpdate:
    """A PriceUpdate from (price, qty) string pairs, best first."""
    return PriceUpdate(
        f"px-{venue}",
        ts_us,
        "test",
        venue,
        symbol,
        tuple(BookLevel(D(p), D(q)) for p, q in bids),
        tuple(BookLevel(D(p), D(q)) for p, q in asks),
        1,
        D("0"),
        D("0.01"),
        D("0.00001"),
    )


def ladder(venue: Venue, mid: str, step: str = "1", qty: str = "2", levels: int = 10) -> PriceUpdate:
    """A symmetric book: `levels` levels of `qty` every `step` around `mid`."""
    m, s = D(mid), D(step)
    return book(
        venue,
        [(str(m - s * (i + 1)), qty) for i in range(levels)],
        [(str(m + s * (i + 1)), qty) for i in range(levels)],
    )


def trade(
    side: Side = Side.BUY,
    qty: str = "2.5",
    price: str = "95000",
    client: str = "ACME",
    symbol: str = "BTC/USD",
    fee: str = "0",
    ts_us: int = T0,
) -> TradeBooked:
    q, p = D(qty), D(price)
    return TradeBooked(
        "ev-trade", ts_us, "test", "rfq-1", "trade-1", "quote-1", client, symbol, side, q, p, q * p, D(fee), p
    )
