"""Price aggregator stage: the consolidated book of the four venues, and every RFQ priced on it.

- `prices` -> the books per venue:symbol (`streams.books`: every partition, so any worker can
  price any RFQ);
- `rfq` -> `rfq-priced`: the RFQ's VWAP for its full size on both sides, after venue fees, with
  stale/crossed venues excluded, on the books as of the RFQ's event time (`otcdesk.pricing`).
  In stream time an RFQ at t is priced once the feed's watermark has passed t: every venue's
  snapshot up to t is in.

Live, an RFQ is priced at its arrival on the desk clock, not at the `ts_us` its sender stamped:
a person's or another program's clock is not the desk's (a session paced faster than the wall
runs hours ahead of it), and a quote's validity must start when the desk prices it. A book may
then lag the desk clock by `quote.live_book_lag_ms` of wall time on top of `stale_book_ms`: the
way from the feed to this stage takes wall time, which a paced desk clock multiplies.

An RFQ that breaks the contract (bad size, side or id) is dead-lettered; one for a symbol the
desk does not quote is dead-lettered too, and its refusal still goes to the quote engine so the
client gets an UNKNOWN_SYMBOL reject. The same RFQ again (same event id) is not priced again:
its answer stands (`Stage` deduplicates inputs). A different RFQ under an rfq_id already answered
is dead-lettered `duplicate_rfq_id`: an rfq_id names one deal, and the first one keeps it.
"""

from __future__ import annotations

from otcdesk.client_sim import SESSION_RFQ_SOURCE
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


class Aggregator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("aggregator", settings, outputs=("rfq-priced",))
        self.books = BookTable(self.stage)
        self.ids = CausalIds()
        self.levels = LevelCache()
        self.answered: dict[str, str] = {}  # rfq_id -> event id of the RFQ answered under it
        lag_ms = 0 if settings.time == "stream" else settings.quote.live_book_lag_ms * settings.sim_speed
        self.stale_book_ms = settings.quote.stale_book_ms + int(lag_ms)
        self.stage.consume("rfq", {Rfq: self.on_rfq}, rank=RFQ_RANK, waits_for=(SESSION_RFQ_SOURCE,))

    def book_for(self, symbol: str, now_us: int) -> ConsolidatedBook:
        return ConsolidatedBook(
            symbol, list(self.books.books_for(symbol).values()), now_us, self.stale_book_ms, self.levels
        )

    async def on_rfq(self, rfq: Rfq) -> list[Event]:
        validate_rfq(rfq)
        first = self.answered.setdefault(rfq.rfq_id, rfq.event_id)
        if first != rfq.event_id:
            raise RejectedError("duplicate_rfq_id", f"rfq_id {rfq.rfq_id} was answered for RFQ event {first}")
        self.ids.rebase(rfq.event_id)
        at_us = self.stage.now_us()  # stream time: the RFQ's own time; live: its arrival on the desk clock
        if rfq.symbol not in self.settings.symbols:
            refusal = PricingRefusal(
                rfq,
                RejectReason.UNKNOWN_SYMBOL,
                f"{rfq.symbol!r} not quoted; the desk quotes {', '.join(self.settings.symbols)}",
            )
            raise RejectedError("unknown_symbol", refusal.detail, replies=(to_event(refusal, self.ids, at_us),))
        priced = price_rfq(rfq, self.book_for(rfq.symbol, at_us))
        return [to_event(priced, self.ids, at_us)]


def build(settings: Settings | None = None) -> Stage:
    return Aggregator(settings or get_settings()).stage
