"""Instruments with the venues' real rules (tests/fixtures/venues/README.md) and book helpers."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from otcdesk.events import BookLevel, PriceUpdate, Rfq, Side, Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings

T0 = 1_764_000_000_000_000

# venue -> (tick, lot, min qty, taker fee) for BTC/USD and ETH/USD
_RULES = {
    ("BTC/USD", Venue.BINANCE): ("0.01", "0.00001", "0.00001", "0.001"),
    ("BTC/USD", Venue.COINBASE): ("0.01", "0.00000001", "0.00000001", "0.012"),
    ("BTC/USD", Venue.OKX): ("0.1", "0.00000001", "0.00001", "0.0015"),
    ("BTC/USD", Venue.KRAKEN): ("0.1", "0.00000001", "0.0001", "0.0026"),
    ("ETH/USD", Venue.BINANCE): ("0.01", "0.0001", "0.0001", "0.001"),
    ("ETH/USD", Venue.COINBASE): ("0.01", "0.00000001", "0.00000001", "0.012"),
    ("ETH/USD", Venue.OKX): ("0.01", "0.000001", "0.0001", "0.0015"),
    ("ETH/USD", Venue.KRAKEN): ("0.01", "0.00000001", "0.002", "0.0026"),
}


def make_instruments() -> list[Instrument]:
    out = []
    for (symbol, venue), (tick, lot, min_qty, fee) in _RULES.items():
        base, quote = symbol.split("/")
        usdt = venue in (Venue.BINANCE, Venue.OKX)
        out.append(Instrument(venue, symbol, f"{base}/{'USDT' if usdt else quote}", base, quote,
                              D(tick), D(lot), D(min_qty), D(fee), D(fee) / 2))
    return out


@pytest.fixture()
def instruments() -> list[Instrument]:
    return make_instruments()


@pytest.fixture()
def settings() -> Settings:
    return Settings()


def update(
    venue: Venue,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    *,
    ts_us: int = T0,
    fee: str = "0",
    symbol: str = "BTC/USD",
    tick: str = "0.01",
    lot: str = "0.00001",
    sequence: int = 1,
) -> PriceUpdate:
    """A PriceUpdate from (price, qty) string pairs, best first."""
    return PriceUpdate(
        f"px-{venue}-{sequence}", ts_us, "test", venue, symbol,
        tuple(BookLevel(D(p), D(q)) for p, q in bids), tuple(BookLevel(D(p), D(q)) for p, q in asks),
        sequence, D(fee), D(tick), D(lot),
    )


def rfq(
    side: Side = Side.BUY, qty: str | None = "1", *, notional: str | None = None,
    client: str = "ACME", symbol: str = "BTC/USD", rfq_id: str = "rfq-1",
) -> Rfq:
    return Rfq("e-" + rfq_id, T0, "test", rfq_id, client, symbol, side,
               D(qty) if qty is not None else None, D(notional) if notional is not None else None)
