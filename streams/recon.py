"""Reconciliation stage: trades, hedge orders, fills and settlements of a deal -> ReconResult on `recon`.

All four topics are keyed by rfq_id and co-partitioned, so one worker sees every event of a deal
and folds them into a `ReconState` (`otcdesk.recon`: any order, duplicates dropped by event_id).

When a result is emitted (one timer per deal, rescheduled by its events):
- a deal with new events is judged at the end of the `recon.judge_every_ms` slot of event time
  they fell in (a burst of fills is judged once), and the result carries that instant;
- a deal not matched is judged again at its next deadline: an order without a report for
  `recon.fill_timeout_s`, or the deal open for `recon.deal_timeout_s` (whatever is missing then
  becomes a break);
- the first result once the deal is complete or a break is known (revision 1), then a new
  revision whenever the outcome changes (status, breaks, hedged quantity, fees, P&L).

A result's event_id is uuid5(rfq_id, revision) (`otcdesk.recon.reconcile`). Restart: the deals are
rebuilt by reading the four topics from the first offset and judged again at the same instants;
results already on `recon` are not sent again (`Stage`: known ids).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from otcdesk.events import Event, Fill, HedgeOrder, ReconResult, ReconStatus, SettlementUpdated, TradeBooked, Venue
from otcdesk.instruments import Instrument
from otcdesk.recon import DealEvent, ReconState, assess, next_deadline_us, reconcile
from otcdesk.settings import Settings, get_settings
from otcdesk.venues.providers import offline_instruments
from streams.processor import TimerCallback
from streams.stage import Stage

log = logging.getLogger(__name__)

#: input topic -> (event type, rank, producers)
INPUTS: dict[str, tuple[type[DealEvent], int, tuple[str, ...]]] = {
    "trades": (TradeBooked, 0, ("acceptance",)),
    "orders": (HedgeOrder, 1, ("hedger", "venue-sim")),
    "fills": (Fill, 2, ("venue-sim",)),
    "settlements": (SettlementUpdated, 3, ("settlement",)),
}
JUDGE_RANK = 4


def _outcome(result: ReconResult) -> tuple[object, ...]:
    return (
        result.status,
        result.breaks,
        result.hedged_qty_base,
        result.avg_fill_price_quote,
        result.fees_quote,
        result.pnl_quote,
    )


class ReconStage:
    def __init__(self, settings: Settings, instruments: Mapping[tuple[Venue, str], Instrument] | None = None) -> None:
        self.settings = settings = settings.with_timeout_floor()
        self.instruments = dict(instruments if instruments is not None else offline_instruments())
        # nobody waits for recon's watermark but the session runner, for its end
        self.stage = Stage("recon", settings, outputs=("recon",), watermark_every_s=0.5)
        self.deals: dict[str, ReconState] = {}
        self.slot_us = settings.recon.judge_every_ms * 1000
        for topic, (kind, rank, producers) in INPUTS.items():
            self.stage.consume(topic, {kind: self.on_event}, rank=rank, waits_for=producers)

    async def on_event(self, event: DealEvent) -> list[Event]:
        state = self.deals.setdefault(event.rfq_id, ReconState(event.rfq_id))
        if state.add(event):  # else a redelivery
            slot_end = -(-max(event.ts_us, self.stage.now_us()) // self.slot_us) * self.slot_us
            self.stage.at(slot_end, f"judge:{event.rfq_id}", self._judge(event.rfq_id), rank=JUDGE_RANK)
        return []

    def _judge(self, rfq_id: str) -> TimerCallback:
        async def judge(now_us: int) -> list[Event]:
            state = self.deals[rfq_id]
            result = self.evaluate(state, now_us)
            if state.trade is not None and (state.last is None or state.last.status is not ReconStatus.MATCHED):
                deadline = next_deadline_us(state.trade, state.orders, self.settings, now_us)
                if deadline is not None:
                    self.stage.at(deadline, f"judge:{rfq_id}", judge, rank=JUDGE_RANK)
            return [result] if result is not None else []

        return judge

    def evaluate(self, state: ReconState, now_us: int) -> ReconResult | None:
        """The deal's next result if it is due and differs from the last one sent, else None."""
        trade = state.trade
        if trade is None:
            return None
        a = assess(trade, state.orders, state.fills, state.settlements, self.instruments, self.settings, now_us)
        if state.last is None and not (a.complete or a.breaks or a.timed_out):
            return None  # still pending: nothing to say yet
        result = reconcile(
            trade,
            state.orders,
            state.fills,
            state.settlements,
            self.instruments,
            self.settings,
            now_us,
            state.revision + 1,
        )
        if state.last is not None and _outcome(result) == _outcome(state.last):
            return None
        state.revision, state.last = result.revision, result
        if result.status is not ReconStatus.MATCHED:
            log.info(
                "deal %s %s (rev %d): %s",
                state.rfq_id,
                result.status,
                result.revision,
                "; ".join(b.detail for b in result.breaks) or "incomplete",
            )
        return result


def build(settings: Settings | None = None) -> Stage:
    return ReconStage(settings or get_settings()).stage
