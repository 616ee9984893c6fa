"""Reconciliation: a clean deal built by the real components matches; each break kind is produced
by a crafted case (and absent from the clean deal); the accumulator takes events in any order."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from decimal import Decimal as D

import pytest

from otcdesk.events import (
    BreakKind as K,
    ExecType,
    Fill,
    HedgeOrder,
    ReconStatus,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
    Venue,
)
from otcdesk.hedging import HedgeTracker, plan_twap
from otcdesk.recon import ReconState, reconcile
from otcdesk.settings import Settings
from otcdesk.settlement.planner import SettlementPlanner
from otcdesk.venue_sim import execute, scheduled_fee

from .conftest import T0, ladder, make_instruments, trade

INSTRUMENTS = make_instruments()
BOOKS = {v: ladder(v, "95000", qty="3") for v in (Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN)}
SETTINGS = Settings()


@dataclass(frozen=True)
class Deal:
    trade: TradeBooked
    orders: tuple[HedgeOrder, ...]
    fills: tuple[Fill, ...]
    settlements: tuple[SettlementUpdated, ...]
    now_us: int

    def recon(self, settings: Settings = SETTINGS, now_us: int | None = None, **changes: object):
        parts = {
            "trade": self.trade,
            "orders": self.orders,
            "fills": self.fills,
            "settlements": self.settlements,
            **changes,
        }
        return reconcile(
            parts["trade"],
            parts["orders"],
            parts["fills"],
            parts["settlements"],
            INSTRUMENTS,
            settings,
            self.now_us if now_us is None else now_us,
            1,
        )


def build_deal(side: Side = Side.BUY, qty: str = "4", seed: int = 1) -> Deal:
    """Hedge with the tracker against the venue simulator, then settle both legs."""
    price = "95100" if side is Side.BUY else "94900"
    t = trade(side, qty, price)
    rng = random.Random(seed)
    plan = plan_twap(t, BOOKS, INSTRUMENTS, SETTINGS.hedge, rng, T0)
    tracker = HedgeTracker(t, plan, INSTRUMENTS, SETTINGS.hedge)
    orders: list[HedgeOrder] = []
    fills: list[Fill] = []
    now = T0
    while not tracker.progress().done and now < T0 + 3_600_000_000:
        for order in tracker.due_orders(BOOKS, now):
            orders.append(order)
            ex = execute(order, BOOKS[order.venue], INSTRUMENTS[(order.venue, t.symbol)], SETTINGS.venue_sim, rng)
            for f in ex.fills:
                fills.append(f)
                if (update := tracker.on_fill(f)) is not None:
                    orders.append(update)
            orders.append(ex.report)
            if (update := tracker.on_venue_report(ex.report)) is not None:
                orders.append(update)
        now += 1_000_000
    ssi = SETTINGS.settlement.instructions["ACME"]
    settlements = SettlementPlanner(SETTINGS.settlement).plan(t, ssi, rng, now)
    end = max(e.ts_us for e in (*orders, *fills, *settlements)) + 1
    return Deal(t, tuple(orders), tuple(fills), settlements, end + int(SETTINGS.recon.fill_timeout_s * 1_000_000))


CLEAN = build_deal()


def kinds(result) -> set[K]:
    return {b.kind for b in result.breaks}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_clean_deal_matches_with_no_break(side):
    deal = CLEAN if side is Side.BUY else build_deal(Side.SELL, "3", seed=2)
    result = deal.recon()
    assert result.breaks == () and result.status is ReconStatus.MATCHED
    assert result.hedged_qty_base == deal.trade.qty_base
    assert result.pnl_quote > 0 and result.slippage_bps < 0  # the locked price carried a spread
    assert len({o.order_id for o in deal.orders}) >= 2  # several clips


def test_pnl_and_slippage_sign_conventions():
    for side, price, fill_px, pnl, slip in [
        (Side.BUY, "95100", "95000", D("5"), D("-10.515247")),
        (Side.SELL, "94900", "95000", D("5"), D("-10.537408")),
    ]:
        t = trade(side, "1", price)
        f = Fill(
            "e",
            T0 + 1,
            "venue:BINANCE",
            t.rfq_id,
            "f",
            "o",
            t.trade_id,
            Venue.BINANCE,
            t.symbol,
            side,
            ExecType.FILL,
            D(fill_px),
            D("1"),
            D("95"),
            "USDT",
            None,
            T0 + 1,
        )
        result = reconcile(t, (), (f,), (), INSTRUMENTS, SETTINGS, T0 + 2, 1)
        assert result.pnl_quote == pnl and result.slippage_bps == slip  # (P - A) * Q - F, mirrored


def _settled(deal: Deal, leg: SettlementLeg) -> SettlementUpdated:
    return [s for s in deal.settlements if s.leg is leg][-1]


def _swap(events, old, new):
    return tuple(new if e is old else e for e in events)


def _order_of(fill: Fill) -> HedgeOrder:
    return next(o for o in CLEAN.orders if o.order_id == fill.order_id)


FILL = next(f for f in CLEAN.fills if f.exec_type is ExecType.FILL)
BASE = _settled(CLEAN, SettlementLeg.BASE)


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (
            K.QUANTITY,
            {
                "fills": (
                    *CLEAN.fills,
                    replace(
                        FILL,
                        event_id="x",
                        fill_id="extra",
                        qty_base=D("1.23456"),
                        fee=scheduled_fee(INSTRUMENTS[FILL.venue, "BTC/USD"], FILL.price_quote, D("1.23456")),
                    ),
                )
            },
        ),
        (K.FEE, {"fills": _swap(CLEAN.fills, FILL, replace(FILL, fee=FILL.fee * D("1.5")))}),
        (K.FEE, {"fills": _swap(CLEAN.fills, FILL, replace(FILL, fee_currency="EUR"))}),
        (K.MISSING_FILL, {"fills": tuple(f for f in CLEAN.fills if f is not FILL)}),
        (K.DUPLICATE_FILL, {"fills": (*CLEAN.fills, replace(FILL, event_id="redelivered"))}),
        (K.DUPLICATE_FILL, {"fills": (*CLEAN.fills, replace(FILL, event_id="again", fill_id="other-id"))}),
        (K.TIMESTAMP_ORDER, {"fills": _swap(CLEAN.fills, FILL, replace(FILL, order_ts_us=_order_of(FILL).ts_us - 1))}),
        (K.TIMESTAMP_ORDER, {"settlements": (replace(CLEAN.settlements[0], ts_us=T0 - 1), *CLEAN.settlements[1:])}),
        (K.SETTLEMENT_AMOUNT, {"settlements": _swap(CLEAN.settlements, BASE, replace(BASE, amount=D("3.9")))}),
        (K.TX_HASH, {"settlements": _swap(CLEAN.settlements, BASE, replace(BASE, tx_hash=None))}),
        (K.TX_HASH, {"settlements": _swap(CLEAN.settlements, BASE, replace(BASE, tx_hash="0x" + "ab" * 32))}),
        (K.CONFIRMATIONS, {"settlements": _swap(CLEAN.settlements, BASE, replace(BASE, confirmations=1))}),
    ],
)
def test_each_break_kind_from_a_crafted_case(kind, changes):
    result = CLEAN.recon(**changes)
    assert kinds(result) == {kind} and result.status is ReconStatus.BROKEN
    assert all(b.expected and b.actual and b.detail for b in result.breaks)


def test_price_break_beyond_tolerance():
    strict = SETTINGS.model_copy(update={"recon": SETTINGS.recon.model_copy(update={"price_tolerance_bps": D("1")})})
    assert kinds(CLEAN.recon(strict)) == {K.PRICE}


def test_order_without_any_report_is_a_missing_fill_after_the_timeout():
    lost = replace(_order_of(FILL), order_id="lost", event_id="lost", ts_us=CLEAN.now_us - 1_000_000)
    assert kinds(CLEAN.recon(orders=(*CLEAN.orders, lost))) == set()  # still within fill_timeout
    late = CLEAN.now_us + int(SETTINGS.recon.fill_timeout_s * 1_000_000)
    assert K.MISSING_FILL in kinds(CLEAN.recon(now_us=late, orders=(*CLEAN.orders, lost)))


def test_failed_settlement_and_timeout_are_breaks():
    failed = replace(BASE, state=SettlementState.FAILED, reason="INSUFFICIENT_FUNDS: bounced")
    assert kinds(CLEAN.recon(settlements=_swap(CLEAN.settlements, BASE, failed))) == {K.SETTLEMENT_AMOUNT}
    early = tuple(s for s in CLEAN.settlements if s.ts_us < BASE.ts_us - 1)  # legs not finished
    assert CLEAN.recon(settlements=early).status is ReconStatus.PENDING
    late = T0 + int(SETTINGS.recon.deal_timeout_s * 1_000_000)
    assert kinds(CLEAN.recon(now_us=late, settlements=early)) == {K.SETTLEMENT_AMOUNT}
    half = tuple(f for f in CLEAN.fills if f.order_id == FILL.order_id)
    assert K.QUANTITY in kinds(CLEAN.recon(now_us=late, fills=half, orders=()))


def test_state_accepts_any_order_dedups_and_revises():
    events = [CLEAN.trade, *CLEAN.orders, *CLEAN.fills, *CLEAN.settlements]
    forward, backward = ReconState("rfq-1"), ReconState("rfq-1")
    assert all(forward.add(e) for e in events) and not forward.add(events[3])  # redelivery dropped
    for e in reversed(events):
        backward.add(e)
    a = forward.evaluate(INSTRUMENTS, SETTINGS, CLEAN.now_us)
    b = backward.evaluate(INSTRUMENTS, SETTINGS, CLEAN.now_us)
    assert a is not None and b is not None and a.status is b.status is ReconStatus.MATCHED
    assert a.revision == 1 and forward.complete(INSTRUMENTS, SETTINGS, CLEAN.now_us)
    assert forward.evaluate(INSTRUMENTS, SETTINGS, CLEAN.now_us) is None  # nothing new
    forward.add(replace(FILL, event_id="redelivered"))  # late duplicate from the venue
    again = forward.evaluate(INSTRUMENTS, SETTINGS, CLEAN.now_us)
    assert again is not None and again.revision == 2 and again.status is ReconStatus.BROKEN
    assert again.event_id != a.event_id


def test_partial_state_is_pending_then_times_out():
    state = ReconState("rfq-1")
    state.add(CLEAN.orders[0])
    assert state.evaluate(INSTRUMENTS, SETTINGS, CLEAN.now_us) is None  # no trade yet
    state.add(CLEAN.trade)
    first = state.evaluate(INSTRUMENTS, SETTINGS, T0 + 1)
    assert first is not None and first.status is ReconStatus.PENDING
    late = T0 + int(SETTINGS.recon.deal_timeout_s * 1_000_000)
    assert state.timed_out(SETTINGS, late)
    final = state.evaluate(INSTRUMENTS, SETTINGS, late)
    assert final is not None and final.status is ReconStatus.BROKEN and final.revision == 2


def test_back_office_events_fit_their_avro_schemas():
    """Decimal scales included: every event of a deal survives an Avro round trip unchanged."""
    from otcdesk.serde import default_serde

    serde = default_serde()
    for event in (*CLEAN.orders, *CLEAN.fills, *CLEAN.settlements, CLEAN.recon()):
        assert serde.decode(serde.encode(event)) == event
