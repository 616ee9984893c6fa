"""Instruments with the venues' real rules, as ccxt loads them from otcdesk/venues/recorded (see
its README): the pure cores' tests build them directly instead of starting the fixture server."""

from __future__ import annotations

from decimal import Decimal as D

from otcdesk.events import Venue
from otcdesk.instruments import Instrument

# (symbol, venue) -> (tick, lot, min qty, taker fee)
RULES = {
    ("BTC/USD", Venue.BINANCE): ("0.01", "0.00001", "0.00001", "0.001"),
    ("BTC/USD", Venue.COINBASE): ("0.01", "0.00000001", "0.00000001", "0.012"),
    ("BTC/USD", Venue.OKX): ("0.1", "0.00000001", "0.00001", "0.0015"),
    ("BTC/USD", Venue.KRAKEN): ("0.1", "0.00000001", "0.0001", "0.0026"),
    ("ETH/USD", Venue.BINANCE): ("0.01", "0.0001", "0.0001", "0.001"),
    ("ETH/USD", Venue.COINBASE): ("0.01", "0.00000001", "0.00000001", "0.012"),
    ("ETH/USD", Venue.OKX): ("0.01", "0.000001", "0.0001", "0.0015"),
    ("ETH/USD", Venue.KRAKEN): ("0.01", "0.00000001", "0.002", "0.0026"),
}


def instrument_list() -> list[Instrument]:
    out = []
    for (symbol, venue), (tick, lot, min_qty, fee) in RULES.items():
        base, quote = symbol.split("/")
        usdt = venue in (Venue.BINANCE, Venue.OKX)
        out.append(
            Instrument(
                venue,
                symbol,
                f"{base}/{'USDT' if usdt else quote}",
                base,
                quote,
                D(tick),
                D(lot),
                D(min_qty),
                D(fee),
                D(fee) / 2,
            )
        )
    return out
