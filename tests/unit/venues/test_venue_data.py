"""CcxtBookSource streams every venue's books through ccxt and survives a failing venue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing

import pytest

from otcdesk.events import PriceUpdate, Venue
from otcdesk.venues.constants import DESK_SYMBOLS, VENUES
from otcdesk.venues.data import CcxtBookSource, RetryPolicy
from otcdesk.venues.fixtures_server import FixtureServer
from otcdesk.venues.providers import offline_instruments

FAST_RETRY = RetryPolicy(initial_delay_s=0.01, max_delay_s=0.05)
ALL_KEYS = {(venue, symbol) for venue in VENUES for symbol in DESK_SYMBOLS}


def _collect(
    server: FixtureServer,
    done: Callable[[dict[tuple[Venue, str], PriceUpdate]], bool],
    timeout_s: float = 5.0,
) -> dict[tuple[Venue, str], PriceUpdate]:
    """Latest update per (venue, symbol) until `done` says enough."""
    source = CcxtBookSource(offline_instruments(), base_urls=server.venue_urls(), interval_s=0.02, retry=FAST_RETRY)
    latest: dict[tuple[Venue, str], PriceUpdate] = {}

    async def run() -> None:
        async with aclosing(source.stream()) as updates:
            async for update in updates:
                latest[(update.venue, update.symbol)] = update
                if done(latest):
                    return

    asyncio.run(asyncio.wait_for(run(), timeout_s))
    return latest


def test_yields_books_for_every_venue_and_symbol(fixture_server: FixtureServer) -> None:
    latest = _collect(fixture_server, lambda seen: set(seen) == ALL_KEYS)

    for (venue, symbol), update in latest.items():
        assert update.source == "venues.ccxt"
        assert len(update.bids) == len(update.asks) == 10
        assert update.bids[0].price_quote < update.asks[0].price_quote
        bid_prices = [level.price_quote for level in update.bids]
        ask_prices = [level.price_quote for level in update.asks]
        assert bid_prices == sorted(bid_prices, reverse=True)
        assert ask_prices == sorted(ask_prices)
        tick = offline_instruments()[(venue, symbol)].tick_size_quote
        assert all(price % tick == 0 for price in bid_prices + ask_prices)
    # the venues' own sequence numbers and book times travel through ccxt
    assert latest[(Venue.BINANCE, "BTC/USD")].sequence == 73461234567
    assert latest[(Venue.COINBASE, "BTC/USD")].ts_us == 1767225600130000
    assert latest[(Venue.OKX, "ETH/USD")].ts_us == 1767225600130000


def test_requests_go_through_ccxts_real_endpoints(fixture_server: FixtureServer) -> None:
    _collect(fixture_server, lambda seen: set(seen) == ALL_KEYS)

    book_queries = {(r.path, r.query) for r in fixture_server.served if r.status == 200}
    assert ("/binance/api/v3/depth", "symbol=BTCUSDT&limit=10") in book_queries
    assert ("/coinbase/api/v3/brokerage/market/product_book", "product_id=ETH-USD&limit=10") in book_queries
    assert ("/okx/api/v5/market/books", "instId=BTC-USDT&sz=10") in book_queries
    assert ("/kraken/0/public/Depth", "pair=XETHZUSD&count=10") in book_queries


def test_a_venue_down_for_good_does_not_stop_the_others(
    fixture_server: FixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    fixture_server.fail("/okx/", status=500, times=10**6)
    others = {key for key in ALL_KEYS if key[0] is not Venue.OKX}

    with caplog.at_level(logging.WARNING, logger="otcdesk.venues.data"):
        latest = _collect(
            fixture_server,
            lambda seen: set(seen) == others and len(fixture_server.requests_under("/okx/")) >= 3,
        )

    assert set(latest) == others
    assert {r.status for r in fixture_server.requests_under("/okx/")} == {500}
    assert any("OKX books unavailable (ExchangeNotAvailable" in m for m in caplog.messages)


def test_a_venue_that_recovers_is_streamed_again(fixture_server: FixtureServer) -> None:
    fixture_server.fail("/kraken/", status=503, times=3)

    latest = _collect(fixture_server, lambda seen: set(seen) == ALL_KEYS)

    statuses = [r.status for r in fixture_server.requests_under("/kraken/")]
    assert statuses[:3] == [503, 503, 503]
    assert 200 in statuses[3:]
    assert (Venue.KRAKEN, "BTC/USD") in latest


def test_a_venue_rejection_is_logged_as_an_error_and_retried(
    fixture_server: FixtureServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Binance's documented error body: ccxt maps code -1121 to BadSymbol, an ExchangeError.
    fixture_server.fail("/binance/api/v3/depth", status=400, times=2, body=b'{"code":-1121,"msg":"Invalid symbol."}')

    with caplog.at_level(logging.WARNING, logger="otcdesk.venues.data"):
        latest = _collect(fixture_server, lambda seen: set(seen) == ALL_KEYS)

    assert (Venue.BINANCE, "BTC/USD") in latest
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and "BadSymbol" in errors[0].getMessage()


def test_retry_policy_backs_off_exponentially_to_a_cap() -> None:
    policy = RetryPolicy(initial_delay_s=1.0, max_delay_s=5.0)

    assert [policy.delay_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
