"""Reconciliation of one deal: booked trade vs hedge orders and fills vs both settlement legs.

As in the industry: match on ids first (fill_id, order_id, settlement leg), then compare economics
with tolerances where FIX allows one (price, fees) and exactly where it does not (quantities in
lot precision, settlement amounts). Each mismatch is a typed `ReconBreak(kind, expected, actual,
detail)` for the break queue. A deal is MATCHED once complete and clean, BROKEN as soon as a
break is known, PENDING while parts are still expected (before `deal_timeout_s`; after it,
whatever is missing becomes a break).

P&L of the deal in quote currency (USDT counted at par), with P the locked client price, A the
average hedge fill price, Q the hedged quantity, F the venue fees and C the client fee:
client BUY (desk sold, hedged by buying):  pnl = (P - A) * Q - F + C
client SELL (desk bought, hedged by selling): pnl = (A - P) * Q - F + C
`slippage_bps` is the hedge cost against the locked price, positive when it costs the desk:
(A - P) / P for a BUY, (P - A) / P for a SELL, in bps. The sub-lot residual that cannot be
hedged is open risk, not P&L.

`reconcile` is pure; `ReconState` accumulates one deal's events in any order (dedup by event_id),
re-evaluates on late data and numbers its results with `revision`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from otcdesk.events import (
    BreakKind as K,
    ExecType,
    Fill,
    HedgeOrder,
    ReconBreak,
    ReconResult,
    ReconStatus,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
    Venue,
)
from otcdesk.hedging import PRICE_QUANTUM, TERMINAL_ORDER_STATES, hedge_lot
from otcdesk.instruments import Instrument, quote_of
from otcdesk.settings import ReconSettings, Settings
from otcdesk.settlement import policy
from otcdesk.venue_sim import is_venue_report, scheduled_fee

#: The events a deal's reconciliation folds.
DealEvent = TradeBooked | HedgeOrder | Fill | SettlementUpdated

SOURCE = "recon"
BPS = Decimal(10_000)
US_PER_S = 1_000_000
#: uuid5 namespace: a result's event_id is derived from (rfq_id, revision), so re-running the same
#: evaluation yields the same id and downstream dedup by event_id absorbs the replay.
RECON_NAMESPACE = uuid.UUID("5d1c4f0e-7a43-4c52-9a0e-0c7ac0f1d2b3")
_TERMINAL_LEG = frozenset({SettlementState.SETTLED, SettlementState.FAILED, SettlementState.TIMED_OUT})
_STATE_RANK = {s: i for i, s in enumerate(SettlementState)}

Instruments = Mapping[tuple[Venue, str], Instrument]


@dataclass(frozen=True, slots=True)
class Assessment:
    breaks: tuple[ReconBreak, ...]
    complete: bool
    timed_out: bool
    hedged_qty_base: Decimal
    avg_fill_price_quote: Decimal
    fees_quote: Decimal
    slippage_bps: Decimal
    pnl_quote: Decimal


def _brk(kind: K, expected: object, actual: object, detail: str) -> ReconBreak:
    return ReconBreak(kind, str(expected), str(actual), detail)


def _unique(events: Iterable[Fill]) -> tuple[list[Fill], list[ReconBreak]]:
    """Fills deduplicated by event_id (redelivery), then by fill_id (a venue reporting twice) and
    by identical economics under another id; the last two are DUPLICATE_FILL breaks."""
    seen_events: set[str] = set()
    by_fill: dict[str, Fill] = {}
    by_economics: dict[tuple[object, ...], str] = {}
    breaks: list[ReconBreak] = []
    for f in events:
        if f.event_id in seen_events:
            continue
        seen_events.add(f.event_id)
        if f.fill_id in by_fill:
            breaks.append(_brk(K.DUPLICATE_FILL, 1, 2, f"fill {f.fill_id} of order {f.order_id} reported twice"))
            continue
        key = (f.order_id, f.venue, f.exec_type, f.price_quote, f.qty_base, f.fee, f.ts_us)
        if f.exec_type is ExecType.FILL and key in by_economics:
            breaks.append(
                _brk(
                    K.DUPLICATE_FILL,
                    by_economics[key],
                    f.fill_id,
                    f"fill {f.fill_id} identical to {by_economics[key]} (order {f.order_id})",
                )
            )
            continue
        by_economics[key] = f.fill_id
        by_fill[f.fill_id] = f
    return list(by_fill.values()), breaks


def latest_legs(settlements: Iterable[SettlementUpdated]) -> dict[SettlementLeg, SettlementUpdated]:
    """Latest status per leg: by event time, then by progress through the machine."""
    latest: dict[SettlementLeg, SettlementUpdated] = {}
    for s in settlements:
        cur = latest.get(s.leg)
        rank = (s.ts_us, _STATE_RANK[s.state], s.confirmations)
        if cur is None or rank > (cur.ts_us, _STATE_RANK[cur.state], cur.confirmations):
            latest[s.leg] = s
    return latest


@dataclass(frozen=True, slots=True)
class _OrderBook:
    """A deal's hedge orders by order id: the desk's latest state, the venue's final report, and
    when the desk first sent each."""

    desk: dict[str, HedgeOrder]
    venue: dict[str, HedgeOrder]
    sent_us: dict[str, int]


def _order_book(orders: Iterable[HedgeOrder]) -> _OrderBook:
    desk: dict[str, HedgeOrder] = {}
    venue: dict[str, HedgeOrder] = {}
    sent_us: dict[str, int] = {}
    for o in orders:
        book = venue if is_venue_report(o) else desk
        if o.order_id not in book or o.ts_us >= book[o.order_id].ts_us:
            book[o.order_id] = o
        if not is_venue_report(o):
            sent_us[o.order_id] = min(o.ts_us, sent_us.get(o.order_id, o.ts_us))
    return _OrderBook(desk, venue, sent_us)


def _check_orders(
    book: _OrderBook, unique: Sequence[Fill], executed: Sequence[Fill], rs: ReconSettings, now_us: int
) -> list[ReconBreak]:
    """MISSING_FILL: an order reported filled beyond its fills (once `fill_timeout_s` has passed
    since its last report: fills may trail it), or an order with no fill, reject or venue report
    `fill_timeout_s` after it was sent."""
    breaks: list[ReconBreak] = []
    answered = {f.order_id for f in unique}
    timeout_us = int(rs.fill_timeout_s * US_PER_S)
    for oid in sorted(set(book.desk) | set(book.venue)):
        got = sum((f.qty_base for f in executed if f.order_id == oid), Decimal(0))
        reports = [o for o in (book.desk.get(oid), book.venue.get(oid)) if o is not None]
        reported = max(o.filled_qty_base for o in reports)
        settled_in = now_us - max(o.ts_us for o in reports) >= timeout_us
        if reported > got and settled_in:
            breaks.append(_brk(K.MISSING_FILL, reported, got, f"order {oid}: reported filled, fills absent"))
        elif (
            oid not in answered
            and oid not in book.venue
            and oid in book.sent_us
            and now_us - book.sent_us[oid] >= timeout_us
        ):
            breaks.append(
                _brk(
                    K.MISSING_FILL,
                    "an execution report",
                    "none",
                    f"order {oid}: no fill, reject or venue report after {rs.fill_timeout_s} s",
                )
            )
    return breaks


def _check_quantity(trade: TradeBooked, hedged: Decimal, lot: Decimal, timed_out: bool) -> list[ReconBreak]:
    """QUANTITY: hedged a lot or more beyond the trade, or short of it by a lot at deal timeout."""
    if hedged - trade.qty_base >= lot:
        return [_brk(K.QUANTITY, trade.qty_base, hedged, "over-hedged beyond lot precision")]
    if timed_out and trade.qty_base - hedged >= lot:
        return [_brk(K.QUANTITY, trade.qty_base, hedged, "under-hedged at deal timeout")]
    return []


def _check_price(
    trade: TradeBooked, hedged: Decimal, avg: Decimal, slippage: Decimal, rs: ReconSettings
) -> list[ReconBreak]:
    """PRICE: the average fill further from the locked price than `price_tolerance_bps`."""
    if hedged and abs(slippage) > rs.price_tolerance_bps:
        detail = f"avg fill {slippage:.2f} bps from locked price (tolerance {rs.price_tolerance_bps})"
        return [_brk(K.PRICE, trade.price_quote, avg.quantize(PRICE_QUANTUM), detail)]
    return []


def _check_fees(executed: Iterable[Fill], instruments: Instruments, rs: ReconSettings) -> list[ReconBreak]:
    """FEE: a fill's fee off its venue's schedule beyond the tolerance, or in another currency than
    the instrument's quote currency (fills of an instrument not listed are not judged)."""
    breaks: list[ReconBreak] = []
    for f in executed:
        inst = instruments.get((f.venue, f.symbol))
        if inst is None:
            continue
        expected = scheduled_fee(inst, f.price_quote, f.qty_base)
        tolerance = max(rs.fee_tolerance_quote, expected * rs.fee_tolerance_bps / BPS)
        ccy = quote_of(inst.venue_symbol)
        if abs(f.fee - expected) > tolerance or f.fee_currency != ccy:
            breaks.append(
                _brk(
                    K.FEE,
                    f"{expected} {ccy}",
                    f"{f.fee} {f.fee_currency}",
                    f"fill {f.fill_id}: fee vs {f.venue} schedule {inst.taker_fee_rate}",
                )
            )
    return breaks


