"""Client acceptance stage: quotes and client responses on `quotes` -> trades on `trades`.

A client's acceptance is fill-or-kill against its quote (`otcdesk.acceptance`): an accepted
quote becomes a TradeBooked with the locked price (the desk's internal booking); a refused one
(expired, unknown, already accepted, wrong client/side/price/qty) gets a typed answer on
`quotes`, a QuoteRejected with the reason code, as an LP's RFQ API answers an execution request.
Only a response the desk cannot read (undecodable, or breaking the schema's rules) is a dead
letter. A quote nobody answers expires with a QuoteRejected(QUOTE_EXPIRED) stamped the first
microsecond after `valid_until`, from a timer at that instant: in stream time it fires once the
quote engine and the simulated clients have passed it, so every answer given in time is in.

Live, a response is judged at its arrival on the desk clock (its sender's clock is not the
desk's), and `quote.expiry_grace_ms` of wall time past `valid_until` is still in time: the
network between a client's click and the desk. The expiry timer waits as long. The same response
again (same event id) is not judged again (`Stage` deduplicates inputs): its answer stands.

Quote, response and outcome of a deal share the rfq_id key and so one partition of `quotes`. A
restarted worker rebuilds its quotes and outcomes by reading `quotes` from the first offset (its
own expiries and refusals included) before it handles anything new.
"""

from __future__ import annotations

from otcdesk.acceptance import QuoteBook
from otcdesk.events import Event, Quote, QuoteRejected, QuoteResponse, RejectReason
from otcdesk.ids import CausalIds
from otcdesk.settings import Settings, get_settings
from otcdesk.validation import validate_response
from streams.processor import TimerCallback
from streams.stage import Stage

QUOTES_RANK, EXPIRY_RANK = 0, 1
SOURCE = "acceptance"


class AcceptanceStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("acceptance", settings, outputs=("trades", "quotes"))
        self.ids = CausalIds()
        self.book = QuoteBook(settings.quote, self.ids, source=SOURCE)
        live = settings.time != "stream"
        self.grace_us = int(settings.quote.expiry_grace_ms * 1000 * settings.sim_speed) if live else 0
        self.stage.consume(
            "quotes",
            {Quote: self.on_quote, QuoteRejected: self.on_rejected, QuoteResponse: self.on_response},
            rank=QUOTES_RANK,
            waits_for=("quote-engine", "client-sim"),
        )

    async def on_quote(self, quote: Quote) -> list[Event]:
        self.book.add(quote)
        self.stage.at(
            quote.valid_until_us + 1 + self.grace_us,
            f"expire:{quote.quote_id}",
            self._expire(quote.quote_id),
            rank=EXPIRY_RANK,
        )
        return []

    async def on_rejected(self, rejected: QuoteRejected) -> list[Event]:
        if rejected.source == SOURCE and rejected.reason is RejectReason.QUOTE_EXPIRED and rejected.quote_id:
            self.book.expire_quote(rejected.quote_id)  # our own expiry, read back: the quote is over
        return []

    async def on_response(self, response: QuoteResponse) -> list[Event]:
        validate_response(response)
        self.ids.rebase(response.event_id)
        # Stream time: the response's own time; live: its arrival on the desk clock.
        result = self.book.accept(response, self.stage.now_us(), grace_us=self.grace_us)
        return [] if result is None else [result]  # a decline is its own outcome

    def _expire(self, quote_id: str) -> TimerCallback:
        async def expire(_due_us: int) -> list[Event]:
            self.ids.rebase(f"expire:{quote_id}")
            expired = self.book.expire_quote(quote_id)
            return [expired] if expired is not None else []

        return expire


def build(settings: Settings | None = None) -> Stage:
    return AcceptanceStage(settings or get_settings()).stage
