"""Instruments come out of ccxt's real load_markets() run against the fixture server."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import ccxt
import pytest

from otcdesk.events import Venue
from otcdesk.instruments import Instrument
from otcdesk.venues.constants import CCXT_IDS, DESK_SYMBOLS, VENUES
from otcdesk.venues.fixtures_server import FixtureServer
from otcdesk.venues.providers import (
    MarketMetadataError,
    load_instruments,
    offline_instruments,
    step_from_precision,
)

D = Decimal

#: (venue, desk symbol) -> venue symbol, quote, tick, lot, min qty, as the fixtures document them.
EXPECTED = {
    (Venue.BINANCE, "BTC/USD"): ("BTC/USDT", "USDT", D("0.01"), D("0.00001"), D("0.00001")),
    (Venue.BINANCE, "ETH/USD"): ("ETH/USDT", "USDT", D("0.01"), D("0.0001"), D("0.0001")),
    (Venue.COINBASE, "BTC/USD"): ("BTC/USD", "USD", D("0.01"), D("0.00000001"), D("0.00000001")),
    (Venue.COINBASE, "ETH/USD"): ("ETH/USD", "USD", D("0.01"), D("0.00000001"), D("0.00000001")),
    (Venue.OKX, "BTC/USD"): ("BTC/USDT", "USDT", D("0.1"), D("0.00000001"), D("0.00001")),
    (Venue.OKX, "ETH/USD"): ("ETH/USDT", "USDT", D("0.01"), D("0.000001"), D("0.0001")),
    (Venue.KRAKEN, "BTC/USD"): ("BTC/USD", "USD", D("0.1"), D("0.00000001"), D("0.0001")),
    (Venue.KRAKEN, "ETH/USD"): ("ETH/USD", "USD", D("0.01"), D("0.00000001"), D("0.002")),
}

#: (taker, maker) per venue: ccxt's static schedules (Kraken's is the first tier of the `fees`
#: arrays in the AssetPairs fixture, which ccxt reads; it equals ccxt's static 0.26 %/0.16 %).
EXPECTED_FEES = {
    Venue.BINANCE: (D("0.001"), D("0.001")),
    Venue.COINBASE: (D("0.012"), D("0.006")),
    Venue.OKX: (D("0.0015"), D("0.001")),
    Venue.KRAKEN: (D("0.0026"), D("0.0016")),
}


@pytest.fixture(scope="module")
def loaded() -> dict[tuple[Venue, str], Instrument]:
    with FixtureServer() as server:
        return load_instruments(server)


def test_every_venue_and_desk_symbol_is_loaded(loaded: dict[tuple[Venue, str], Instrument]) -> None:
    assert set(loaded) == {(venue, symbol) for venue in VENUES for symbol in DESK_SYMBOLS}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_tick_lot_and_minimum_match_the_fixtures(
    loaded: dict[tuple[Venue, str], Instrument], key: tuple[Venue, str]
) -> None:
    venue_symbol, quote, tick, lot, min_qty = EXPECTED[key]
    instrument = loaded[key]

    assert (instrument.venue, instrument.symbol) == key
    assert instrument.venue_symbol == venue_symbol
    assert (instrument.base, instrument.quote) == (key[1].split("/")[0], quote)
    assert instrument.tick_size_quote == tick
    assert instrument.lot_size_base == lot
    assert instrument.min_qty_base == min_qty


@pytest.mark.parametrize("venue", VENUES)
def test_fees_are_ccxts_schedule(loaded: dict[tuple[Venue, str], Instrument], venue: Venue) -> None:
    static = getattr(ccxt, CCXT_IDS[venue])().fees["trading"]
    for symbol in DESK_SYMBOLS:
        instrument = loaded[(venue, symbol)]
        assert (instrument.taker_fee_rate, instrument.maker_fee_rate) == EXPECTED_FEES[venue]
        assert instrument.taker_fee_rate == Decimal(str(static["taker"]))


def test_no_float_reaches_an_instrument(loaded: dict[tuple[Venue, str], Instrument]) -> None:
    for instrument in loaded.values():
        for value in (
            instrument.tick_size_quote,
            instrument.lot_size_base,
            instrument.min_qty_base,
            instrument.taker_fee_rate,
            instrument.maker_fee_rate,
        ):
            assert type(value) is Decimal


def test_load_markets_calls_only_the_public_spot_endpoints(fixture_server: FixtureServer) -> None:
    load_instruments(fixture_server)

    requested = sorted({(r.path, r.query) for r in fixture_server.served})
    assert all(r.status == 200 for r in fixture_server.served)
    assert requested == [
        ("/binance/api/v3/exchangeInfo", ""),
        ("/coinbase/api/v3/brokerage/market/products", ""),
        ("/coinbase/api/v3/brokerage/market/products", "product_type=FUTURE"),
        ("/coinbase/v2/currencies", ""),
        ("/coinbase/v2/currencies/crypto", ""),
        ("/coinbase/v2/exchange-rates", ""),
        ("/kraken/0/public/AssetPairs", ""),
        ("/kraken/0/public/Assets", ""),
        ("/okx/api/v5/public/instruments", "instType=SPOT"),
    ]


def test_offline_instruments_is_memoized() -> None:
    first = offline_instruments()
    assert offline_instruments() == first
    assert offline_instruments() is not first  # a copy: callers cannot corrupt the cache


def test_precision_modes_convert_to_steps() -> None:
    assert step_from_precision(0.01, ccxt.TICK_SIZE) == Decimal("0.01")
    assert step_from_precision(1e-08, ccxt.TICK_SIZE) == Decimal("0.00000001")
    assert step_from_precision(2, ccxt.DECIMAL_PLACES) == Decimal("0.01")
    assert step_from_precision(0, ccxt.DECIMAL_PLACES) == Decimal("1")
    with pytest.raises(MarketMetadataError):
        step_from_precision(5, ccxt.SIGNIFICANT_DIGITS)


def test_a_missing_market_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path
    (root / "binance/api/v3").mkdir(parents=True)
    (root / "binance/api/v3/exchangeInfo.json").write_text('{"symbols": []}')
    with FixtureServer(root=root) as server, pytest.raises(MarketMetadataError, match="BTC/USDT"):
        load_instruments(server, venues=(Venue.BINANCE,))
