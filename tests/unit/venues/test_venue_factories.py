"""Re-pointing ccxt leaves no real host behind and never touches the shared option constants."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from otcdesk.events import Venue
from otcdesk.venues.constants import CCXT_OPTIONS, VENUES
from otcdesk.venues.factories import create_async_exchange, create_exchange


def _strings(entry: Any) -> list[str]:
    if isinstance(entry, str):
        return [entry]
    if isinstance(entry, dict):
        return [s for value in entry.values() for s in _strings(value)]
    return []


@pytest.mark.parametrize("venue", VENUES)
def test_every_api_url_points_at_the_base_url(venue: Venue) -> None:
    exchange = create_exchange(venue, "http://127.0.0.1:9/x")

    urls = _strings(exchange.urls["api"])
    assert urls and all(url.startswith("http://127.0.0.1:9/x") for url in urls)
    assert exchange.enableRateLimit is False


@pytest.mark.parametrize("venue", VENUES)
def test_live_exchanges_keep_their_hosts_and_rate_limiter(venue: Venue) -> None:
    exchange = create_exchange(venue)

    assert all("127.0.0.1" not in url for url in _strings(exchange.urls["api"]))
    assert exchange.enableRateLimit is True


def test_exchanges_get_copies_of_the_option_constants() -> None:
    before = copy.deepcopy(dict(CCXT_OPTIONS))
    exchange = create_exchange(Venue.BINANCE)
    exchange.options["fetchMarkets"]["types"].append("option")

    assert dict(CCXT_OPTIONS) == before


def test_async_exchange_is_re_pointed_too() -> None:
    exchange = create_async_exchange(Venue.KRAKEN, "http://127.0.0.1:9/kraken")

    assert exchange.urls["api"]["public"] == "http://127.0.0.1:9/kraken"
    assert exchange.timeout_on_exit == 0
