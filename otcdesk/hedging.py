"""Hedge execution: a TWAP schedule for a booked trade, smart routing of each clip, order tracking.

The desk takes the other side of the client, so it hedges on the client's side: a client BUY
leaves the desk short and it BUYS on the venues (hedge side = client side). Pure logic: no Kafka,
no clock; callers pass books, instruments, settings, a seeded `random.Random` and `now_us`.

- `plan_twap` slices the trade into clips over a horizon that grows with the trade's share of
  the visible depth (Nautilus-style horizon/interval, first clip immediate), sizes and times
  jittered so the desk's footprint is not a metronome. Every clip is a multiple of the coarsest
  lot among the venues, so any venue can take any clip; the clips sum exactly to the trade
  quantity floored to that lot (the sub-lot residual, if any, stays on the desk's book).
- `route_clip` sends a clip where the fee-adjusted executable price is best, taking at most a
  share of a venue's visible depth, with a protective limit a few bps through the touch.
- `HedgeTracker` keeps the orders of one trade, applies fills idempotently by fill_id, and puts
  the unfilled rest of a cancelled or rejected order back in line for re-routing. Only the
  venue's final word returns quantity: an order the venue has not answered in time is *asked
  about* (`expire` re-sends the order, which the venue answers with its report: ccxt's
  `fetch_order`), never assumed unfilled, because a late fill on top of a re-routed rest is an
  over-hedge.

Netting opposite deals before hedging (`HedgeSettings.netting_enabled`) is a TODO: it needs a
per-symbol netting window shared across deals (a stateful stage, not a per-trade plan), and the
recon must then attribute venue fills to several trades. `plan_twap` refuses the setting.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from otcdesk.events import (
    BookLevel,
    ExecType,
    Fill,
    HedgeOrder,
    OrderState,
    PriceUpdate,
    Side,
    TradeBooked,
    Venue,
)
from otcdesk.ids import IdFactory
from otcdesk.instruments import Instrument
from otcdesk.settings import HedgeSettings

BPS = Decimal(10_000)
US_PER_S = 1_000_000
PRICE_QUANTUM = Decimal("1e-10")  # scale of *_price_quote in the Avro schemas
SOURCE = "hedger"
TERMINAL_ORDER_STATES = frozenset({OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED})

Instruments = Mapping[tuple[Venue, str], Instrument]
Books = Mapping[Venue, PriceUpdate]
#: uuid5 namespace of the tracker's ids: an order id is (trade, sequence number) and an order
#: event's id is its content, so they do not depend on the order in which fills and venue reports
#: of one deal reached the hedger (two topics), and a replay gives the same ids.
#: Routings of one quantity no venue can take (no book, limits, minimums) before the desk stops
#: trying and leaves it open: a hedge must end, and recon reports what it lacks.
MAX_RETRIES = 12
HEDGE_NAMESPACE = uuid.UUID("0b6f1c1e-2d0a-4f57-9a43-5f3c1d8e7a21")


def new_id(rng: random.Random) -> str:
    """A UUID4 text drawn from the seeded generator (see otcdesk.ids)."""
    return IdFactory(rng).new()


def hedge_lot(symbol: str, instruments: Instruments) -> Decimal:
    """The coarsest lot among the venues listing `symbol`: a multiple of it fits every venue."""
    lots = [i.lot_size_base for (_, sym), i in instruments.items() if sym == symbol]
    if not lots:
        raise KeyError(f"no venue lists {symbol}")
    return max(lots)


def floor_to(qty: Decimal, step: Decimal) -> Decimal:
    return (qty / step).to_integral_value(ROUND_DOWN) * step


def side_levels(book: PriceUpdate, side: Side) -> tuple[BookLevel, ...]:
    """Levels a hedge on `side` takes: asks to buy, bids to sell (best first)."""
    return book.asks if side is Side.BUY else book.bids


@dataclass(frozen=True, slots=True)
class PlannedClip:
    index: int
    qty_base: Decimal
    send_at_us: int


@dataclass(frozen=True, slots=True)
class HedgePlan:
    rfq_id: str
    trade_id: str
    symbol: str
    side: Side
    qty_base: Decimal  # what the clips sum to
    residual_qty_base: Decimal  # below one lot: cannot be sent to any venue
    horizon_s: Decimal
    lot_base: Decimal
    clips: tuple[PlannedClip, ...]


def _jitter(rng: random.Random, amplitude: Decimal) -> Decimal:
    """Uniform in [-amplitude, +amplitude], exact in Decimal (drawn as integer millionths)."""
    return Decimal(rng.randint(-1_000_000, 1_000_000)) / 1_000_000 * amplitude


def plan_twap(
    trade: TradeBooked,
    books_by_venue: Books,
    instruments: Instruments,
    settings: HedgeSettings,
    rng: random.Random,
    now_us: int,
) -> HedgePlan:
    """Clips of `trade` over a horizon scaled by qty / visible depth on the hedge side."""
    if settings.netting_enabled:
        raise NotImplementedError("netting across deals is not implemented (see module docstring)")
    lot = hedge_lot(trade.symbol, instruments)
    qty = floor_to(trade.qty_base, lot)
    depth = sum(
        (lv.qty_base for b in books_by_venue.values() if b.symbol == trade.symbol for lv in side_levels(b, trade.side)),
        Decimal(0),
    )
    share = qty / depth if depth > 0 else Decimal(1)  # no book: assume the worst, spread it out
    horizon_s = min(max(settings.horizon_s_per_depth * share, settings.min_horizon_s), settings.max_horizon_s)
    jit = settings.size_jitter
    min_clip = max([lot] + [i.min_qty_base for (_, sym), i in instruments.items() if sym == trade.symbol])
    min_clip = (min_clip / lot).to_integral_value(ROUND_CEILING) * lot
    n_time = int(horizon_s / settings.interval_s)
    # every clip but the last is >= floor(qty * (1-j) / ((1+j) n)): keep that >= min_clip
    n_size = int(qty * (1 - jit) / ((1 + jit) * min_clip))
    count = max(1, min(n_time, settings.max_clips, n_size)) if qty > 0 else 0
    weights = [1 + _jitter(rng, jit) for _ in range(count)]
    total_w = sum(weights, Decimal(0))
    sizes = [floor_to(qty * w / total_w, lot) for w in weights[:-1]]
    sizes.append(qty - sum(sizes, Decimal(0)))  # the remainder: exact sum, still a lot multiple
    interval_us = int(settings.interval_s * US_PER_S)
    clips = (
        tuple(
            PlannedClip(
                i,
                size,
                now_us if i == 0 else now_us + i * interval_us + int(_jitter(rng, settings.time_jitter) * interval_us),
            )
            for i, size in enumerate(sizes)
        )
        if count
        else ()
    )
    return HedgePlan(
        trade.rfq_id, trade.trade_id, trade.symbol, trade.side, qty, trade.qty_base - qty, horizon_s, lot, clips
    )


@dataclass(frozen=True, slots=True)
class Route:
    venue: Venue
    qty_base: Decimal  # may be less than asked: participation cap, limit or depth
    limit_price_quote: Decimal
    expected_price_quote: Decimal  # VWAP of the levels it would take now
    fee_adjusted_price_quote: Decimal  # per unit, venue taker fee included


def limit_price(best_quote: Decimal, side: Side, protection_bps: Decimal, tick: Decimal) -> Decimal:
    """Best price moved `protection_bps` against us, rounded outward to the tick."""
    if side is Side.BUY:
        raw, rounding = best_quote * (1 + protection_bps / BPS), ROUND_CEILING
    else:
        raw, rounding = best_quote * (1 - protection_bps / BPS), ROUND_FLOOR
    return (raw / tick).to_integral_value(rounding) * tick


def _within(price: Decimal, limit: Decimal, side: Side) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


def vwap(levels: Sequence[BookLevel], qty_base: Decimal) -> Decimal:
    """Average price of taking `qty_base` from `levels` (best first); they must hold it."""
    left, notional = qty_base, Decimal(0)
    for lv in levels:
        take = min(left, lv.qty_base)
        notional += take * lv.price_quote
        left -= take
        if left <= 0:
            break
    return notional / qty_base


def route_clip(
    clip_qty_base: Decimal,
    side: Side,
    books: Books,
    instruments: Instruments,
    settings: HedgeSettings,
    exclude: frozenset[Venue] = frozenset(),
) -> Route | None:
    """The venue with the best fee-adjusted price for the clip now, or None if none can trade.

    Venues able to take the whole clip (within the participation cap and the limit) come first;
    among them, and then among partial takers, the best price after the taker fee wins (ties by
    venue name, so the choice is deterministic).
    """
    candidates: list[tuple[bool, Decimal, str, Route]] = []
    for venue, book in books.items():
        inst = instruments.get((venue, book.symbol))
        levels = side_levels(book, side)
        if venue in exclude or inst is None or not levels:
            continue
        limit = limit_price(levels[0].price_quote, side, settings.limit_protection_bps, inst.tick_size_quote)
        visible = sum((lv.qty_base for lv in levels), Decimal(0))
        reachable = [lv for lv in levels if _within(lv.price_quote, limit, side)]
        in_limit = sum((lv.qty_base for lv in reachable), Decimal(0))
        qty = inst.floor_qty(min(clip_qty_base, visible * settings.participation_cap, in_limit))
        if qty <= 0 or qty < inst.min_qty_base:
            continue
        px = vwap(reachable, qty)
        fee_adj = px * (1 + inst.taker_fee_rate) if side is Side.BUY else px * (1 - inst.taker_fee_rate)
        rank = fee_adj if side is Side.BUY else -fee_adj
        candidates.append((qty < clip_qty_base, rank, venue.value, Route(venue, qty, limit, px, fee_adj)))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


@dataclass(slots=True)
class _Order:
    """Mutable desk-side view of one child order."""

    order_id: str
    venue: Venue
    qty_base: Decimal
    limit_price_quote: Decimal
    clip_index: int
    sent_us: int
    state: OrderState = OrderState.WORKING
    filled_qty_base: Decimal = Decimal(0)
    notional_quote: Decimal = Decimal(0)
    fees_quote: Decimal = Decimal(0)
    venue_filled_qty_base: Decimal | None = None  # from the venue's final report
    asked_us: int | None = None  # when the desk last asked the venue about it (no report in time)

    @property
    def closed(self) -> bool:
        """The venue gave its final word: nothing more comes back."""
        return self.venue_filled_qty_base is not None

    @property
    def done_qty_base(self) -> Decimal:
        """Executed quantity, the venue's word when it gave one (a dropped fill stays counted)."""
        return self.filled_qty_base if self.venue_filled_qty_base is None else self.venue_filled_qty_base


