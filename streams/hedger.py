"""Hedger stage: booked trades -> TWAP child orders on `orders`, driven by fills and venue reports.

- `prices` -> the books per venue:symbol (`streams.books`): every worker routes on every venue.
- `trades` -> one `HedgeTracker` per deal (`otcdesk.hedging`): a TWAP planned on the books as of
  the trade, each clip routed when its time comes.
- `fills` and the venues' final reports on `orders` (source `venue:*`) -> the tracker: the desk's
  updated view of the order (PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED) goes back to
  `orders`, and quantity that came back (IOC remainder, reject) is routed again at the report's
  time.
- one timer per open hedge, at its next wake time (`HedgeTracker.wake_us`: the next clip or
  returned quantity due, or the moment an unanswered order's venue is to be asked about it):
  every routing happens at its own event time on the books as of that time, so a session routes
  the same way in every run. Asking about an order sends it again unchanged (the venue answers
  with its report); only the venue's report returns quantity, never a timeout.

In stream time the venue simulator only answers the hedger's orders, so the two watch each other
as reactive producers (`otcdesk.streamtime.frontier`): the hedger waits for the venue only while
an order of its own can still be answered.

Every plan draws its jitter from `derived_rng(seed, "hedge:<trade_id>")` and the tracker's ids
are content-derived (uuid5), so a plan and its orders are reproducible. Trades, fills and orders
are keyed by rfq_id and co-partitioned. Restart: the trackers are rebuilt by reading the inputs
from the first offset; the desk's own orders read back are taken as sent (`HedgeTracker.recorded`:
a routing replayed live, on other books than the first time, re-sends the order it sent then).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from otcdesk.errors import RejectedError
from otcdesk.events import Event, Fill, HedgeOrder, TradeBooked, Venue
from otcdesk.hedging import SOURCE, HedgeTracker, hedge_lot, plan_twap
from otcdesk.ids import derived_rng
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings, get_settings
from otcdesk.streamtime.frontier import Reactive
from otcdesk.venue_sim import MIN_LATENCY_US, answer_us, is_venue_report
from otcdesk.venues.providers import offline_instruments
from streams.books import BookTable
from streams.processor import TimerCallback
from streams.stage import Stage

log = logging.getLogger(__name__)

TRADES_RANK, FILLS_RANK, REPORTS_RANK, WAKE_RANK = 1, 2, 3, 4
Instruments = Mapping[tuple[Venue, str], Instrument]


class HedgerStage:
    def __init__(self, settings: Settings, instruments: Instruments | None = None) -> None:
        self.settings = settings = settings.with_timeout_floor()
        self.instruments = dict(instruments if instruments is not None else offline_instruments())
        self.stage = Stage("hedger", settings, outputs=("orders",))
        self.books = BookTable(self.stage)
        self.trackers: dict[str, HedgeTracker] = {}  # hedges in flight, by rfq_id
        self.done: set[str] = set()  # finished hedges: a redelivered trade is not hedged twice
        self.recorded: dict[str, HedgeOrder] = {}  # the desk's own orders read back, by order id
        # In a simulated session the venue simulator only answers the hedger's orders, at their
        # seeded arrival: stream time of the pair (otcdesk.streamtime.frontier, reactive producers).
        venue = Reactive("orders", lambda order: answer_us(order, settings.venue_sim, settings.seed), MIN_LATENCY_US)
        self.stage.consume("trades", {TradeBooked: self.on_trade}, rank=TRADES_RANK, waits_for=("acceptance",))
        self.stage.consume("fills", {Fill: self.on_fill}, rank=FILLS_RANK, waits_for=("venue-sim",), reactive=venue)
        self.stage.consume(
            "orders", {HedgeOrder: self.on_order}, rank=REPORTS_RANK, waits_for=("venue-sim",), reactive=venue
        )

    async def on_trade(self, trade: TradeBooked) -> list[Event]:
        if trade.rfq_id in self.trackers or trade.rfq_id in self.done:
            return []  # a redelivery: the hedge is under way
        tracker = self._plan(trade)
        tracker.recorded = self.recorded
        self.trackers[trade.rfq_id] = tracker
        self._schedule(tracker)
        return []

    def _plan(self, trade: TradeBooked) -> HedgeTracker:
        if trade.qty_base <= 0:
            raise RejectedError("non_positive_qty_base", f"trade {trade.trade_id} qty {trade.qty_base}")
        try:
            hedge_lot(trade.symbol, self.instruments)
        except KeyError as exc:
            raise RejectedError("unknown_symbol", f"no venue lists {trade.symbol!r}") from exc
        rng = derived_rng(self.settings.seed, f"hedge:{trade.trade_id}")
        plan = plan_twap(
            trade, self.books.books_for(trade.symbol), self.instruments, self.settings.hedge, rng, trade.ts_us
        )
        log.info(
            "hedging %s %s %s: %d clips over %s s",
            trade.side,
            trade.qty_base,
            trade.symbol,
            len(plan.clips),
            plan.horizon_s,
        )
        return HedgeTracker(trade, plan, self.instruments, self.settings.hedge)

    async def on_fill(self, fill: Fill) -> list[Event]:
        tracker = self.trackers.get(fill.rfq_id)
        if tracker is None:
            return []  # not a hedge of this worker's, or finished
        update = tracker.on_fill(fill)
        self._schedule(tracker)
        return [update] if update is not None else []

    async def on_order(self, order: HedgeOrder) -> list[Event]:
        if not is_venue_report(order):
            if order.source == SOURCE:
                self._record(order)
            return []
        tracker = self.trackers.get(order.rfq_id)
        if tracker is None:
            return []
        update = tracker.on_venue_report(order)
        self._schedule(tracker)
        return [update] if update is not None else []

    def _record(self, order: HedgeOrder) -> None:
        """One of the desk's own orders, read back. Live, a restarted hedger plans a trade again on
        the books it has now: if that plan is not the one the order was sent on, the hedge is left
        as it is (recon reports what it lacks) rather than routed a second time."""
        self.recorded.setdefault(order.order_id, order)
        tracker = self.trackers.get(order.rfq_id)
        if tracker is not None and order.clip_count != len(tracker.plan.clips):
            log.warning(
                "hedge of %s not resumed: planned %d clips, its orders were sent on %d",
                order.rfq_id,
                len(tracker.plan.clips),
                order.clip_count,
            )
            del self.trackers[order.rfq_id]
            self.done.add(order.rfq_id)
            self.stage.cancel(f"hedge:{order.rfq_id}")

    def _schedule(self, tracker: HedgeTracker) -> None:
        """After any change to a hedge: retire it when done, else file its next wake time."""
        rfq_id = tracker.trade.rfq_id
        if tracker.progress().done:
            if self.trackers.pop(rfq_id, None) is not None:
                log.info("hedge of %s done", rfq_id)
            self.done.add(rfq_id)
            self.stage.cancel(f"hedge:{rfq_id}")
            return
        wake_us = tracker.wake_us()
        if wake_us is None:
            self.stage.cancel(f"hedge:{rfq_id}")  # waits for fills and reports
        else:
            self.stage.at(max(wake_us, self.stage.now_us()), f"hedge:{rfq_id}", self._wake(rfq_id), rank=WAKE_RANK)

    def _wake(self, rfq_id: str) -> TimerCallback:
        async def wake(now_us: int) -> list[Event]:
            tracker = self.trackers.get(rfq_id)
            if tracker is None:
                return []
            for asked in tracker.expire(now_us):  # the question is the order as sent, sent again
                await self.stage.emit(asked, resend=True)
            out: list[Event] = []
            books = self.books.books_for(tracker.trade.symbol)
            while (due := tracker.pop_due(now_us)) is not None:
                out += tracker.route(due, books)
            self._schedule(tracker)
            return out

        return wake


def build(settings: Settings | None = None) -> Stage:
    return HedgerStage(settings or get_settings()).stage
