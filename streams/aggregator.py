"""Price aggregator stage: the consolidated book of the four venues, and every RFQ priced on it.

- `prices` -> the books per venue:symbol (`streams.books`: every partition, so any worker can
  price any RFQ);
- `rfq` -> `rfq-priced`: the RFQ's VWAP for its full size on both sides, after venue fees, with
  stale/crossed venues excluded, on the books as of the RFQ's event time (`otcdesk.pricing`).
  In stream time an RFQ at t is priced once the feed's watermark has passed t: every venue's
  snapshot up to t is in.

An RFQ that breaks the contract (bad size, side or id) is dead-lettered; one for a symbol the
desk does not quote is dead-lettered too, and its refusal still goes to the quote engine so the
client gets an UNKNOWN_SYMBOL reject.
"""

from __future__ import annotations

from otcdesk.errors import RejectedError
from otcdesk.events import Event, RejectReason, Rfq
from otcdesk.ids import CausalIds
from otcdesk.pricing import ConsolidatedBook, LevelCache, PricingRefusal, price_rfq
from otcdesk.pricing_wire import to_event
from otcdesk.settings import Settings, get_settings
from otcdesk.validation import validate_rfq
from streams.books import BookTable
from streams.stage import Stage

RFQ_RANK = 1  # after the books of the same instant
#: Who publishes RFQs in a simulated session (`otcdesk simulate`).
RFQ_SOURCE = "simulate"


class Aggregator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("aggregator", settings, outputs=("rfq-priced",))
        self.books = BookTable(self.stage)
        self.ids = CausalIds()
        self.levels = LevelCache()
        self.stage.consume("rfq", self.on_rfq, rank=RFQ_RANK, waits_for=(RFQ_SOURCE,))

    def book_for(self, symbol: str, now_us: int) -> ConsolidatedBook:
        return ConsolidatedBook(symbol, list(self.books.books_for(symbol).values()), now_us,
                                self.settings.quote.stale_book_ms, self.levels)

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