@dataclass(frozen=True, slots=True)
class DueRouting:
    """Quantity to route at `at_us`: a planned clip, or what came back from an order (`cause`)."""

    at_us: int
    qty_base: Decimal
    clip_index: int
    cause: str  # names the routing: order ids derive from it, so they do not depend on timing
    attempt: int = 0  # routings of this quantity no venue could take so far


@dataclass(frozen=True, slots=True)
class HedgeProgress:
    target_qty_base: Decimal
    filled_qty_base: Decimal
    remaining_qty_base: Decimal
    filled_pct: Decimal
    avg_price_quote: Decimal  # 0 before the first fill
    fees_quote: Decimal
    working_orders: int
    done: bool
    abandoned_qty_base: Decimal = Decimal(0)  # no venue could take it after MAX_RETRIES: open risk


class HedgeTracker:
    """Orders of one trade's hedge: route clips when due, apply fills and venue reports.

    Every routing is independent of the others, at its own event time: a planned clip at its
    `send_at_us`, the unfilled rest of an order when the venue's final report (IOC remainder,
    reject) says so, at the report's time. Order ids derive from the routing's cause, event ids
    from their content. So the hedge is the same whatever the order in which this process saw
    fills, reports and timer ticks, which is what makes a simulated session replayable.
    """

    def __init__(self, trade: TradeBooked, plan: HedgePlan, instruments: Instruments, settings: HedgeSettings) -> None:
        self.trade, self.plan = trade, plan
        self._instruments, self._settings = instruments, settings
        self._orders: dict[str, _Order] = {}
        self._fill_ids: set[str] = set()
        self._next_clip = 0
        self._returned: list[DueRouting] = []  # quantity that came back, waiting for its routing
        self.abandoned_qty_base = Decimal(0)
        #: the desk's own first event of each order already on `orders` (a restarted hedger's
        #: rebuild): a routing replayed for one of them re-sends that order as it was sent
        self.recorded: Mapping[str, HedgeOrder] = {}

    @property
    def orders(self) -> Mapping[str, _Order]:
        return self._orders

    @property
    def pending_qty_base(self) -> Decimal:
        """Quantity that came back and is not routed yet."""
        return sum((r.qty_base for r in self._returned), Decimal(0))

    def _event(self, o: _Order, ts_us: int) -> HedgeOrder:
        avg = (o.notional_quote / o.filled_qty_base).quantize(PRICE_QUANTUM) if o.filled_qty_base else Decimal(0)
        event_id = str(uuid.uuid5(HEDGE_NAMESPACE, f"{o.order_id}|{o.state.value}|{o.filled_qty_base}|{ts_us}"))
        return HedgeOrder(
            event_id,
            ts_us,
            SOURCE,
            self.trade.rfq_id,
            o.order_id,
            self.trade.trade_id,
            o.venue,
            self.trade.symbol,
            self.plan.side,
            o.qty_base,
            o.limit_price_quote,
            o.clip_index,
            len(self.plan.clips),
            o.state,
            o.filled_qty_base,
            avg,
        )

    def next_action_us(self) -> int | None:
        """Event time of the next routing due (a returned quantity or the next clip); None: none."""
        times = [r.at_us for r in self._returned]
        if self._next_clip < len(self.plan.clips):
            times.append(self.plan.clips[self._next_clip].send_at_us)
        return min(times, default=None)

    def wake_us(self) -> int | None:
        """Desk time the timer must next look at this hedge: its next routing due, or the earliest
        moment an unanswered order's venue is to be asked about it (`expire`); None: nothing is
        timed, the hedge waits for fills and venue reports."""
        times = [at_us for o in self._orders.values() if (at_us := self._ask_at_us(o)) is not None]
        if (action_us := self.next_action_us()) is not None:
            times.append(action_us)
        return min(times, default=None)

    def pop_due(self, now_us: int) -> DueRouting | None:
        """The earliest routing due by `now_us` (removed from the queue), or None."""
        returned = min(self._returned, key=lambda r: (r.at_us, r.cause), default=None)
        clip = self.plan.clips[self._next_clip] if self._next_clip < len(self.plan.clips) else None
        if clip is not None and clip.send_at_us <= now_us and (returned is None or clip.send_at_us <= returned.at_us):
            self._next_clip += 1
            return DueRouting(clip.send_at_us, clip.qty_base, clip.index, f"clip{clip.index}")
        if returned is not None and returned.at_us <= now_us:
            self._returned.remove(returned)
            return returned
        return None

    def route(self, due: DueRouting, books: Books) -> list[HedgeOrder]:
        """Orders for `due` on `books` (as of `due.at_us`); what no venue takes is retried later.

        An order already sent for this routing (`recorded`, after a restart) is taken as it was
        sent, not routed again on today's books: a live restart must not move a sent order."""
        qty, out = due.qty_base, []
        used: set[Venue] = set()
        while qty > 0:
            order_id = str(uuid.uuid5(HEDGE_NAMESPACE, f"{self.trade.trade_id}|{due.cause}|{len(used)}"))
            sent = self.recorded.get(order_id)
            route: Route | None
            if sent is not None:
                route = Route(sent.venue, sent.qty_base, sent.limit_price_quote, Decimal(0), Decimal(0))
            else:
                route = route_clip(qty, self.plan.side, books, self._instruments, self._settings, frozenset(used))
            if route is None:
                break
            order = _Order(order_id, route.venue, route.qty_base, route.limit_price_quote, due.clip_index, due.at_us)
            self._orders[order.order_id] = order
            out.append(self._event(order, due.at_us))
            qty -= route.qty_base
            used.add(route.venue)
        if qty > 0 and due.attempt + 1 >= MAX_RETRIES:
            self.abandoned_qty_base += qty  # stays on the desk's book: recon flags the short hedge
        elif qty > 0:  # no venue can take it now: again one TWAP interval later (event time)
            retry_us = due.at_us + int(self._settings.interval_s * US_PER_S)
            self._returned.append(DueRouting(retry_us, qty, due.clip_index, f"{due.cause}/retry", due.attempt + 1))
        return out

    def due_orders(self, books: Books, now_us: int) -> list[HedgeOrder]:
        """Every routing due by `now_us`, each at its own time, all on the same `books`."""
        out: list[HedgeOrder] = []
        while (due := self.pop_due(now_us)) is not None:
            out += self.route(due, books)
        return out

    def _give_back(self, o: _Order, at_us: int, why: str) -> None:
        rest = o.qty_base - o.done_qty_base
        if rest > 0:
            self._returned.append(DueRouting(at_us, rest, o.clip_index, f"{why}:{o.order_id}"))

    def on_fill(self, fill: Fill) -> HedgeOrder | None:
        """Apply a venue execution report; None if it is a duplicate or for an unknown order.

        A REJECT marks the order rejected in the desk's view; its quantity comes back with the
        venue's final report (always sent after the fills), so the re-routing has one time.
        """
        o = self._orders.get(fill.order_id)
        if fill.fill_id in self._fill_ids or o is None:
            return None
        self._fill_ids.add(fill.fill_id)
        if fill.exec_type is ExecType.REJECT:
            if o.closed or o.state is OrderState.REJECTED:
                return None
            o.state = OrderState.REJECTED
            return self._event(o, fill.ts_us)
        o.filled_qty_base += fill.qty_base
        o.notional_quote += fill.qty_base * fill.price_quote
        o.fees_quote += fill.fee
        if not o.closed:  # after the venue's final report the state is the venue's
            o.state = OrderState.FILLED if o.filled_qty_base >= o.qty_base else OrderState.PARTIALLY_FILLED
        return self._event(o, fill.ts_us)

    def on_venue_report(self, report: HedgeOrder) -> HedgeOrder | None:
        """The venue's final word on an order (IOC: FILLED, or CANCELLED/REJECTED with its filled qty)."""
        o = self._orders.get(report.order_id)
        if o is None or o.closed:
            return None
        o.venue_filled_qty_base = report.filled_qty_base
        if report.state in (OrderState.CANCELLED, OrderState.REJECTED, OrderState.FILLED):
            o.state = report.state
        self._give_back(o, report.ts_us, "rest")
        return self._event(o, report.ts_us)

    def expire(self, now_us: int) -> list[HedgeOrder]:
        """Ask the venue about orders it has not answered within `order_timeout_ms` (again every
        timeout while it stays silent): the question is the order itself, sent again unchanged
        (same event id, so consumers that have it drop it), which the venue answers with its final
        report (`otcdesk.venue_sim`; live, ccxt's `fetch_order`). Nothing is re-routed on a timeout:
        the order may be filled and only late. A venue that never answers leaves the hedge open,
        and recon flags the order (no report after `recon.fill_timeout_s`)."""
        out = []
        for o in self._orders.values():
            if (at_us := self._ask_at_us(o)) is not None and at_us <= now_us:
                o.asked_us = now_us
                out.append(self.sent_event(o))
        return out

    def _ask_at_us(self, o: _Order) -> int | None:
        """When the venue is to be asked about `o` (a timeout after it was sent or last asked);
        None once it answered, or once every fill is in (only the report is late then)."""
        if o.closed or o.state is OrderState.FILLED:
            return None
        return (o.sent_us if o.asked_us is None else o.asked_us) + self._settings.order_timeout_ms * 1000

    def sent_event(self, o: _Order) -> HedgeOrder:
        """The order as the desk first sent it (state WORKING, nothing filled, at its routing time)."""
        return self._event(
            _Order(o.order_id, o.venue, o.qty_base, o.limit_price_quote, o.clip_index, o.sent_us), o.sent_us
        )

    def progress(self) -> HedgeProgress:
        filled = sum((o.filled_qty_base for o in self._orders.values()), Decimal(0))
        done_qty = sum((o.done_qty_base for o in self._orders.values()), Decimal(0))
        notional = sum((o.notional_quote for o in self._orders.values()), Decimal(0))
        fees = sum((o.fees_quote for o in self._orders.values()), Decimal(0))
        working = sum(1 for o in self._orders.values() if not o.closed and o.state is not OrderState.FILLED)
        target = self.plan.qty_base
        remaining = max(target - done_qty - self.abandoned_qty_base, Decimal(0))
        return HedgeProgress(
            target,
            filled,
            remaining,
            (filled / target * 100).quantize(Decimal("0.01")) if target else Decimal(100),
            (notional / filled).quantize(PRICE_QUANTUM) if filled else Decimal(0),
            fees,
            working,
            done=self._next_clip == len(self.plan.clips) and working == 0 and remaining == 0,
            abandoned_qty_base=self.abandoned_qty_base,
        )
