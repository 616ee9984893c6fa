"""Quote engine stage: `rfq-priced` -> `quotes` (a firm two-way Quote, or a QuoteRejected).

The spread terms, size and credit checks live in `otcdesk.quoting`; this module feeds them. The
desk's inventory (for the skew) and each client's open exposure (for credit) are sums over all
deals, so every worker folds all partitions of `trades`, `fills` and `settlements` into them
(`Stage.fold`). They are inputs of rank 1, after the priced RFQs (rank 0): in stream time an RFQ
at t is quoted on the state of everything before t, once the acceptance, the venue simulator
and the settlement stage have all passed t. The volatility term is the realised volatility of the
mids of the RFQs quoted so far (observed by `QuoteEngine.quote`); a restarted worker rebuilds
all of it by reading its inputs from the first offset. A quote is valid for `quote.ttl_ms` from
the instant it was priced: event time in a simulated session, wall time live (`ttl_us`).
"""

from __future__ import annotations

from otcdesk.events import (
    Event,
    Fill,
    Quote,
    RfqPriced,
    SettlementState,
    SettlementUpdated,
    TradeBooked,
    TransferDirection,
)
from otcdesk.ids import CausalIds
from otcdesk.metrics import QUOTE_LATENCY
from otcdesk.pricing_wire import from_event
from otcdesk.quoting import QuoteEngine
from otcdesk.settings import Settings, get_settings
from streams.stage import Stage

PRICED_RANK, STATE_RANK = 0, 1
#: The desk-wide state and who writes it.
STATE_TOPICS = (("trades", "acceptance"), ("fills", "venue-sim"), ("settlements", "settlement"))


class QuoteEngineStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("quote-engine", settings, outputs=("quotes",))
        self.ids = CausalIds()
        self.engine = QuoteEngine(
            settings.quote, settings.clients, self.ids, symbols=settings.symbols, ttl_us=ttl_us(settings)
        )
        for topic, producer in STATE_TOPICS:
            self.stage.fold(topic, self.fold, rank=STATE_RANK, waits_for=(producer,))
        self.stage.consume("rfq-priced", {RfqPriced: self.on_priced}, rank=PRICED_RANK, waits_for=("aggregator",))

    def fold(self, event: Event) -> None:
        """Desk-wide state from the lifecycle topics (idempotent: the cores dedup by id)."""
        if isinstance(event, TradeBooked):
            self.engine.inventory.apply_trade(event)
            self.engine.credit.apply_trade(event)
        elif isinstance(event, Fill):
            self.engine.inventory.apply_fill(event)
        elif (
            isinstance(event, SettlementUpdated)
            and event.state is SettlementState.SETTLED
            and event.direction is TransferDirection.CLIENT_TO_DESK
        ):
            self.engine.credit.release(event.trade_id, event.ts_us)  # the client has paid: exposure gone

    async def on_priced(self, priced: RfqPriced) -> list[Event]:
        self.ids.rebase(priced.event_id)
        answer = self.engine.quote(from_event(priced), priced.priced_at_us)
        if isinstance(answer, Quote) and not self.stage.sent_before(answer.event_id):
            # Desk time (the stage's processing time), never the wall: in a simulated session it
            # is the event time of the priced RFQ being handled, live the desk clock.
            QUOTE_LATENCY.observe(max(self.stage.now_us() - priced.rfq_ts_us, 0) / 1e6)
        return [answer]


def ttl_us(settings: Settings) -> int:
    """A firm quote's lifetime on the desk clock. Live, `quote.ttl_ms` is wall time, the clock of
    the person or program that answers: a desk paced `sim_speed` times faster than the wall
    gives as many wall seconds to accept at any speed. In stream time it is event time."""
    scale = 1.0 if settings.time == "stream" else settings.sim_speed
    return int(settings.quote.ttl_ms * 1000 * scale)


def build(settings: Settings | None = None) -> Stage:
    return QuoteEngineStage(settings or get_settings()).stage