def _check_timestamps(
    trade: TradeBooked, unique: Iterable[Fill], settlements: Iterable[SettlementUpdated], sent_us: Mapping[str, int]
) -> list[ReconBreak]:
    """TIMESTAMP_ORDER: each fill stamped before its trade or its order, and the first settlement
    update stamped before the trade."""
    breaks: list[ReconBreak] = []
    for f in unique:
        start = sent_us.get(f.order_id)
        if f.ts_us < trade.ts_us or (start is not None and min(f.ts_us, f.order_ts_us) < start):
            breaks.append(
                _brk(
                    K.TIMESTAMP_ORDER,
                    f">= {start or trade.ts_us}",
                    min(f.ts_us, f.order_ts_us),
                    f"fill {f.fill_id} stamped before its order or trade",
                )
            )
    early = next((s for s in settlements if s.ts_us < trade.ts_us), None)
    if early is not None:
        breaks.append(
            _brk(
                K.TIMESTAMP_ORDER,
                f">= {trade.ts_us}",
                early.ts_us,
                f"settlement {early.settlement_id} {early.state} before the trade",
            )
        )
    return breaks


def _check_legs(
    legs: Mapping[SettlementLeg, SettlementUpdated],
    amounts: Mapping[SettlementLeg, Decimal],
    timed_out: bool,
    settings: Settings,
) -> list[ReconBreak]:
    """Per leg: SETTLEMENT_AMOUNT (no leg, or not settled, at deal timeout; another amount; FAILED
    or TIMED_OUT), and for a settled crypto leg TX_HASH (not a hash of its network) and
    CONFIRMATIONS (fewer than required)."""
    breaks: list[ReconBreak] = []
    for leg, expected in amounts.items():
        s = legs.get(leg)
        if s is None:
            if timed_out:
                breaks.append(_brk(K.SETTLEMENT_AMOUNT, expected, 0, f"{leg} leg: no settlement by deal timeout"))
            continue
        if s.amount != expected:
            breaks.append(_brk(K.SETTLEMENT_AMOUNT, expected, s.amount, f"{leg} leg amount"))
        if s.state in (SettlementState.FAILED, SettlementState.TIMED_OUT):
            breaks.append(_brk(K.SETTLEMENT_AMOUNT, expected, 0, f"{leg} leg {s.state}: {s.reason}"))
        elif s.state is not SettlementState.SETTLED:
            if timed_out:
                breaks.append(_brk(K.SETTLEMENT_AMOUNT, expected, 0, f"{leg} leg {s.state} at deal timeout"))
        elif policy.is_crypto(s.network):
            if not policy.is_valid_tx_hash(s.network, s.tx_hash):
                breaks.append(_brk(K.TX_HASH, f"{s.network} tx hash", s.tx_hash, f"{leg} leg settled"))
            required = max(
                s.confirmations_required,
                policy.required_confirmations(s.asset, s.network, s.amount, settings.settlement),
            )
            if s.confirmations < required:
                breaks.append(_brk(K.CONFIRMATIONS, required, s.confirmations, f"{leg} leg settled early"))
    return breaks


