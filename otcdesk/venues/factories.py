"""Build ccxt exchanges for the desk's venues, optionally pointed at another API host.

Every ccxt exchange keeps its REST hosts in `urls['api']` (one entry per API family, e.g.
Binance's `public`, `sapi`, `fapiPublic`). Re-pointing *all* entries at one base URL keeps the
request paths ccxt builds (`/api/v3/depth`, `/0/public/AssetPairs`) intact, so a fixture server
can answer them from files named after the real endpoints and ccxt's own parsing runs unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from otcdesk.events import Venue
from otcdesk.venues.constants import CCXT_IDS, CCXT_OPTIONS

_SCHEME_AND_HOST = re.compile(r"^[a-z]+://[^/]+")


def _config(venue: Venue, timeout_ms: int) -> dict[str, Any]:
    # A deep copy: ccxt edits its options in place (Binance may append to `fetchMarkets.types`).
    return {
        "options": copy.deepcopy(CCXT_OPTIONS[venue]),
        "timeout": timeout_ms,
        "enableRateLimit": True,
    }


def create_exchange(venue: Venue, base_url: str | None = None, timeout_ms: int = 10_000) -> Any:
    """A synchronous ccxt exchange for `venue`; `base_url` None means the venue's real hosts."""
    exchange = getattr(ccxt, CCXT_IDS[venue])(_config(venue, timeout_ms))
    if base_url is not None:
        point_at(exchange, base_url)
    return exchange


def create_async_exchange(venue: Venue, base_url: str | None = None, timeout_ms: int = 10_000) -> Any:
    """An asyncio ccxt exchange (`ccxt.async_support`); close it with `await exchange.close()`."""
    exchange = getattr(ccxt_async, CCXT_IDS[venue])(_config(venue, timeout_ms))
    if base_url is not None:
        point_at(exchange, base_url)
    return exchange


def point_at(exchange: Any, base_url: str) -> None:
    """Replace scheme and host of every `urls['api']` entry with `base_url`, keeping the path.

    Meant for the loopback fixture server, so two courtesies to real venues are dropped: the
    rate limiter (Kraken: one call per second) and the async exchange's 250 ms pause on
    `close()` that lets TLS connections shut down cleanly (plain HTTP has none).
    """
    exchange.urls["api"] = _rewrite(exchange.urls["api"], base_url.rstrip("/"))
    exchange.enableRateLimit = False
    exchange.timeout_on_exit = 0


def _rewrite(entry: Any, base_url: str) -> Any:
    if isinstance(entry, str):
        return _SCHEME_AND_HOST.sub(base_url, entry, count=1)
    if isinstance(entry, Mapping):
        return {key: _rewrite(value, base_url) for key, value in entry.items()}
    return entry
