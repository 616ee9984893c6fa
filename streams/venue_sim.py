"""Venue simulator stage: the desk's new hedge orders on `orders` -> fills and venue reports.

- `prices` -> its own GlobalTable of the latest book per venue:symbol (`streams.hedger.BookTable`).
- `orders` -> for each desk order seen for the first time (source `hedger`, state NEW or WORKING;
  the desk's later updates and the venues' own reports on the same topic are ignored), the order
  travels to its venue for a seeded log-normal latency: the stage waits until the arrival instant
  on the desk clock (sim time), then matches the order as an IOC taker against the venue's book
  at that instant (`BookTable.book_at`: as of the arrival in a simulated session, so every run
  matches the same; the latest book live) (`otcdesk.venue_sim.execute`), and sends the Fills to `fills` and the venue's
  final report (a HedgeOrder with source `venue:<VENUE>`) to `orders`.

Each order draws from `derived_rng(seed, "venue:<order_id>")`: latency, fill ids, rejects and
fault injection are the same whenever the order is replayed, so a redelivered order (at-least-once)
produces the same events, ids included, which downstream dedups by event_id. Within a process an
order is executed once (dedup by order_id).

Restart: before any order is handled, the stage reads `orders` from offset 0 to its end offsets
of that moment (`TopicFold(once=True)`): every desk order it was sent and every report it gave.
Orders without a report (waiting out their latency, or executed but killed before the report
went out) are executed again: seeded per order, they give the same fills and report, ids
included, and consumers drop what they already have by event_id.

Order status: a desk order seen again (the hedger asks about an order it has no report for by
sending it again; or a redelivery) gets its report again if the venue has given one; an order
still in flight answers when it arrives. This is the simulation's `fetch_order`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from typing import Any

from otcdesk.errors import RejectedError
from otcdesk.events import Event, HedgeOrder, OrderState
from otcdesk.hedging import SOURCE as HEDGER_SOURCE
from otcdesk.ids import derived_rng
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings, get_settings
from otcdesk.venue_sim import FAULTS_HEADER, execute, is_venue_report, latency_us
from streams.books import BookTable
from streams.fold import TopicFold
from streams.hedger import load_instruments
from streams.stage import Stage

log = logging.getLogger(__name__)

NEW_STATES = frozenset({OrderState.NEW, OrderState.WORKING})
Reply = tuple[HedgeOrder, dict[str, bytes] | None]


def is_new_desk_order(order: HedgeOrder) -> bool:
    return (not is_venue_report(order) and order.source == HEDGER_SOURCE and order.state in NEW_STATES
            and order.filled_qty_base == 0)


class VenueSimStage:
    def __init__(self, settings: Settings, instruments: Mapping[Any, Instrument] | None = None, *,
                 rebuild: bool = True) -> None:
        self.settings = settings
        self.clock: Any = settings.clock()
        self.instruments = dict(instruments if instruments is not None else load_instruments())
        self.stage = Stage("venue-sim", settings)
        self.books = BookTable(self.stage)
        self.seen: set[str] = set()  # order ids executed (or in flight)
        self.reports: dict[str, Reply] = {}  # order id -> the venue's final report, with its headers
        self._pending: set[asyncio.Task[None]] = set()
        self.rebuilt = asyncio.Event()  # no order is handled before the venue's record is read back
        self._sent: dict[str, HedgeOrder] = {}  # desk orders read back at start
        if rebuild:
            self._fold = TopicFold(settings, "orders", self.read_back, once=True)
            self.stage.app.task(self._rebuild)
        else:
            self.rebuilt.set()
        self.stage.ready_after(self.rebuilt)
        self.stage.agent("orders", self.on_order)

    def read_back(self, order: Event) -> None:
        if isinstance(order, HedgeOrder) and is_venue_report(order):
            self.reports.setdefault(order.order_id, (order, None))
        elif isinstance(order, HedgeOrder) and is_new_desk_order(order):
            self._sent.setdefault(order.order_id, order)

    async def _rebuild(self) -> None:
        """The orders sent before this process started and not reported yet: executed again."""
        await asyncio.gather(self._fold.run(), self.books.fold.caught_up.wait())
        await self.resume()

    async def resume(self) -> None:
        """Execute the orders read back that have no report (then handle what comes)."""
        self.rebuilt.set()
        unanswered = [o for oid, o in self._sent.items() if oid not in self.reports]
        for order in sorted(unanswered, key=lambda o: (o.ts_us, o.order_id)):
            with contextlib.suppress(RejectedError):  # dead-lettered when it was first read
                await self.on_order(order)
        log.info("venue-sim read back %d orders, %d executed again", len(self._sent), len(unanswered))
        self._sent = {}

    async def on_order(self, order: Event) -> list[Event]:
        if not isinstance(order, HedgeOrder):
            raise RejectedError("wrong_event", f"{type(order).__name__} on orders")
        if not is_new_desk_order(order):
            return []
        await self.rebuilt.wait()
        if order.order_id in self.seen or order.order_id in self.reports:
            reply = self.reports.get(order.order_id)
            if reply is not None:  # asked again: the same report (in flight: it comes when it arrives)
                await self.stage.send(reply[0], headers=reply[1])
            return []
        instrument = self.instruments.get((order.venue, order.symbol))
        if instrument is None:
            raise RejectedError("unknown_instrument", f"{order.venue} lists no {order.symbol}")
        if order.qty_base <= 0:
            raise RejectedError("non_positive_qty_base", f"order {order.order_id} qty {order.qty_base}")
        self.seen.add(order.order_id)
        rng = derived_rng(self.settings.seed, f"venue:{order.order_id}")
        probe = random.Random()
        probe.setstate(rng.getstate())  # execute() draws the latency first: the same draw, ahead of it
        arrival_us = order.ts_us + latency_us(order.venue, self.settings.venue_sim, probe)
        task = asyncio.ensure_future(self._execute_at(arrival_us, order, instrument, rng))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return []

    async def _execute_at(self, arrival_us: int, order: HedgeOrder, instrument: Instrument,
                          rng: random.Random) -> None:
        try:
            await self.clock.sleep_until_async(arrival_us)
            book = await self.books.book_at(order.venue, order.symbol, arrival_us)  # the book it meets
            result = execute(order, book, instrument, self.settings.venue_sim, rng)
            for fill in result.fills:
                await self.stage.send(fill)
            # The simulation's ground truth travels beside the data, never in it: `otcdesk simulate`
            # reads this header to tell injected faults from breaks nobody injected.
            faults = {FAULTS_HEADER: ",".join(result.faults).encode()} if result.faults else None
            await self.stage.send(result.report, headers=faults)
            self.reports[order.order_id] = (result.report, faults)
        except Exception:  # noqa: BLE001 - one order's failure must not stop the others
            self.seen.discard(order.order_id)  # the hedger's next question executes it again
            log.exception("venue simulation of order %s failed", order.order_id)


def build(settings: Settings | None = None) -> Stage:
    return VenueSimStage(settings or get_settings()).stage