def assess(
    trade: TradeBooked,
    orders: Sequence[HedgeOrder],
    fills: Sequence[Fill],
    settlements: Sequence[SettlementUpdated],
    instruments: Instruments,
    settings: Settings,
    now_us: int,
) -> Assessment:
    """The deal's economics as of `now_us` and its breaks, in the order of the checks: duplicate
    fills, orders, quantity, price, fees, timestamps, settlement legs."""
    rs = settings.recon
    timed_out = now_us - trade.ts_us >= int(rs.deal_timeout_s * US_PER_S)
    unique, breaks = _unique(fills)
    executed = [f for f in unique if f.exec_type is ExecType.FILL]
    hedged = sum((f.qty_base for f in executed), Decimal(0))
    notional = sum((f.qty_base * f.price_quote for f in executed), Decimal(0))
    fees = sum((f.fee for f in executed), Decimal(0))
    avg = notional / hedged if hedged else Decimal(0)
    lot = hedge_lot(trade.symbol, instruments)

    book = _order_book(orders)
    open_orders = [
        oid for oid, o in book.desk.items() if o.state not in TERMINAL_ORDER_STATES and oid not in book.venue
    ]
    breaks += _check_orders(book, unique, executed, rs, now_us)
    breaks += _check_quantity(trade, hedged, lot, timed_out)
    sign = 1 if trade.side is Side.BUY else -1
    slippage = sign * (avg - trade.price_quote) / trade.price_quote * BPS if hedged else Decimal(0)
    breaks += _check_price(trade, hedged, avg, slippage, rs)
    pnl = sign * (trade.price_quote - avg) * hedged - fees + trade.fee_quote if hedged else trade.fee_quote
    breaks += _check_fees(executed, instruments, rs)
    breaks += _check_timestamps(trade, unique, settlements, book.sent_us)
    legs = latest_legs(settlements)
    amounts = {SettlementLeg.BASE: policy.base_leg_amount(trade), SettlementLeg.QUOTE: policy.quote_leg_amount(trade)}
    breaks += _check_legs(legs, amounts, timed_out, settings)

    hedge_done = not open_orders and abs(trade.qty_base - hedged) < lot
    legs_done = all(leg in legs and legs[leg].state in _TERMINAL_LEG for leg in amounts)
    return Assessment(
        tuple(breaks),
        hedge_done and legs_done,
        timed_out,
        hedged,
        avg.quantize(PRICE_QUANTUM),
        fees.quantize(PRICE_QUANTUM),
        slippage.quantize(Decimal("0.000001")),
        pnl.quantize(PRICE_QUANTUM),
    )


