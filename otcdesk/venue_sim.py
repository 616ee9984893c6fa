"""Venue simulator: a hedge order meets the venue's current L2 book as an immediate-or-cancel taker.

The order arrives after a seeded log-normal latency (`order_ts_us` of its fills = arrival time),
walks the opposite side of the book level by level up to its limit, and produces one `Fill` per
level touched, each with its own venue trade id (`fill_id`). Whatever depth or the limit leaves
unfilled is cancelled, as an IOC would be. The taker fee is the venue schedule's rate times the
notional, charged in the venue's quote currency (USDT on Binance and OKX, USD elsewhere) and
rounded to 8 decimals as venues report it.

Besides the fills, the venue gives its final order report: a `HedgeOrder` with `source`
`venue:<VENUE>`, state FILLED, CANCELLED (IOC remainder) or REJECTED, and its cumulative
filled quantity and average price. That report is the venue's truth, the fills are what reached
the desk: with fault injection on (a fill dropped, reported twice, or overcharged; all off by
default) they disagree, which is exactly what reconciliation must catch.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from otcdesk.events import ExecType, Fill, HedgeOrder, OrderState, PriceUpdate, Side, Venue
from otcdesk.hedging import PRICE_QUANTUM, SOURCE as HEDGER_SOURCE, new_id, side_levels
from otcdesk.ids import derived_rng
from otcdesk.instruments import Instrument, quote_of
from otcdesk.settings import VenueSimSettings

VENUE_SOURCE_PREFIX = "venue:"
FAULTS_HEADER = "otcdesk.sim.faults"  # on a venue report: the faults injected into its fills
FEE_QUANTUM = Decimal("1e-8")
#: No order reaches a venue sooner than this after it was sent (event time): the venue simulator
#: answers nothing earlier, which is the lookahead the hedger's stream time relies on.
MIN_LATENCY_US = 1


def venue_source(venue: Venue) -> str:
    return f"{VENUE_SOURCE_PREFIX}{venue.value}"


def is_venue_report(order: HedgeOrder) -> bool:
    """True for a venue's order report, False for the desk's own order event."""
    return order.source.startswith(VENUE_SOURCE_PREFIX)


def scheduled_fee(instrument: Instrument, price_quote: Decimal, qty_base: Decimal) -> Decimal:
    """Taker fee by the venue's schedule, in its quote currency, rounded to 8 decimals."""
    return (instrument.taker_fee_rate * price_quote * qty_base).quantize(FEE_QUANTUM, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Execution:
    arrival_us: int
    fills: tuple[Fill, ...]  # as the desk receives them (faults applied)
    report: HedgeOrder  # the venue's final status of the order
    faults: tuple[str, ...] = ()  # faults injected into the fills: the simulation's ground truth


NEW_STATES = frozenset({OrderState.NEW, OrderState.WORKING})


def is_new_desk_order(order: HedgeOrder) -> bool:
    """The desk's order as first sent (or sent again as a question): what a venue acts on."""
    return (
        not is_venue_report(order)
        and order.source == HEDGER_SOURCE
        and order.state in NEW_STATES
        and order.filled_qty_base == 0
    )


def order_rng(seed: int, order_id: str) -> random.Random:
    """Every draw of the venue about one order (latency first), so handling it again repeats them."""
    return derived_rng(seed, f"venue:{order_id}")


def arrival_us(order: HedgeOrder, settings: VenueSimSettings, seed: int) -> int:
    """When `order` reaches its venue: its time plus the seeded latency `execute` draws first."""
    return order.ts_us + latency_us(order.venue, settings, order_rng(seed, order.order_id))


def answer_us(order: HedgeOrder, settings: VenueSimSettings, seed: int) -> int | None:
    """When the simulated venue answers `order` (its arrival), None for a record it does not answer."""
    return arrival_us(order, settings, seed) if isinstance(order, HedgeOrder) and is_new_desk_order(order) else None


def latency_us(venue: Venue, settings: VenueSimSettings, rng: random.Random) -> int:
    median_ms = settings.latency_ms.get(venue.value, settings.default_latency_ms)
    return max(MIN_LATENCY_US, int(median_ms * math.exp(settings.latency_sigma * rng.gauss(0.0, 1.0)) * 1000))


def _reject_reason(order: HedgeOrder, book: PriceUpdate | None, inst: Instrument) -> str | None:
    if book is None or book.symbol != order.symbol:
        return "NO_MARKET: no book for the symbol"
    if order.qty_base < inst.min_qty_base:
        return f"QTY_TOO_SMALL: {order.qty_base} < min {inst.min_qty_base}"
    if inst.floor_qty(order.qty_base) != order.qty_base:
        return f"LOT_SIZE: {order.qty_base} not a multiple of {inst.lot_size_base}"
    return None


def execute(
    order: HedgeOrder,
    book: PriceUpdate | None,
    instrument: Instrument,
    settings: VenueSimSettings,
    rng: random.Random,
) -> Execution:
    """Match `order` against `book` (the venue's book when the order arrives)."""
    arrival_us = order.ts_us + latency_us(order.venue, settings, rng)
    fee_ccy = quote_of(instrument.venue_symbol)
    reason = _reject_reason(order, book, instrument)
    if reason is None and rng.random() < settings.reject_prob:
        reason = "VENUE_REJECT: rate limit or risk check"
    if reason is not None:
        reject = Fill(
            new_id(rng),
            arrival_us,
            venue_source(order.venue),
            order.rfq_id,
            f"{order.venue.value.lower()}-rej-{rng.getrandbits(48):012x}",
            order.order_id,
            order.trade_id,
            order.venue,
            order.symbol,
            order.side,
            ExecType.REJECT,
            Decimal(0),
            Decimal(0),
            Decimal(0),
            fee_ccy,
            reason,
            arrival_us,
        )
        return Execution(
            arrival_us, (reject,), _report(order, OrderState.REJECTED, Decimal(0), Decimal(0), arrival_us + 1, rng)
        )
    assert book is not None
    left, notional = order.qty_base, Decimal(0)
    fills: list[Fill] = []
    for level in side_levels(book, order.side):
        ok = (
            level.price_quote <= order.limit_price_quote
            if order.side is Side.BUY
            else level.price_quote >= order.limit_price_quote
        )
        if left <= 0 or not ok:
            break
        take = min(left, level.qty_base)
        left -= take
        notional += take * level.price_quote
        fills.append(
            Fill(
                new_id(rng),
                arrival_us,
                venue_source(order.venue),
                order.rfq_id,
                f"{order.venue.value.lower()}-{rng.getrandbits(64):016x}",
                order.order_id,
                order.trade_id,
                order.venue,
                order.symbol,
                order.side,
                ExecType.FILL,
                level.price_quote,
                take,
                scheduled_fee(instrument, level.price_quote, take),
                fee_ccy,
                None,
                arrival_us,
            )
        )
    filled = order.qty_base - left
    state = OrderState.FILLED if left == 0 else OrderState.CANCELLED
    report = _report(order, state, filled, notional / filled if filled else Decimal(0), arrival_us + 1, rng)
    delivered, faults = _inject_faults(fills, settings, rng)
    return Execution(arrival_us, tuple(delivered), report, tuple(faults))


def _report(
    order: HedgeOrder, state: OrderState, filled: Decimal, avg: Decimal, ts_us: int, rng: random.Random
) -> HedgeOrder:
    return HedgeOrder(
        new_id(rng),
        ts_us,
        venue_source(order.venue),
        order.rfq_id,
        order.order_id,
        order.trade_id,
        order.venue,
        order.symbol,
        order.side,
        order.qty_base,
        order.limit_price_quote,
        order.clip_index,
        order.clip_count,
        state,
        filled,
        avg.quantize(PRICE_QUANTUM),
    )


def _inject_faults(fills: list[Fill], settings: VenueSimSettings, rng: random.Random) -> tuple[list[Fill], list[str]]:
    """Overcharge, drop or duplicate fills with the configured probabilities (0 by default).

    Returns the fills as delivered and the names of the faults injected (one per faulted fill).
    """
    out: list[Fill] = []
    faults: list[str] = []
    for fill in fills:
        if settings.fee_overcharge_prob and rng.random() < settings.fee_overcharge_prob:
            fee = (fill.fee * (1 + settings.fee_overcharge_factor)).quantize(FEE_QUANTUM, ROUND_HALF_EVEN)
            if fee != fill.fee:
                fill = replace(fill, fee=fee)
                faults.append("fee_overcharge")
        if settings.drop_fill_prob and rng.random() < settings.drop_fill_prob:
            faults.append("drop_fill")
            continue
        out.append(fill)
        if settings.duplicate_fill_prob and rng.random() < settings.duplicate_fill_prob:
            out.append(replace(fill, event_id=new_id(rng)))  # a redelivery: same fill_id, new event
            faults.append("duplicate_fill")
    return out, faults
