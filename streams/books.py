"""The latest L2 book per venue:symbol, held by every stage that prices or matches against it.

A faust GlobalTable fed by an agent on `prices` (changelog-backed: any worker holds every book,
and a restarted worker recovers them); an out-of-order or replayed snapshot never overwrites a
newer one. The aggregator, the hedger and the venue simulator each keep one.
"""

from __future__ import annotations

from otcdesk.errors import RejectedError
from otcdesk.events import Event, PriceUpdate, Venue
from streams.stage import Stage

VENUES = tuple(v for v in Venue if v is not Venue.UNKNOWN)


class BookTable:
    """The latest book per venue:symbol in a GlobalTable fed by an agent on `prices`."""

    def __init__(self, stage: Stage) -> None:
        self.table = stage.table("books", stage.settings.topics.prices_partitions, global_table=True)
        stage.agent("prices", self.on_price)

    async def on_price(self, update: Event) -> list[Event]:
        if not isinstance(update, PriceUpdate):
            raise RejectedError("wrong_event", f"{type(update).__name__} on prices")
        key = update.key.encode()
        known = self.table.get(key)
        if not isinstance(known, PriceUpdate) or (update.ts_us, update.sequence) > (known.ts_us, known.sequence):
            self.table[key] = update  # out-of-order or replayed snapshots never overwrite newer ones
        return []

    def book(self, venue: Venue, symbol: str) -> PriceUpdate | None:
        found = self.table.get(f"{venue.value}:{symbol}".encode())
        return found if isinstance(found, PriceUpdate) else None

    def books_for(self, symbol: str) -> dict[Venue, PriceUpdate]:
        """Venue -> book of `symbol`, for the venues that published one."""
        return {v: b for v in VENUES if (b := self.book(v, symbol)) is not None}
