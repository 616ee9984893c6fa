"""Order books from real venues (or the fixture server) as a stream of `PriceUpdate` events.

`CcxtBookSource` polls `fetch_order_book` of every configured venue concurrently through
`ccxt.async_support`, one task per venue, and yields what they fetch from one queue. A venue
that fails is that venue's problem only: its task logs the error, waits with exponential backoff
and tries again while the other venues keep streaming. ccxt's error taxonomy decides the log
level: `NetworkError` (timeouts, 5xx, rate limits) is expected and retried quietly;
`ExchangeError` (the venue rejected the request) is logged as an error, because retrying rarely
helps and a human should look, yet it still must not stop the feed.

Live use leaves `base_urls` None (ccxt's real hosts, needs internet); tests and the offline feed
pass `FixtureServer.venue_urls()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ccxt

from otcdesk.events import PriceUpdate, Venue
from otcdesk.instruments import Instrument
from otcdesk.venues.constants import BOOK_DEPTH_LEVELS
from otcdesk.venues.factories import create_async_exchange
from otcdesk.venues.parsing import BookParser

log = logging.getLogger(__name__)

InstrumentKey = tuple[Venue, str]


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def uuid4_text() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff per venue: `initial_delay_s * 2**(failures - 1)`, capped."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay_s(self, consecutive_failures: int) -> float:
        exponent = max(consecutive_failures - 1, 0)
        return float(min(self.max_delay_s, self.initial_delay_s * 2**exponent))


class CcxtBookSource:
    """Poll venue order books through ccxt and yield them as `PriceUpdate` events.

    Parameters
    ----------
    instruments
        What to poll, keyed by (venue, desk symbol); each venue's markets come from ccxt.
    base_urls
        API base URL per venue (the fixture server's); None or a missing venue: live hosts.
    interval_s
        Pause between two polls of one venue after a successful round.
    depth
        Levels requested from the venue and kept per side.
    retry
        Backoff after a failed round, per venue.
    clock_us, new_event_id
        Event time when the venue sends none, and event ids (feed ids are not part of the
        desk's deterministic replay, so uuid4 text is the default).
    """

    def __init__(
        self,
        instruments: Mapping[InstrumentKey, Instrument],
        *,
        base_urls: Mapping[Venue, str | None] | None = None,
        interval_s: float = 1.0,
        depth: int = BOOK_DEPTH_LEVELS,
        retry: RetryPolicy = RetryPolicy(),
        clock_us: Callable[[], int] = wall_clock_us,
        new_event_id: Callable[[], str] = uuid4_text,
        queue_size: int = 1000,
    ) -> None:
        self._by_venue: dict[Venue, list[Instrument]] = {}
        for instrument in instruments.values():
            self._by_venue.setdefault(instrument.venue, []).append(instrument)
        self._base_urls = base_urls or {}
        self._interval_s = interval_s
        self._depth = depth
        self._retry = retry
        self._parser = BookParser(clock_us, new_event_id, depth)
        self._queue_size = queue_size

    @property
    def venues(self) -> tuple[Venue, ...]:
        return tuple(self._by_venue)

    async def stream(self) -> AsyncGenerator[PriceUpdate, None]:
        """Yield books as they arrive, forever; closing the generator stops every venue task.

        Use `contextlib.aclosing(source.stream())` so breaking out of the loop closes the
        exchanges' HTTP sessions at once instead of at garbage collection.
        """
        queue: asyncio.Queue[PriceUpdate] = asyncio.Queue(self._queue_size)
        exchanges = {venue: create_async_exchange(venue, self._base_urls.get(venue)) for venue in self._by_venue}
        tasks = [
            asyncio.create_task(self._poll_venue(venue, exchange, queue), name=f"books-{venue.value}")
            for venue, exchange in exchanges.items()
        ]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(ex.close() for ex in exchanges.values()), return_exceptions=True)

    # -- per venue --------------------------------------------------------------------------

    async def _poll_venue(self, venue: Venue, exchange: Any, queue: asyncio.Queue[PriceUpdate]) -> None:
        consecutive_failures = 0
        while True:
            try:
                await self._poll_round(venue, exchange, queue)
            except Exception as e:  # noqa: BLE001 - ccxt and the network fail in many types: retry with backoff
                consecutive_failures += 1
                delay_s = self._retry.delay_s(consecutive_failures)
                _log_failure(venue, e, consecutive_failures, delay_s)
                await asyncio.sleep(delay_s)
                continue
            if consecutive_failures:
                log.info("%s books back after %d failed rounds", venue, consecutive_failures)
            consecutive_failures = 0
            await asyncio.sleep(self._interval_s)

    async def _poll_round(self, venue: Venue, exchange: Any, queue: asyncio.Queue[PriceUpdate]) -> None:
        # One book per instrument of the venue; the first failure aborts the round (a venue
        # outage hits every symbol, and backing off once is kinder than once per symbol).
        for instrument in self._by_venue[venue]:
            book = await exchange.fetch_order_book(instrument.venue_symbol, self._depth)
            await queue.put(self._parser.parse(book, instrument))


def _log_failure(venue: Venue, error: Exception, failures: int, delay_s: float) -> None:
    detail = f"{type(error).__name__}: {str(error)[:200]}"
    retry = f"retry {failures} in {delay_s:.2f} s"
    if isinstance(error, ccxt.NetworkError):
        log.warning("%s books unavailable (%s); %s", venue, detail, retry)
    elif isinstance(error, ccxt.ExchangeError):
        log.error("%s rejected a book request (%s); %s", venue, detail, retry)
    else:
        log.exception("%s book polling failed unexpectedly; %s", venue, retry)
