"""The ccxt feed: real venue order books (or the loopback fixture server) as PriceUpdates.

Live, ccxt talks to the venues' public APIs (internet needed, no API key). With `fixtures`,
the same ccxt request and parsing code runs against `FixtureServer`, so the offline feed is the
real adapter path and not a stand-in. Time here is wall time: books carry the venue's own
timestamps, so there is no sim clock to speed up and `duration_s` is wall seconds.

Event ids are uuid4 (see `CcxtBookSource`): venue books are not reproducible by a seed anyway;
record them (`--record`) and replay the file when a run must be repeated exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import ccxt

from otcdesk.errors import TransientError
from otcdesk.events import Venue
from otcdesk.venues.data import CcxtBookSource
from otcdesk.venues.fixtures_server import FixtureServer
from otcdesk.venues.providers import MarketMetadataError, load_instruments
from producers.feeds.publisher import FeedPublisher, ProgressHook
from producers.feeds.selection import select_instruments


@dataclass(frozen=True, slots=True)
class CcxtFeedPlan:
    symbols: tuple[str, ...]
    venues: tuple[Venue, ...]
    fixtures: bool
    interval_s: float
    duration_s: float | None


@contextlib.contextmanager
def book_source(plan: CcxtFeedPlan) -> Iterator[CcxtBookSource]:
    """A book source over live hosts, or over a fixture server kept up while it is used."""
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(FixtureServer()) if plan.fixtures else None
        try:
            loaded = load_instruments(server, plan.venues)
        except (ccxt.NetworkError, ccxt.ExchangeError, MarketMetadataError) as exc:
            where = "the fixture server" if server else "the venues (internet needed; or use --fixtures)"
            raise TransientError(
                f"loading markets from {where} failed: {type(exc).__name__}: {str(exc)[:160]}"
            ) from None
        instruments = select_instruments(loaded, plan.symbols, plan.venues)
        base_urls = server.venue_urls(plan.venues) if server else None
        yield CcxtBookSource(instruments, base_urls=base_urls, interval_s=plan.interval_s)


async def _stream_into(
    source: CcxtBookSource, publisher: FeedPublisher, duration_s: float | None, on_update: ProgressHook | None
) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(duration_s):
            async with contextlib.aclosing(source.stream()) as updates:
                async for update in updates:
                    publisher.publish(update)
                    if on_update is not None:
                        on_update(update)


def run_ccxt_feed(plan: CcxtFeedPlan, publisher: FeedPublisher, on_update: ProgressHook | None = None) -> None:
    """Poll and publish until `duration_s` or Ctrl-C (which closes every venue session first)."""
    with book_source(plan) as source:
        try:
            asyncio.run(_stream_into(source, publisher, plan.duration_s, on_update))
        except KeyboardInterrupt:
            publisher.interrupted = True
