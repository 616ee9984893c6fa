"""The L2 books per venue:symbol, held by every stage that prices, routes or matches against them.

Every worker of the aggregator, the hedger and the venue simulator folds *all* partitions of
`prices` (group-less, `Stage.fold`), so any worker can price, route or match any deal. `prices`
is its own changelog: each record is a full snapshot keyed by venue:symbol. An out-of-order or
replayed snapshot never replaces a newer one. Bytes on `prices` that do not decode are skipped
here; the ClickHouse sink, which reads every topic, dead-letters them.

The snapshots are inputs like any other: in stream time they are applied in event-time order,
before every item of the same instant (rank 0), so when a stage handles an RFQ, a clip or an
order arriving at t, the table holds each venue's last snapshot at or before t: the books *as of*
t, whatever the wall time. Live, snapshots are applied as they come (the latest books); a
(re)started worker reads back `LOOKBACK_S` wall seconds of the topic.
"""

from __future__ import annotations

from otcdesk.events import Event, PriceUpdate, Venue
from otcdesk.serde import DecodeError
from streams.codec import Peeked
from streams.stage import Stage

VENUES = tuple(v for v in Venue if v is not Venue.UNKNOWN)
#: Rank of the snapshots among the items of one instant: first.
PRICES_RANK = 0
#: Wall seconds of `prices` a live (re)started worker reads back: several feed steps of every venue.
LOOKBACK_S = 60.0


class BookTable:
    """The latest applied snapshot per venue:symbol, decoded when first read.

    A snapshot is kept by its event time only (`streams.codec.Peeked`): a venue publishes one per
    feed step and most are replaced before an RFQ, a clip or an order reads them, so decoding each
    one (forty levels of decimals) was most of these stages' work."""

    def __init__(self, stage: Stage) -> None:
        self._latest: dict[str, Peeked | PriceUpdate] = {}  # venue:symbol -> latest, decoded once read
        self.fold = stage.fold(
            "prices", self.apply, rank=PRICES_RANK, waits_for=("feed",), lookback_s=LOOKBACK_S, lazy=True
        )

    def apply(self, update: Peeked | Event) -> None:
        if isinstance(update, Peeked):
            if update.event != PriceUpdate.SCHEMA:
                return  # not a book: the sink dead-letters what does not belong on `prices`
            key = update.key
        elif isinstance(update, PriceUpdate):
            key = update.key
        else:
            return
        held = self._latest.get(key)
        if held is None or update.ts_us > held.ts_us:  # an older or replayed snapshot never wins
            self._latest[key] = update

    def book(self, venue: Venue, symbol: str) -> PriceUpdate | None:
        key = f"{venue.value}:{symbol}"
        held = self._latest.get(key)
        if isinstance(held, Peeked):
            try:
                decoded = held.decode()
            except DecodeError:
                decoded = None  # its bytes began like a book: the sink dead-letters it
            if not isinstance(decoded, PriceUpdate) or decoded.key != key:
                del self._latest[key]
                return None
            held = self._latest[key] = decoded
        return held

    def books_for(self, symbol: str) -> dict[Venue, PriceUpdate]:
        """Venue -> book of `symbol`, for the venues that published one."""
        return {v: b for v in VENUES if (b := self.book(v, symbol)) is not None}
