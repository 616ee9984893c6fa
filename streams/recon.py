"""Reconciliation stage: trades, hedge orders, fills and settlements of a deal -> ReconResult on `recon`.

All four topics are keyed by rfq_id and co-partitioned, so one worker sees every event of a deal
and folds them into a `ReconState` (`otcdesk.recon`: any order, duplicates dropped by event_id).

When a result is emitted:
- once the deal is complete (trade booked, hedge filled or closed, both legs terminal), or as
  soon as a break is known: the first result (revision 1);
- again, with the next revision, whenever later data changes the outcome (status, breaks, hedged
  quantity, fees, P&L); a redelivered event changes nothing and emits nothing;
- from a timer (every `TICK_S` wall seconds) at the desk clock's time, for deals still open past
  `recon.fill_timeout_s` (orders no venue answered) or `recon.deal_timeout_s` (whatever is missing
  becomes a break).

A deal that got events is judged at event time (the latest ts_us of its events), coalesced every
`FLUSH_S` wall seconds, so the result of a replay is the same as the original's; only the
timeout timer judges at the desk clock.
A result's event_id is uuid5(rfq_id, revision) (`otcdesk.recon.reconcile`).

Restart: the deals' states are in memory, rebuilt at start from the four topics and from `recon`
(its own results, for the last revision of each deal) read from their first offsets to their
end offsets of that moment (`TopicFold(once=True)`); nothing is judged before that. A restarted
recon therefore judges every deal on all of its events and sends nothing it had already sent
(the first judgement of a rebuilt deal equals its last result). One recon worker: the rebuild
reads every partition, so two workers would each judge every deal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from otcdesk.errors import RejectedError
from otcdesk.events import Event, Fill, HedgeOrder, ReconResult, ReconStatus, SettlementUpdated, TradeBooked
from otcdesk.instruments import Instrument
from otcdesk.recon import ReconState, assess, reconcile
from otcdesk.settings import Settings, get_settings
from streams.fold import TopicFold
from streams.hedger import load_instruments
from streams.stage import Stage

log = logging.getLogger(__name__)

TICK_S = 1.0  # wall seconds between timeout checks
FLUSH_S = 0.2  # wall seconds between judgements of the deals that got events
US_PER_S = 1_000_000
EXPECTED = {"trades": TradeBooked, "orders": HedgeOrder, "fills": Fill, "settlements": SettlementUpdated}


def _outcome(result: ReconResult) -> tuple[object, ...]:
    return (result.status, result.breaks, result.hedged_qty_base, result.avg_fill_price_quote,
            result.fees_quote, result.pnl_quote)


class ReconStage:
    def __init__(self, settings: Settings, instruments: Mapping[Any, Instrument] | None = None, *,
                 rebuild: bool = True) -> None:
        self.settings = settings = settings.with_timeout_floor()
        self.clock: Any = settings.clock()
        self.instruments = dict(instruments if instruments is not None else load_instruments())
        self.stage = Stage("recon", settings)
        self.deals: dict[str, ReconState] = {}
        self.latest_us: dict[str, int] = {}  # event time of each deal: its latest ts_us
        self.dirty: set[str] = set()  # deals with events not judged yet
        self.rebuilt = asyncio.Event()  # nothing is judged before the deals are rebuilt
        if rebuild:
            self._folds = [TopicFold(settings, topic, self._restore, once=True) for topic in (*EXPECTED, "recon")]
            self.stage.app.task(self._rebuild)
        else:
            self.rebuilt.set()
        self.stage.ready_after(self.rebuilt)
        for topic, kind in EXPECTED.items():
            self.stage.agent(topic, self._handler(topic, kind))
        self.stage.app.timer(TICK_S)(self.tick)
        self.stage.app.timer(FLUSH_S)(self.flush)

    def _handler(self, topic: str, kind: type):  # noqa: ANN202 - a Stage handler
        async def on_event(event: Event) -> list[Event]:
            if not isinstance(event, kind):
                raise RejectedError("wrong_event", f"{type(event).__name__} on {topic}")
            return self.on_event(event)

        return on_event

    def on_event(self, event: TradeBooked | HedgeOrder | Fill | SettlementUpdated) -> list[Event]:
        state = self.deals.setdefault(event.rfq_id, ReconState(event.rfq_id))
        if not state.add(event):
            return []  # a redelivery
        self.latest_us[event.rfq_id] = max(self.latest_us.get(event.rfq_id, 0), event.ts_us)
        self.dirty.add(event.rfq_id)
        return []

    async def _rebuild(self) -> None:
        """Every deal's events and last result, from the topics' first offsets to their ends now.

        A restarted recon then judges a deal on all of its events (not only those after its
        committed offsets) and numbers its next result after the last one it sent; what the
        agents redeliver is dropped by event_id."""
        await asyncio.gather(*(fold.run() for fold in self._folds))
        self.dirty.update(self.deals)  # judged against the restored last result: unchanged, silent
        self.rebuilt.set()
        log.info("recon rebuilt %d deals", len(self.deals))

    def _restore(self, event: Event) -> None:
        if isinstance(event, ReconResult):
            state = self.deals.setdefault(event.rfq_id, ReconState(event.rfq_id))
            if event.revision > state.revision:
                state.revision, state.last = event.revision, event
        elif isinstance(event, (TradeBooked, HedgeOrder, Fill, SettlementUpdated)):
            self.on_event(event)

    async def flush(self) -> None:
        """Judge the deals that got events since the last flush, each at its event time.

        Coalesced on a short timer instead of once per event: a deal of a big hedge has hundreds
        of order and fill events, and judging the whole deal on each made recon quadratic in them
        (at 600x it fell minutes behind). The result after the deal's last event is the same.
        """
        if not self.rebuilt.is_set():
            return
        dirty, self.dirty = self.dirty, set()
        for rfq_id in sorted(dirty):
            result = self.evaluate(self.deals[rfq_id], self.latest_us[rfq_id], timer=False)
            if result is not None:
                await self.stage.send(result)

    def evaluate(self, state: ReconState, now_us: int, *, timer: bool) -> ReconResult | None:
        """The deal's next result if it is due and differs from the last one sent, else None."""
        trade = state.trade
        if trade is None:
            return None
        a = assess(trade, state.orders, state.fills, state.settlements, self.instruments, self.settings, now_us)
        if state.last is None and not (a.complete or a.breaks or (timer and a.timed_out)):
            return None  # still pending: nothing to say yet
        result = reconcile(trade, state.orders, state.fills, state.settlements, self.instruments, self.settings,
                           now_us, state.revision + 1)
        if state.last is not None and _outcome(result) == _outcome(state.last):
            return None
        state.revision, state.last = result.revision, result
        if result.status is not ReconStatus.MATCHED:
            log.info("deal %s %s (rev %d): %s", state.rfq_id, result.status, result.revision,
                     "; ".join(b.detail for b in result.breaks) or "incomplete")
        return result

    async def tick(self) -> None:
        """Judge open deals at the desk clock: unanswered orders and deal timeouts become breaks."""
        if not self.rebuilt.is_set():
            return
        await self.flush()  # event-time judgements first: a timeout must not pre-empt data already in
        now_us = self.clock.now_us()
        for state in list(self.deals.values()):
            last = state.last
            if last is not None and last.status is ReconStatus.MATCHED:
                continue  # only late data (an event) can change a matched deal
            result = self.evaluate(state, now_us, timer=True)
            if result is not None:
                await self.stage.send(result)


def build(settings: Settings | None = None) -> Stage:
    return ReconStage(settings or get_settings()).stage
