"""Instrument metadata (tick, lot, minimum size, fees) loaded through ccxt's `load_markets()`.

Nothing here types a number: every value comes from the ccxt market the venue's API describes
(`precision`, `limits`, `taker`, `maker`). Live, ccxt calls the venues; offline, the fixture
server answers with responses written in each venue's documented format, so both paths run the
same ccxt parsing code. ccxt gives floats; each is turned into `Decimal` through `str()`, whose
shortest round-trip form recovers the decimal text the venue sent (`0.00001`, not
`0.000010000000000000000818...`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import ccxt

from otcdesk.events import Venue
from otcdesk.instruments import Instrument
from otcdesk.venues.constants import DESK_SYMBOLS, VENUE_SYMBOLS, VENUES
from otcdesk.venues.factories import create_exchange
from otcdesk.venues.fixtures_server import FixtureServer

log = logging.getLogger(__name__)

InstrumentKey = tuple[Venue, str]
BaseUrls = Mapping[Venue, str | None]


class MarketMetadataError(LookupError):
    """A venue's ccxt markets lack what the desk needs (market, tick or lot)."""


def decimal_from_ccxt(value: float | int | str) -> Decimal:
    """`Decimal` of a ccxt number through its shortest text form (never the binary expansion)."""
    return Decimal(str(value))


def step_from_precision(precision: float | int | str, precision_mode: int) -> Decimal:
    """The smallest increment a ccxt `precision` value means under the exchange's mode.

    TICK_SIZE (what ccxt 4 uses for these venues) already is the increment; DECIMAL_PLACES `n`
    means `10**-n`. SIGNIFICANT_DIGITS has no fixed increment (it depends on the price), so it is
    refused rather than guessed.
    """
    if precision_mode == ccxt.TICK_SIZE:
        return decimal_from_ccxt(precision)
    if precision_mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision))
    raise MarketMetadataError(f"precision mode {precision_mode} has no fixed step, was given precision {precision}")


def instrument_from_market(
    venue: Venue,
    desk_symbol: str,
    market: Mapping[str, Any],
    precision_mode: int,
    fallback_fees: Mapping[str, Any],
) -> Instrument:
    """One `Instrument` from a ccxt market dict.

    `base`/`quote` are the venue market's currencies (USDT on Binance and OKX), so fees and
    fills stay in the currency the venue charges; `symbol` is the desk's view. A venue without
    a minimum order size gets its lot size as minimum (nothing smaller can be sent anyway).
    Fees fall back to the exchange-wide schedule when the market carries none.
    """
    precision = market.get("precision") or {}
    if precision.get("price") is None or precision.get("amount") is None:
        raise MarketMetadataError(f"{venue}:{market.get('symbol')} has no price/amount precision")
    tick_size_quote = step_from_precision(precision["price"], precision_mode)
    lot_size_base = step_from_precision(precision["amount"], precision_mode)
    min_amount = ((market.get("limits") or {}).get("amount") or {}).get("min")
    taker = market.get("taker")
    maker = market.get("maker")
    return Instrument(
        venue=venue,
        symbol=desk_symbol,
        venue_symbol=str(market["symbol"]),
        base=str(market["base"]),
        quote=str(market["quote"]),
        tick_size_quote=tick_size_quote,
        lot_size_base=lot_size_base,
        min_qty_base=lot_size_base if min_amount is None else decimal_from_ccxt(min_amount),
        taker_fee_rate=decimal_from_ccxt(fallback_fees["taker"] if taker is None else taker),
        maker_fee_rate=decimal_from_ccxt(fallback_fees["maker"] if maker is None else maker),
    )


def instruments_from_exchange(
    venue: Venue, exchange: Any, desk_symbols: tuple[str, ...] = DESK_SYMBOLS
) -> dict[InstrumentKey, Instrument]:
    """The desk's instruments on `venue` from an exchange whose markets are loaded."""
    found: dict[InstrumentKey, Instrument] = {}
    for desk_symbol in desk_symbols:
        venue_symbol = VENUE_SYMBOLS[(venue, desk_symbol)]
        market = exchange.markets.get(venue_symbol)
        if market is None:
            raise MarketMetadataError(f"{venue} lists no market {venue_symbol}")
        found[(venue, desk_symbol)] = instrument_from_market(
            venue, desk_symbol, market, exchange.precisionMode, exchange.fees["trading"]
        )
    return found


def load_venue(venue: Venue, base_url: str | None = None) -> dict[InstrumentKey, Instrument]:
    """Load one venue's markets through ccxt (live hosts when `base_url` is None)."""
    exchange = create_exchange(venue, base_url)
    try:
        exchange.load_markets()
        return instruments_from_exchange(venue, exchange)
    finally:
        exchange.close()


def load_instruments(
    source: FixtureServer | BaseUrls | None = None, venues: tuple[Venue, ...] = VENUES
) -> dict[InstrumentKey, Instrument]:
    """Instruments of every venue, keyed by (venue, desk symbol).

    `source` is a running `FixtureServer` (offline), a base URL per venue (None entries and
    missing venues use the live hosts), or None for the live hosts of every venue.
    """
    base_urls: BaseUrls = source.venue_urls(venues) if isinstance(source, FixtureServer) else (source or {})
    instruments: dict[InstrumentKey, Instrument] = {}
    for venue in venues:
        started_s = time.perf_counter()
        instruments.update(load_venue(venue, base_urls.get(venue)))
        log.info("loaded %s markets in %.3f s", venue, time.perf_counter() - started_s)
    return instruments


@functools.cache
def _offline_instruments() -> Mapping[InstrumentKey, Instrument]:
    with FixtureServer() as server:
        return MappingProxyType(load_instruments(server))


def offline_instruments() -> dict[InstrumentKey, Instrument]:
    """Every venue's instruments from the shipped venue responses through ccxt, loaded once per process.

    For the market simulator and tests: starts the fixture server, runs ccxt's real
    `load_markets()` against it, stops the server. Returns a fresh dict (values are frozen).
    """
    return dict(_offline_instruments())