def next_deadline_us(trade: TradeBooked, orders: Sequence[HedgeOrder], settings: Settings, now_us: int) -> int | None:
    """The first instant after `now_us` at which `assess` may judge the deal differently with no
    new event: an order's fill timeout (after it was sent, or after its last report) or the deal
    timeout. None when none is left."""
    rs = settings.recon
    fill_us = int(rs.fill_timeout_s * US_PER_S)
    times = [trade.ts_us + int(rs.deal_timeout_s * US_PER_S)]
    last: dict[str, int] = {}
    for o in orders:
        last[o.order_id] = max(o.ts_us, last.get(o.order_id, o.ts_us))
        if not is_venue_report(o):
            times.append(o.ts_us + fill_us)
    times += [ts + fill_us for ts in last.values()]
    return min((t for t in times if t > now_us), default=None)


def reconcile(
    trade: TradeBooked,
    orders: Sequence[HedgeOrder],
    fills: Sequence[Fill],
    settlements: Sequence[SettlementUpdated],
    instruments: Instruments,
    settings: Settings,
    now_us: int,
    revision: int,
) -> ReconResult:
    a = assess(trade, orders, fills, settlements, instruments, settings, now_us)
    status = ReconStatus.BROKEN if a.breaks else ReconStatus.MATCHED if a.complete else ReconStatus.PENDING
    return ReconResult(
        str(uuid.uuid5(RECON_NAMESPACE, f"{trade.rfq_id}:{revision}")),
        now_us,
        SOURCE,
        trade.rfq_id,
        trade.trade_id,
        status,
        a.breaks,
        trade.qty_base,
        a.hedged_qty_base,
        a.avg_fill_price_quote,
        a.slippage_bps,
        a.pnl_quote,
        a.fees_quote,
        revision,
    )


class ReconState:
    """One deal's events as they arrive (any order, duplicates dropped by event_id)."""

    def __init__(self, rfq_id: str) -> None:
        self.rfq_id = rfq_id
        self.trade: TradeBooked | None = None
        self.orders: list[HedgeOrder] = []
        self.fills: list[Fill] = []
        self.settlements: list[SettlementUpdated] = []
        self.revision = 0
        self.last: ReconResult | None = None
        self._seen: set[str] = set()
        self._dirty = False

    def add(self, event: DealEvent) -> bool:
        """False for an event already seen (a redelivery)."""
        if event.event_id in self._seen:
            return False
        self._seen.add(event.event_id)
        if isinstance(event, TradeBooked):
            self.trade = event
        elif isinstance(event, HedgeOrder):
            self.orders.append(event)
        elif isinstance(event, Fill):
            self.fills.append(event)
        else:
            self.settlements.append(event)
        self._dirty = True
        return True

    def evaluate(self, instruments: Instruments, settings: Settings, now_us: int) -> ReconResult | None:
        """A new result when something changed (new data, or the deadline passing), else None."""
        if self.trade is None:
            return None
        result = reconcile(
            self.trade, self.orders, self.fills, self.settlements, instruments, settings, now_us, self.revision + 1
        )
        if (
            not self._dirty
            and self.last is not None
            and (result.status, result.breaks) == (self.last.status, self.last.breaks)
        ):
            return None
        self.revision, self.last, self._dirty = result.revision, result, False
        return result

    def complete(self, instruments: Instruments, settings: Settings, now_us: int) -> bool:
        """Trade booked, hedge filled or closed, both legs terminal."""
        return (
            self.trade is not None
            and assess(self.trade, self.orders, self.fills, self.settlements, instruments, settings, now_us).complete
        )

    def timed_out(self, settings: Settings, now_us: int) -> bool:
        return self.trade is not None and now_us - self.trade.ts_us >= int(settings.recon.deal_timeout_s * US_PER_S)
