"""Quote engine stage: `rfq-priced` -> `quotes` (a firm two-way Quote, or a QuoteRejected).

The spread terms, size and credit checks live in `otcdesk.quoting`; this module feeds them. The
desk's inventory (for the skew) and each client's open exposure (for credit) are sums over all
deals, so every worker folds the whole `trades`, `fills` and `settlements` topics into them from
the first offset (`streams.fold`), and waits for the folds to catch up before its first quote.
The volatility term is the realised volatility of the mids of the RFQs priced so far: a fold of
`rfq-priced` too, so a restarted worker (or a second one) knows the mids of RFQs it did not
quote itself (observing a mid twice changes nothing).
"""

from __future__ import annotations

import asyncio

from otcdesk.errors import RejectedError
from otcdesk.events import Event, Fill, RfqPriced, SettlementState, SettlementUpdated, TradeBooked, TransferDirection
from otcdesk.ids import CausalIds
from otcdesk.pricing_wire import from_event
from otcdesk.quoting import QuoteEngine
from otcdesk.settings import Settings, get_settings
from streams.fold import TopicFold
from streams.stage import Stage


class QuoteEngineStage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stage = Stage("quote-engine", settings)
        self.ids = CausalIds()
        self.engine = QuoteEngine(settings.quote, settings.clients, self.ids, symbols=settings.symbols)
        self.folds = [TopicFold(settings, topic, self.fold) for topic in ("trades", "fills", "settlements", "rfq-priced")]
        for fold in self.folds:
            self.stage.app.task(self._runner(fold))
        self.stage.ready_after(*(fold.caught_up for fold in self.folds))
        self.stage.agent("rfq-priced", self.on_priced)

    @staticmethod
    def _runner(fold: TopicFold):  # noqa: ANN205 - a faust task factory
        async def run_fold() -> None:
            await fold.run()

        run_fold.__name__ = f"fold_{fold.topic}"
        return run_fold

    def fold(self, event: Event) -> None:
        """Desk-wide state from the lifecycle topics (idempotent: the cores dedup by id)."""
        if isinstance(event, TradeBooked):
            self.engine.inventory.apply_trade(event)
            self.engine.credit.apply_trade(event)
        elif isinstance(event, Fill):
            self.engine.inventory.apply_fill(event)
        elif (isinstance(event, SettlementUpdated) and event.state is SettlementState.SETTLED
              and event.direction is TransferDirection.CLIENT_TO_DESK):
            self.engine.credit.release(event.trade_id, event.ts_us)  # the client has paid: exposure gone
        elif isinstance(event, RfqPriced) and event.refusal_reason is None and event.mid_price_quote is not None:
            self.engine.volatility.observe(event.symbol, event.priced_at_us, event.mid_price_quote)

    async def on_priced(self, priced: Event) -> list[Event]:
        if not isinstance(priced, RfqPriced):
            raise RejectedError("wrong_event", f"{type(priced).__name__} on rfq-priced")
        if not all(fold.caught_up.is_set() for fold in self.folds):  # after start-up: no tasks, no loop turns
            await asyncio.gather(*(fold.caught_up.wait() for fold in self.folds))
        self.ids.rebase(priced.event_id)
        return [self.engine.quote(from_event(priced), priced.priced_at_us)]


def build(settings: Settings | None = None) -> Stage:
    return QuoteEngineStage(settings or get_settings()).stage
