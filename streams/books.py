"""The L2 books per venue:symbol, held by every stage that prices, routes or matches against them.

Every worker of the aggregator, the hedger and the venue simulator reads *all* partitions of
`prices` with a group-less consumer (`streams.fold.TopicFold`, from the records of the last
`LOOKBACK_S` wall seconds), so any worker can price, route or match any deal. `prices` is its own
changelog: each record is a full snapshot keyed by venue:symbol, so a restarted worker has every
live venue's book again after one lookback (a faust GlobalTable would write each snapshot a second
time to a changelog topic, doubling the busiest flow of the desk for nothing). An out-of-order or
replayed snapshot never overwrites a newer one. Bytes on `prices` that do not decode are skipped
here; the ClickHouse sink, which reads every topic, dead-letters them.

Event time. Live (`sim.book_wait_ms == 0`) a stage prices on the latest books, the freshest
prices the desk has. In a simulated session (`otcdesk simulate` sets `book_wait_ms`) a stage asks
for the books *as of* an event's time: it waits until the feed has passed that instant (some venue
of the symbol published a step later than it, so every venue's step at or before it is in) and
takes, per venue, the last snapshot at or before it from a short in-memory history. The answer is
then a function of the event and the seeded feed, not of how fast this process read `prices`,
so two runs of one seed price, route and match the same. The history is per process (after a
restart it is rebuilt from the lookback).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict

from otcdesk.events import Event, PriceUpdate, Venue
from streams.fold import TopicFold
from streams.stage import Stage

log = logging.getLogger(__name__)

VENUES = tuple(v for v in Venue if v is not Venue.UNKNOWN)
#: Snapshots kept per venue:symbol for as-of lookups: 1024 steps of the sim feed (four minutes at
#: the default 250 ms step, twenty wall seconds of a 600x session) cover any event waiting.
HISTORY = 1024
#: Wall seconds of `prices` a (re)started worker reads back: several feed steps of every venue.
LOOKBACK_S = 60.0


class BookTable:
    """Books per venue:symbol: the latest, and the recent ones for as-of reads (all in memory)."""

    def __init__(self, stage: Stage) -> None:
        self.wait_s = stage.settings.sim.book_wait_ms / 1000
        self.step_us = stage.settings.sim.step_ms * 1000
        self._history: dict[bytes, list[tuple[int, int, PriceUpdate]]] = defaultdict(list)
        self._watermark_us: dict[str, int] = {}  # symbol -> latest ts_us any venue published
        self._moved = asyncio.Event()
        self.fold = TopicFold(stage.settings, "prices", self.apply, lookback_s=LOOKBACK_S)

        async def read_prices() -> None:
            await self.fold.run()

        stage.app.task(read_prices)
        stage.ready_after(self.fold.caught_up)

    def apply(self, update: Event) -> None:
        if not isinstance(update, PriceUpdate):
            return  # not a book: the sink dead-letters what does not belong on `prices`
        history = self._history[update.key.encode()]  # sorted: out-of-order or replayed snapshots
        # never pass for the latest, which is always the last entry
        entry = (update.ts_us, update.sequence, update)
        at = bisect.bisect_left(history, entry[:2], key=lambda e: e[:2])
        if at == len(history) or history[at][:2] != entry[:2]:
            history.insert(at, entry)
            del history[:-HISTORY]
        if update.ts_us > self._watermark_us.get(update.symbol, 0):
            self._watermark_us[update.symbol] = update.ts_us
            self._moved.set()

    def book(self, venue: Venue, symbol: str) -> PriceUpdate | None:
        """The latest snapshot (by ts_us, then sequence) of a venue's book."""
        history = self._history.get(f"{venue.value}:{symbol}".encode())
        return history[-1][2] if history else None

    def books_for(self, symbol: str) -> dict[Venue, PriceUpdate]:
        """Venue -> latest book of `symbol`, for the venues that published one."""
        return {v: b for v in VENUES if (b := self.book(v, symbol)) is not None}

    def _as_of(self, venue: Venue, symbol: str, ts_us: int) -> PriceUpdate | None:
        history = self._history.get(f"{venue.value}:{symbol}".encode())
        if not history:
            return None
        at = bisect.bisect_right(history, ts_us, key=lambda e: e[0])
        return history[at - 1][2] if at else None

    async def wait_past(self, symbol: str, ts_us: int) -> None:
        """Until some venue of `symbol` published a step after `ts_us` and the fold has applied
        what the broker then held of every venue (`TopicFold.read_to_end`: one venue past `ts_us`
        says nothing of the partitions of the others), or `book_wait_ms` passed.

        Live (`book_wait_ms == 0`) returns at once."""
        if self.wait_s <= 0:
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.wait_s
        while self._watermark_us.get(symbol, 0) < ts_us + self.step_us:
            left = deadline - loop.time()
            if left <= 0:
                log.warning("feed of %s not past %d after %.1f s (at %d): acting on what is there",
                            symbol, ts_us, self.wait_s, self._watermark_us.get(symbol, 0))
                return  # the feed is late or gone: price on what is there (stale checks apply)
            self._moved.clear()
            try:
                await asyncio.wait_for(self._moved.wait(), left)
            except TimeoutError:
                continue  # the deadline check above says it
        try:
            await asyncio.wait_for(self.fold.read_to_end(), max(deadline - loop.time(), 0.001))
        except TimeoutError:
            log.warning("books of %s not read to the end within %.1f s: acting on what is there", symbol, self.wait_s)
        if loop.time() - started > 1.0:  # the feed (or this process's reading of it) is behind
            log.warning("waited %.1f s for the feed of %s to pass %d", loop.time() - started, symbol, ts_us)

    async def books_at(self, symbol: str, ts_us: int) -> dict[Venue, PriceUpdate]:
        """The books to act on for an event at `ts_us`: as of it in a simulation, else the latest."""
        await self.wait_past(symbol, ts_us)
        return self.books_as_of(symbol, ts_us)

    def books_as_of(self, symbol: str, ts_us: int) -> dict[Venue, PriceUpdate]:
        """Without waiting: as of `ts_us` in a simulation (call `wait_past` first), else the latest."""
        if self.wait_s <= 0:
            return self.books_for(symbol)
        return {v: b for v in VENUES if (b := self._as_of(v, symbol, ts_us)) is not None}

    async def book_at(self, venue: Venue, symbol: str, ts_us: int) -> PriceUpdate | None:
        """One venue's book for an event at `ts_us` (see `books_at`)."""
        if self.wait_s <= 0:
            return self.book(venue, symbol)
        await self.wait_past(symbol, ts_us)
        return self._as_of(venue, symbol, ts_us)
