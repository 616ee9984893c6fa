"""Price aggregator stage: the consolidated book of the four venues, and every RFQ priced on it.

- `prices` -> a faust GlobalTable of the latest book per venue:symbol (changelog-backed, so every
  worker holds every book and any worker can price any RFQ);
- `rfq` -> `rfq-priced`: the RFQ's VWAP for its full size on both sides, after venue fees, with
  stale/crossed venues excluded, as of the RFQ's event time (`otcdesk.pricing`).

An RFQ that breaks the contract (bad size, side or id) is dead-lettered; one for a symbol the
desk does not quote is dead-lettered too, and its refusal still goes to the quote engine so the
client gets an UNKNOWN_SYMBOL reject.
"""

from __future__ import annotations

from otcdesk.errors import RejectedError
from otcdesk.events import Event, PriceUpdate, RejectReason, Rfq, Venue
from otcdesk.ids import CausalIds
from otcdesk.pricing import ConsolidatedBook, PricingRefusal, price_rfq
from otcdesk.pricing_wire import to_event
from otcdesk.settings import Settings, get_settings
from otcdesk.validation import validate_rfq
from streams.stage import Stage

VENUES = tuple(v for v in Venue if v is not Venue.UNKNOWN)


class Aggregator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("aggregator", settings)
        self.books = self.stage.table("books", settings.topics.prices_partitions, global_table=True)
        self.ids = CausalIds()
        self.stage.agent("prices", self.on_price)
        self.stage.agent("rfq", self.on_rfq)

    async def on_price(self, update: Event) -> list[Event]:
        if not isinstance(update, PriceUpdate):
            raise RejectedError("wrong_event", f"{type(update).__name__} on prices")
        key = update.key.encode()
        known = self.books.get(key)
        if not isinstance(known, PriceUpdate) or (update.ts_us, update.sequence) > (known.ts_us, known.sequence):
            self.books[key] = update  # out-of-order or replayed snapshots never overwrite newer ones
        return []

    def book_for(self, symbol: str, now_us: int) -> ConsolidatedBook:
        updates = [self.books.get(f"{venue.value}:{symbol}".encode()) for venue in VENUES]
        return ConsolidatedBook(symbol, [u for u in updates if isinstance(u, PriceUpdate)], now_us,
                                self.settings.quote.stale_book_ms)

    async def on_rfq(self, rfq: Event) -> list[Event]:
        if not isinstance(rfq, Rfq):
            raise RejectedError("wrong_event", f"{type(rfq).__name__} on rfq")
        validate_rfq(rfq)
        self.ids.rebase(rfq.event_id)
        if rfq.symbol not in self.settings.symbols:
            refusal = PricingRefusal(rfq, RejectReason.UNKNOWN_SYMBOL,
                                     f"{rfq.symbol!r} not quoted; the desk quotes {', '.join(self.settings.symbols)}")
            raise RejectedError("unknown_symbol", refusal.detail, replies=(to_event(refusal, self.ids, rfq.ts_us),))
        priced = price_rfq(rfq, self.book_for(rfq.symbol, rfq.ts_us))
        return [to_event(priced, self.ids, rfq.ts_us)]


def build(settings: Settings | None = None) -> Stage:
    return Aggregator(settings or get_settings()).stage
