"""Venue identifiers, ccxt ids, market maps and ccxt options: every venue string lives here.

The desk quotes `DESK_SYMBOLS`; each venue lists them as its own ccxt unified market
(`VENUE_SYMBOLS`). Binance and OKX list the USDT pairs, which the desk treats at par with USD
(see `otcdesk.instruments` and docs/venues.md).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from otcdesk.events import Venue
from otcdesk.resources import VENUE_RECORDINGS, shipped_dir

#: Venues this package can load and poll, in a fixed order (logs and outputs stay stable).
VENUES: Final[tuple[Venue, ...]] = (Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN)

#: Symbols the desk quotes to clients.
DESK_SYMBOLS: Final[tuple[str, ...]] = ("BTC/USD", "ETH/USD")

#: ccxt exchange class per venue. Coinbase is Advanced Trade (`coinbase`): its market list has a
#: public endpoint (`/api/v3/brokerage/market/products`), so no API key is needed to load it.
CCXT_IDS: Final[MappingProxyType[Venue, str]] = MappingProxyType(
    {
        Venue.BINANCE: "binance",
        Venue.COINBASE: "coinbase",
        Venue.OKX: "okx",
        Venue.KRAKEN: "kraken",
    }
)

#: (venue, desk symbol) -> the venue's ccxt unified market symbol.
VENUE_SYMBOLS: Final[MappingProxyType[tuple[Venue, str], str]] = MappingProxyType(
    {
        (Venue.BINANCE, "BTC/USD"): "BTC/USDT",
        (Venue.BINANCE, "ETH/USD"): "ETH/USDT",
        (Venue.COINBASE, "BTC/USD"): "BTC/USD",
        (Venue.COINBASE, "ETH/USD"): "ETH/USD",
        (Venue.OKX, "BTC/USD"): "BTC/USDT",
        (Venue.OKX, "ETH/USD"): "ETH/USDT",
        (Venue.KRAKEN, "BTC/USD"): "BTC/USD",
        (Venue.KRAKEN, "ETH/USD"): "ETH/USD",
    }
)

#: ccxt constructor options that keep `load_markets()` on public spot endpoints: the desk
#: hedges spot only, and each extra market type is one more request (and one more fixture).
CCXT_OPTIONS: Final[MappingProxyType[Venue, dict[str, Any]]] = MappingProxyType(
    {
        Venue.BINANCE: {"fetchMarkets": {"types": ["spot"]}},
        Venue.COINBASE: {"fetchMarkets": "fetchMarketsV3"},
        Venue.OKX: {"fetchMarkets": {"types": ["spot"]}},
        Venue.KRAKEN: {},
    }
)

#: Book depth asked of every venue, and kept in each PriceUpdate.
BOOK_DEPTH_LEVELS: Final[int] = 10

#: Loopback address of the fixture server (never a public interface).
LOOPBACK_HOST: Final[str] = "127.0.0.1"

#: Recorded-format exchange responses, one folder per venue (`FIXTURE_DIRS`).
FIXTURES_ROOT: Final[Path] = shipped_dir(*VENUE_RECORDINGS)  # otcdesk/venues/recorded, shipped in the wheel

#: Folder under FIXTURES_ROOT (and URL prefix on the fixture server) per venue.
FIXTURE_DIRS: Final[MappingProxyType[Venue, str]] = CCXT_IDS

#: `source` field of the events this package produces.
EVENT_SOURCE: Final[str] = "venues.ccxt"
