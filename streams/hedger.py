"""Hedger stage: booked trades -> TWAP child orders on `orders`, driven by fills and venue reports.

- `prices` -> a GlobalTable of the latest book per venue:symbol (as the aggregator keeps it):
  every worker routes on every venue's book.
- `trades` -> one `HedgeTracker` per deal (`otcdesk.hedging`): a TWAP planned on the books of the
  moment, its first clip routed and sent at once (HedgeOrder, state WORKING, source `hedger`).
- `fills` and the venues' final reports on `orders` (source `venue:*`) -> the tracker: the desk's
  updated view of the order (PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED) goes back to `orders`,
  and quantity that came back (IOC remainder, reject) is re-routed at once.
- a timer (every `TICK_S` wall seconds) releases the clips whose time came on the desk clock
  (sim time) and cancels orders no venue answered within `hedge.order_timeout_ms` (sim ms, never
  less than `timeout_floor_wall_ms` of wall time).
- every routing happens at an event time (the clip's `send_at_us`, the venue report that returned
  quantity) on the books as of that time (`BookTable.books_at`), independently of the others, so
  a simulated session routes the same way in every run.

Every plan draws its jitter from `derived_rng(seed, "hedge:<trade_id>")` and the tracker's ids
are content-derived (uuid5), so a plan and its orders are reproducible. Trades, fills and orders are keyed by rfq_id and co-partitioned, so the worker
owning a deal's partition sees all of its events.

Restart: the trackers live in memory. A restarted hedger does not resume the hedges in flight
(it does not re-plan them either, which would send their clips twice): their remaining clips are
lost and recon reports them under-hedged at the deal timeout. Keeping trackers in a changelog
Table is the next step (see docs/back-office.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from otcdesk.errors import RejectedError
from otcdesk.events import Event, Fill, HedgeOrder, TradeBooked, Venue
from otcdesk.hedging import HedgeTracker, hedge_lot, plan_twap
from otcdesk.ids import derived_rng
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings, get_settings
from otcdesk.venue_sim import is_venue_report
from streams.books import BookTable
from streams.stage import Stage

log = logging.getLogger(__name__)

TICK_S = 0.05  # wall seconds between clip releases / timeout checks
Instruments = Mapping[tuple[Venue, str], Instrument]


def load_instruments() -> dict[tuple[Venue, str], Instrument]:
    """Tick, lot, minimum and fees of every venue, through ccxt on the repo's fixtures."""
    from otcdesk.venues.providers import offline_instruments

    return offline_instruments()


class HedgerStage:
    def __init__(self, settings: Settings, instruments: Instruments | None = None) -> None:
        self.settings = settings = settings.with_timeout_floor()
        self.clock: Any = settings.clock()
        self.instruments = dict(instruments if instruments is not None else load_instruments())
        self.stage = Stage("hedger", settings)
        self.books = BookTable(self.stage)
        self.trackers: dict[str, HedgeTracker] = {}  # hedges in flight, by rfq_id
        self.done: set[str] = set()  # finished hedges: a redelivered trade is not hedged twice
        self.stage.agent("trades", self.on_trade)
        self.stage.agent("fills", self.on_fill)
        self.stage.agent("orders", self.on_order)
        self.stage.app.timer(TICK_S)(self.tick)

    async def on_trade(self, trade: Event) -> list[Event]:
        if not isinstance(trade, TradeBooked):
            raise RejectedError("wrong_event", f"{type(trade).__name__} on trades")
        if trade.rfq_id in self.trackers or trade.rfq_id in self.done:
            return []  # a redelivery: the hedge is already under way
        if trade.qty_base <= 0:
            raise RejectedError("non_positive_qty_base", f"trade {trade.trade_id} qty {trade.qty_base}")
        try:
            hedge_lot(trade.symbol, self.instruments)
        except KeyError as exc:
            raise RejectedError("unknown_symbol", f"no venue lists {trade.symbol!r}") from exc
        books = await self.books.books_at(trade.symbol, trade.ts_us)
        rng = derived_rng(self.settings.seed, f"hedge:{trade.trade_id}")
        plan = plan_twap(trade, books, self.instruments, self.settings.hedge, rng, trade.ts_us)
        tracker = HedgeTracker(trade, plan, self.instruments, self.settings.hedge)
        self.trackers[trade.rfq_id] = tracker
        log.info("hedging %s %s %s: %d clips over %s s", trade.side, trade.qty_base, trade.symbol,
                 len(plan.clips), plan.horizon_s)
        return await self._advance(tracker, max(self.clock.now_us(), trade.ts_us))  # the first clip goes at once

    async def on_fill(self, fill: Event) -> list[Event]:
        if not isinstance(fill, Fill):
            raise RejectedError("wrong_event", f"{type(fill).__name__} on fills")
        tracker = self.trackers.get(fill.rfq_id)
        if tracker is None:
            return []  # not a hedge of this worker's (or lost in a restart)
        update = tracker.on_fill(fill)
        return ([update] if update is not None else []) + await self._advance(tracker, self.clock.now_us())

    async def on_order(self, order: Event) -> list[Event]:
        if not isinstance(order, HedgeOrder):
            raise RejectedError("wrong_event", f"{type(order).__name__} on orders")
        if not is_venue_report(order):
            return []  # our own order events
        tracker = self.trackers.get(order.rfq_id)
        if tracker is None:
            return []
        update = tracker.on_venue_report(order)
        return ([update] if update is not None else []) + await self._advance(tracker, self.clock.now_us())

    async def _advance(self, tracker: HedgeTracker, now_us: int) -> list[Event]:
        """Route what is due by `now_us`, each routing at its own event time on the books as of then.

        One wait for the feed to pass `now_us` covers every routing due by then (a wait per
        routing would cost a feed step each, and a tick has hundreds at 600x).
        """
        at_us = tracker.next_action_us()
        if at_us is None or at_us > now_us:
            return []
        symbol = tracker.trade.symbol
        await self.books.wait_past(symbol, now_us)
        out: list[Event] = []
        while (due := tracker.pop_due(now_us)) is not None:
            out += tracker.route(due, self.books.books_as_of(symbol, due.at_us))
        return out

    async def tick(self) -> None:
        """Release due clips and cancel unanswered orders (desk clock, sim time)."""
        now_us = self.clock.now_us()
        for rfq_id, tracker in list(self.trackers.items()):
            try:
                out: list[Event] = list(tracker.expire(now_us))
                out += await self._advance(tracker, now_us)
                for event in out:
                    await self.stage.send(event)
            except Exception:  # noqa: BLE001 - one deal's failure must not stop the others' clips
                log.exception("hedge of %s failed at tick", rfq_id)
            if tracker.progress().done:
                del self.trackers[rfq_id]
                self.done.add(rfq_id)
                log.info("hedge of %s done", rfq_id)


def build(settings: Settings | None = None) -> Stage:
    return HedgerStage(settings or get_settings()).stage
