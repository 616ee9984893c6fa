"""Venue simulator stage: the desk's new hedge orders on `orders` -> fills and venue reports.

- `prices` -> the books per venue:symbol (`streams.books`).
- `orders` -> each desk order seen for the first time (source `hedger`, state NEW or WORKING; the
  desk's later updates and the venues' own reports on the same topic are ignored) travels to its
  venue for a seeded log-normal latency: a timer at the arrival instant matches it as an IOC
  taker against the venue's book as of that instant (`otcdesk.venue_sim.execute`) and sends the
  Fills to `fills` and the venue's final report (a HedgeOrder with source `venue:<VENUE>`) to
  `orders`.

Each order draws from `derived_rng(seed, "venue:<order_id>")`: latency, fill ids, rejects and
fault injection are the same whenever the order is handled again, so a redelivered or replayed
order produces the same events, ids included, which downstream dedups by event_id.

In stream time the stage answers nothing sooner than `MIN_LATENCY_US` after an order (its
lookahead on `orders`), and its watermark records say what it holds (`next_us`: the next
arrival) and how far it has read the hedger (`input_us`): the hedger then waits for it only while
an order can still be answered (`otcdesk.streamtime.frontier`, reactive producers).

Order status: a desk order seen again (the hedger asks about an order it has no report for by
sending it again) gets its report again if the venue has given one; an order still in flight
answers when it arrives. This is the simulation's `fetch_order`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping

from otcdesk.errors import RejectedError
from otcdesk.events import Event, HedgeOrder, Venue
from otcdesk.instruments import Instrument
from otcdesk.settings import Settings, get_settings
from otcdesk.venue_sim import FAULTS_HEADER, MIN_LATENCY_US, arrival_us, execute, is_new_desk_order, order_rng
from otcdesk.venues.providers import offline_instruments
from streams.books import BookTable
from streams.processor import TimerCallback
from streams.stage import Stage

log = logging.getLogger(__name__)

ORDERS_RANK, ARRIVAL_RANK = 1, 2
Reply = tuple[HedgeOrder, dict[str, bytes] | None]


class VenueSimStage:
    def __init__(self, settings: Settings, instruments: Mapping[tuple[Venue, str], Instrument] | None = None) -> None:
        self.settings = settings
        self.instruments = dict(instruments if instruments is not None else offline_instruments())
        self.stage = Stage("venue-sim", settings, outputs=("fills", "orders"), own_sources=("venue:",), answers=True)
        self.books = BookTable(self.stage)
        self.seen: set[str] = set()  # order ids executed or in flight
        self.reports: dict[str, Reply] = {}  # order id -> the venue's final report, with its headers
        self.stage.consume(
            "orders",
            {HedgeOrder: self.on_order},
            rank=ORDERS_RANK,
            waits_for=("hedger",),
            lookahead_us=MIN_LATENCY_US,
            dedup=False,
        )  # an order again is a status question

    async def on_order(self, order: HedgeOrder) -> list[Event]:
        if not is_new_desk_order(order):
            return []
        if order.order_id in self.seen:
            reply = self.reports.get(order.order_id)
            if reply is not None:  # asked again: the same report (in flight: it comes when it arrives)
                await self.stage.emit(reply[0], reply[1], resend=True)
            return []
        instrument = self.instruments.get((order.venue, order.symbol))
        if instrument is None:
            raise RejectedError("unknown_instrument", f"{order.venue} lists no {order.symbol}")
        if order.qty_base <= 0:
            raise RejectedError("non_positive_qty_base", f"order {order.order_id} qty {order.qty_base}")
        self.seen.add(order.order_id)
        arrival = arrival_us(order, self.settings.venue_sim, self.settings.seed)
        rng = order_rng(self.settings.seed, order.order_id)
        self.stage.at(arrival, f"arrive:{order.order_id}", self._arrive(order, instrument, rng), rank=ARRIVAL_RANK)
        return []

    def _arrive(self, order: HedgeOrder, instrument: Instrument, rng: random.Random) -> TimerCallback:
        async def arrive(_due_us: int) -> list[Event]:
            book = self.books.book(order.venue, order.symbol)  # as of the arrival: the book it meets
            result = execute(order, book, instrument, self.settings.venue_sim, rng)
            for fill in result.fills:
                await self.stage.emit(fill)
            # The simulation's ground truth travels beside the data, never in it: `otcdesk simulate`
            # reads this header to tell injected faults from breaks nobody injected.
            faults = {FAULTS_HEADER: ",".join(result.faults).encode()} if result.faults else None
            await self.stage.emit(result.report, faults)
            self.reports[order.order_id] = (result.report, faults)
            return []

        return arrive


def build(settings: Settings | None = None) -> Stage:
    return VenueSimStage(settings or get_settings()).stage
