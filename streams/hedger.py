"""Hedger stage: booked trades -> TWAP child orders on `orders`, driven by fills and venue reports.

- `prices` -> a GlobalTable of the latest book per venue:symbol (as the aggregator keeps it):
  every worker routes on every venue's book.
- `trades` -> one `HedgeTracker` per deal (`otcdesk.hedging`): a TWAP planned on the books of the
  moment, its first clip routed and sent at once (HedgeOrder, state WORKING, source `hedger`).
- `fills` and the venues' final reports on `orders` (source `venue:*`) -> the tracker: the desk's
  updated view of the order (PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED) goes back to `orders`,
  and quantity that came back (IOC remainder, reject) is re-routed at once.
- a timer (every `TICK_S` wall seconds) releases the clips whose time came on the desk clock
  (sim time) and asks about orders no venue answered within `hedge.order_timeout_ms` (sim ms,
  never less than `timeout_floor_wall_ms` of wall time) by sending them again: only the venue's
  report returns quantity, never a timeout (a late fill on a re-routed rest is an over-hedge).
  The timer looks only at the hedges whose wake time came (`HedgeTracker.wake_us`, a heap kept
  up to date by every event of the hedge): walking every open hedge each tick cost a third of the
  stage's CPU with a few hundred hedges in flight and left its agents behind.
- every routing happens at an event time (the clip's `send_at_us`, the venue report that returned
  quantity) on the books as of that time (`BookTable.books_at`), independently of the others, so
  a simulated session routes the same way in every run.

Every plan draws its jitter from `derived_rng(seed, "hedge:<trade_id>")` and the tracker's ids
are content-derived (uuid5), so a plan and its orders are reproducible. Trades, fills and orders are keyed by rfq_id and co-partitioned, so the worker
owning a deal's partition sees all of its events.

Restart: the trackers are rebuilt at start, before any agent handles a record, from `trades`,
`orders` and `fills` read from offset 0 to their end offsets of that moment (`TopicFold(once=True)`,
as recon does): each trade is planned again (seed and books as of its time: the same plan) and its
routings replayed in event time between the fills and venue reports it got, an order the desk had
already sent being taken as sent (`HedgeTracker.recorded`). The events of a hedge still open are
sent again: the same ids, dropped downstream, and whatever the kill lost before it reached Kafka.
A finished hedge (every order answered, the trade filled) is not replayed. A trade whose plan
comes out different (its books older than the `prices` history read back) is not resumed: recon
flags what it lacks. One hedger worker: the rebuild reads every partition.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from otcdesk.errors import RejectedError
from otcdesk.events import Event, Fill, HedgeOrder, OrderState, TradeBooked, Venue
from otcdesk.hedging import HedgeTracker, floor_to, hedge_lot, plan_twap
from otcdesk.ids import derived_rng
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings, get_settings
from otcdesk.venue_sim import is_venue_report
from streams.books import BookTable
from streams.fold import TopicFold
from streams.stage import Stage

log = logging.getLogger(__name__)

TICK_S = 0.05  # wall seconds between clip releases / timeout checks
Instruments = Mapping[tuple[Venue, str], Instrument]


def load_instruments() -> dict[tuple[Venue, str], Instrument]:
    """Tick, lot, minimum and fees of every venue, through ccxt on the repo's fixtures."""
    from otcdesk.venues.providers import offline_instruments

    return offline_instruments()


@dataclass
class DealLog:
    """One deal's events read back at start: its trade, the desk's orders as sent, and the replies."""

    trade: TradeBooked | None = None
    sent: dict[str, HedgeOrder] = field(default_factory=dict)  # order id -> the desk's WORKING event
    replies: list[Fill | HedgeOrder] = field(default_factory=list)  # fills and venue reports, topic order

    def add(self, event: Event) -> None:
        if isinstance(event, TradeBooked):
            self.trade = self.trade or event
        elif isinstance(event, Fill) or (isinstance(event, HedgeOrder) and is_venue_report(event)):
            self.replies.append(event)
        elif isinstance(event, HedgeOrder) and event.filled_qty_base == 0 and event.state is OrderState.WORKING:
            self.sent.setdefault(event.order_id, event)

    def finished(self, lot: Decimal) -> bool:
        """Every order sent answered by its venue, and the venues filled the whole lot-floored trade."""
        reports = {r.order_id: r for r in self.replies if isinstance(r, HedgeOrder)}
        filled = sum((r.filled_qty_base for r in reports.values()), Decimal(0))
        return (self.trade is not None and bool(self.sent) and set(self.sent) <= set(reports)
                and filled >= floor_to(self.trade.qty_base, lot))

    def in_event_time(self) -> list[Fill | HedgeOrder]:
        """Replies by time, fills before the report of their instant (a stable sort keeps each
        topic's order: the fills of one order share a time)."""
        return sorted(self.replies, key=lambda e: (e.ts_us, isinstance(e, HedgeOrder)))


class HedgerStage:
    def __init__(self, settings: Settings, instruments: Instruments | None = None, *, rebuild: bool = True) -> None:
        self.settings = settings = settings.with_timeout_floor()
        self.clock: Any = settings.clock()
        self.instruments = dict(instruments if instruments is not None else load_instruments())
        self.stage = Stage("hedger", settings)
        self.books = BookTable(self.stage)
        self.trackers: dict[str, HedgeTracker] = {}  # hedges in flight, by rfq_id
        self._wakes: list[tuple[int, str]] = []  # heap of (wake_us, rfq_id); stale entries skipped
        self._wake_at: dict[str, int] = {}  # rfq_id -> its live entry's wake_us
        self.done: set[str] = set()  # finished hedges: a redelivered trade is not hedged twice
        self.rebuilt = asyncio.Event()  # no record is handled before the trackers are rebuilt
        self._logs: dict[str, DealLog] = {}
        if rebuild:
            self._folds = [TopicFold(settings, t, self.read_back, once=True) for t in ("trades", "orders", "fills")]
            self.stage.app.task(self._rebuild)
        else:
            self.rebuilt.set()
        self.stage.ready_after(self.rebuilt)
        self.stage.agent("trades", self.on_trade)
        self.stage.agent("fills", self.on_fill)
        self.stage.agent("orders", self.on_order)
        self.stage.app.timer(TICK_S)(self.tick)

    async def on_trade(self, trade: Event) -> list[Event]:
        if not isinstance(trade, TradeBooked):
            raise RejectedError("wrong_event", f"{type(trade).__name__} on trades")
        await self.rebuilt.wait()
        if trade.rfq_id in self.trackers or trade.rfq_id in self.done:
            return []  # a redelivery: the hedge is already under way
        tracker = await self._plan(trade)
        self.trackers[trade.rfq_id] = tracker
        out = await self._advance(tracker, max(self.clock.now_us(), trade.ts_us))  # the first clip goes at once
        self._schedule(tracker)
        return out

    async def _plan(self, trade: TradeBooked) -> HedgeTracker:
        if trade.qty_base <= 0:
            raise RejectedError("non_positive_qty_base", f"trade {trade.trade_id} qty {trade.qty_base}")
        try:
            hedge_lot(trade.symbol, self.instruments)
        except KeyError as exc:
            raise RejectedError("unknown_symbol", f"no venue lists {trade.symbol!r}") from exc
        books = await self.books.books_at(trade.symbol, trade.ts_us)
        rng = derived_rng(self.settings.seed, f"hedge:{trade.trade_id}")
        plan = plan_twap(trade, books, self.instruments, self.settings.hedge, rng, trade.ts_us)
        log.info("hedging %s %s %s: %d clips over %s s", trade.side, trade.qty_base, trade.symbol,
                 len(plan.clips), plan.horizon_s)
        return HedgeTracker(trade, plan, self.instruments, self.settings.hedge)

    def read_back(self, event: Event) -> None:
        rfq_id = getattr(event, "rfq_id", None)
        if rfq_id is not None:
            self._logs.setdefault(rfq_id, DealLog()).add(event)

    async def _rebuild(self) -> None:
        """Every hedge of the topics replayed (module docstring); open ones resume, their events re-sent."""
        await asyncio.gather(*(fold.run() for fold in self._folds), self.books.fold.caught_up.wait())
        await self.resume()

    async def resume(self) -> None:
        """Replay the hedges read back (`read_back`), send what the open ones need, then handle records."""
        logs, self._logs = self._logs, {}
        resumed = 0
        for deal in sorted((d for d in logs.values() if d.trade is not None), key=lambda d: d.trade.ts_us):
            try:
                out = await self._replay(deal)
            except Exception as exc:  # noqa: BLE001 - one deal that cannot be replayed must not stop the others
                log.warning("hedge of %s not resumed (recon flags what it lacks): %s", deal.trade.rfq_id, exc)
                self.done.add(deal.trade.rfq_id)
                continue
            for event in out:
                await self.stage.send(event)
            resumed += bool(out)
        self.rebuilt.set()
        log.info("hedger rebuilt %d hedges, %d resumed", len(self.trackers) + len(self.done), resumed)

    async def _replay(self, deal: DealLog) -> list[Event]:
        """The deal's hedge as it went: its routings interleaved with its replies in event time.

        Returns the events to send again: none for a finished hedge (the venue answered all of
        its orders, so they reached it), all for an open one."""
        trade = deal.trade
        assert trade is not None
        if deal.finished(hedge_lot(trade.symbol, self.instruments)):
            self.done.add(trade.rfq_id)  # no replay: its books may be older than the history
            return []
        tracker = await self._plan(trade)
        if any(o.clip_count != len(tracker.plan.clips) for o in deal.sent.values()):
            raise RuntimeError("the plan differs from the one its orders were sent on (books too old?)")
        tracker.recorded = deal.sent
        out: list[Event] = []
        for reply in deal.in_event_time():
            while (due := tracker.pop_due(reply.ts_us)) is not None:
                out += tracker.route(due, self.books.books_as_of(trade.symbol, due.at_us))
            update = tracker.on_fill(reply) if isinstance(reply, Fill) else tracker.on_venue_report(reply)
            out += [update] if update is not None else []
        # what is due after the last reply is the timer's: it waits for the feed, the rebuild must not
        if tracker.progress().done:
            self.done.add(trade.rfq_id)
            return []
        self.trackers[trade.rfq_id] = tracker
        self._schedule(tracker)
        return out

    async def on_fill(self, fill: Event) -> list[Event]:
        if not isinstance(fill, Fill):
            raise RejectedError("wrong_event", f"{type(fill).__name__} on fills")
        await self.rebuilt.wait()
        tracker = self.trackers.get(fill.rfq_id)
        if tracker is None:
            return []  # not a hedge of this worker's (or lost in a restart)
        update = tracker.on_fill(fill)
        out = ([update] if update is not None else []) + await self._advance(tracker, self.clock.now_us())
        self._schedule(tracker)
        return out

    async def on_order(self, order: Event) -> list[Event]:
        if not isinstance(order, HedgeOrder):
            raise RejectedError("wrong_event", f"{type(order).__name__} on orders")
        if not is_venue_report(order):
            return []  # our own order events
        await self.rebuilt.wait()
        tracker = self.trackers.get(order.rfq_id)
        if tracker is None:
            return []
        update = tracker.on_venue_report(order)
        out = ([update] if update is not None else []) + await self._advance(tracker, self.clock.now_us())
        self._schedule(tracker)
        return out

    async def _advance(self, tracker: HedgeTracker, now_us: int) -> list[Event]:
        """Route what is due by `now_us`, each routing at its own event time on the books as of then.

        The feed is awaited past each routing's own time, not past `now_us`: a hedger behind the
        clock (busy, or restarted) routes what is overdue at once on the books it already holds,
        instead of waiting for the feed to reach the present while those books age out of the
        history. Routings a step apart wait at most a feed step each, as one wait for `now_us` would.
        """
        symbol = tracker.trade.symbol
        out: list[Event] = []
        while (at_us := tracker.next_action_us()) is not None and at_us <= now_us:
            await self.books.wait_past(symbol, at_us)
            while (due := tracker.pop_due(at_us)) is not None:
                out += tracker.route(due, self.books.books_as_of(symbol, due.at_us))
        return out

    def _schedule(self, tracker: HedgeTracker) -> None:
        """After any change to a hedge: retire it when done, else (re)file its wake time."""
        rfq_id = tracker.trade.rfq_id
        if tracker.progress().done:
            if self.trackers.pop(rfq_id, None) is not None:
                log.info("hedge of %s done", rfq_id)
            self.done.add(rfq_id)
            self._wake_at.pop(rfq_id, None)
            return
        wake_us = tracker.wake_us()
        if wake_us is None:
            self._wake_at.pop(rfq_id, None)  # waits for fills and reports; any entry left is stale
        elif self._wake_at.get(rfq_id) != wake_us:
            self._wake_at[rfq_id] = wake_us
            heapq.heappush(self._wakes, (wake_us, rfq_id))

    async def tick(self) -> None:
        """Release due clips and ask about unanswered orders (desk clock, sim time), for the hedges
        whose wake time came only."""
        now_us = self.clock.now_us()
        due: list[str] = []  # taken off first: a hedge failing below is filed again for a later tick
        while self._wakes and self._wakes[0][0] <= now_us:
            wake_us, rfq_id = heapq.heappop(self._wakes)
            if self._wake_at.get(rfq_id) == wake_us:  # else superseded by a later schedule, or finished
                del self._wake_at[rfq_id]
                due.append(rfq_id)
        for rfq_id in due:
            tracker = self.trackers.get(rfq_id)
            if tracker is None:
                continue
            try:
                out: list[Event] = list(tracker.expire(now_us))
                out += await self._advance(tracker, now_us)
                for event in out:
                    await self.stage.send(event)
            except Exception:  # noqa: BLE001 - one deal's failure must not stop the others' clips
                log.exception("hedge of %s failed at tick", rfq_id)
            self._schedule(tracker)


def build(settings: Settings | None = None) -> Stage:
    return HedgerStage(settings or get_settings()).stage
