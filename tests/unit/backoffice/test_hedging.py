"""TWAP schedule, smart routing and the per-trade hedge tracker."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given, settings as hsettings, strategies as st

from otcdesk.events import ExecType, Fill, OrderState, Side, Venue
from otcdesk.hedging import HedgeTracker, floor_to, hedge_lot, limit_price, plan_twap, route_clip
from otcdesk.settings import HedgeSettings
from otcdesk.venue_sim import execute

from .conftest import T0, book, ladder, make_instruments, trade

INSTRUMENTS = make_instruments()
BOOKS = {v: ladder(v, "95000", qty="3") for v in (Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN)}


@hsettings(max_examples=150, deadline=None)
@given(
    lots=st.integers(min_value=1, max_value=50_000_000),  # up to 500 BTC in 1e-5 lots
    extra=st.integers(min_value=0, max_value=999),  # sub-lot digits the venues cannot trade
    side=st.sampled_from([Side.BUY, Side.SELL]),
    size_jitter=st.decimals(min_value=0, max_value=D("0.9"), places=2),
    time_jitter=st.decimals(min_value=0, max_value=D("0.49"), places=2),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_twap_clips_sum_exactly_to_qty_in_lot_precision(lots, extra, side, size_jitter, time_jitter, seed):
    qty = D(lots) * D("0.00001") + D(extra) * D("0.00000001")
    cfg = HedgeSettings(size_jitter=size_jitter, time_jitter=time_jitter)
    plan = plan_twap(trade(side, str(qty)), BOOKS, INSTRUMENTS, cfg, random.Random(seed), T0)
    lot = hedge_lot("BTC/USD", INSTRUMENTS)
    assert plan.qty_base == floor_to(qty, lot)
    assert sum((c.qty_base for c in plan.clips), D(0)) == plan.qty_base
    assert plan.qty_base + plan.residual_qty_base == qty and plan.residual_qty_base < lot
    assert all(c.qty_base > 0 and c.qty_base % lot == 0 for c in plan.clips)
    assert len(plan.clips) <= cfg.max_clips
    times = [c.send_at_us for c in plan.clips]
    assert times[0] == T0 and times == sorted(times)


def test_twap_horizon_grows_with_share_of_depth(settings):
    small = plan_twap(trade(qty="0.5"), BOOKS, INSTRUMENTS, settings.hedge, random.Random(1), T0)
    big = plan_twap(trade(qty="60"), BOOKS, INSTRUMENTS, settings.hedge, random.Random(1), T0)
    assert small.horizon_s == settings.hedge.min_horizon_s
    assert big.horizon_s > small.horizon_s and len(big.clips) > len(small.clips)


def test_twap_is_deterministic_for_a_seed(settings):
    plans = [plan_twap(trade(qty="40"), BOOKS, INSTRUMENTS, settings.hedge, random.Random(9), T0) for _ in range(2)]
    assert plans[0] == plans[1]


def test_routing_picks_the_cheapest_venue_after_fees(settings):
    books = {  # Coinbase has the best raw ask, but its 1.2 % taker fee makes it the dearest
        Venue.COINBASE: book(Venue.COINBASE, [("94900", "5")], [("94950", "5")]),
        Venue.BINANCE: book(Venue.BINANCE, [("94990", "5")], [("95010", "5")]),
        Venue.KRAKEN: book(Venue.KRAKEN, [("95100", "5")], [("95000", "5")]),
    }
    buy = route_clip(D("1"), Side.BUY, books, INSTRUMENTS, settings.hedge)
    assert buy is not None and buy.venue is Venue.BINANCE
    assert buy.fee_adjusted_price_quote == D("95010") * D("1.001")
    # selling: Kraken's 95100 bid nets 95100 * (1 - 0.0026) = 94852.74 < Binance 94990 * 0.999
    sell = route_clip(D("1"), Side.SELL, books, INSTRUMENTS, settings.hedge)
    assert sell is not None and sell.venue is Venue.BINANCE


def test_participation_cap_limits_each_order(settings):
    cfg = settings.hedge.model_copy(update={"participation_cap": D("0.1")})
    books = {v: ladder(v, "95000", qty="3") for v in (Venue.BINANCE, Venue.KRAKEN)}
    route = route_clip(D("10"), Side.BUY, books, INSTRUMENTS, cfg)
    assert route is not None and route.qty_base == D("3")  # 10 % of 30 visible
    plan = plan_twap(trade(qty="10"), books, INSTRUMENTS, cfg.model_copy(update={"max_clips": 1}), random.Random(2), T0)
    tracker = HedgeTracker(trade(qty="10"), plan, INSTRUMENTS, cfg)
    orders = tracker.due_orders(books, T0)
    assert {o.venue for o in orders} == {Venue.BINANCE, Venue.KRAKEN}
    assert all(o.qty_base <= D("3") for o in orders)
    assert tracker.pending_qty_base == D("4")  # the rest waits for fresh books


def test_limit_price_protects_by_bps_on_the_tick():
    assert limit_price(D("95000"), Side.BUY, D("10"), D("0.1")) == D("95095.0")
    assert limit_price(D("95000.05"), Side.SELL, D("10"), D("0.1")) == D("94905.0")


def _fill(order, fill_id: str, qty: str, price: str = "95001", exec_type=ExecType.FILL) -> Fill:
    return Fill(
        f"ev-{fill_id}",
        order.ts_us + 10,
        "venue:X",
        order.rfq_id,
        fill_id,
        order.order_id,
        order.trade_id,
        order.venue,
        order.symbol,
        order.side,
        exec_type,
        D(price),
        D(qty),
        D("1"),
        "USDT",
        None if exec_type is ExecType.FILL else "VENUE_REJECT",
        order.ts_us + 10,
    )


def _tracker(qty: str = "1", settings: HedgeSettings | None = None) -> HedgeTracker:
    cfg = (settings or HedgeSettings()).model_copy(update={"max_clips": 1})
    t = trade(qty=qty)
    return HedgeTracker(t, plan_twap(t, BOOKS, INSTRUMENTS, cfg, random.Random(1), T0), INSTRUMENTS, cfg)


def test_tracker_ignores_duplicate_fills():
    tracker = _tracker("1")
    (order,) = tracker.due_orders(BOOKS, T0)
    first = tracker.on_fill(_fill(order, "f1", "0.4"))
    assert first is not None and first.state is OrderState.PARTIALLY_FILLED
    assert tracker.on_fill(_fill(order, "f1", "0.4")) is None
    assert tracker.on_fill(replace(_fill(order, "f1", "0.4"), event_id="other")) is None
    last = tracker.on_fill(_fill(order, "f2", "0.6", price="95003"))
    assert last is not None and last.state is OrderState.FILLED
    progress = tracker.progress()
    assert progress.filled_qty_base == D("1") and progress.done and progress.filled_pct == D("100.00")
    assert progress.avg_price_quote == D("95002.2")  # (0.4 * 95001 + 0.6 * 95003) / 1


def test_rejected_order_is_re_routed_as_a_new_clip():
    tracker = _tracker("1")
    (order,) = tracker.due_orders(BOOKS, T0)
    rejected = tracker.on_fill(_fill(order, "r1", "0", "0", ExecType.REJECT))
    assert rejected is not None and rejected.state is OrderState.REJECTED
    assert tracker.pending_qty_base == D("0")  # the quantity comes back with the venue's report
    report = replace(order, source="venue:BINANCE", state=OrderState.REJECTED, ts_us=order.ts_us + 11)
    assert tracker.on_venue_report(report) is not None and tracker.pending_qty_base == D("1")
    (again,) = tracker.due_orders(BOOKS, T0 + 1000)
    assert again.order_id != order.order_id and again.qty_base == D("1") and again.clip_index == order.clip_index


def test_ioc_remainder_reported_by_the_venue_is_re_routed(settings):
    tracker = _tracker("1")
    (order,) = tracker.due_orders(BOOKS, T0)
    thin = {order.venue: book(order.venue, [("94999", "1")], [("95001", "0.3")])}
    result = execute(
        order,
        thin[order.venue],
        INSTRUMENTS[(order.venue, "BTC/USD")],
        settings.venue_sim.model_copy(update={"reject_prob": 0.0}),
        random.Random(5),
    )
    for f in result.fills:
        tracker.on_fill(f)
    closed = tracker.on_venue_report(result.report)
    assert closed is not None and closed.state is OrderState.CANCELLED and closed.filled_qty_base == D("0.3")
    assert tracker.pending_qty_base == D("0.7")
    assert tracker.on_venue_report(result.report) is None  # idempotent
    assert tracker.due_orders(BOOKS, result.report.ts_us - 1) == []  # due when the venue said so
    assert sum((o.qty_base for o in tracker.due_orders(BOOKS, result.report.ts_us)), D(0)) == D("0.7")


def test_unanswered_order_is_asked_about_not_re_routed():
    """A timeout re-sends the order (the venue answers with its report); it never returns quantity:
    the order may only be late, and re-routing its rest on top of late fills over-hedges."""
    tracker = _tracker("1")
    (order,) = tracker.due_orders(BOOKS, T0)
    timeout_us = HedgeSettings().order_timeout_ms * 1000
    assert tracker.expire(T0 + 1000) == []
    (asked,) = tracker.expire(T0 + timeout_us)
    assert asked == order  # the very order, same event id: consumers that have it drop it
    assert tracker.pending_qty_base == 0 and tracker.due_orders(BOOKS, T0 + 10 * timeout_us) == []
    assert tracker.expire(T0 + timeout_us + 1000) == []  # asked again only after another timeout
    assert tracker.expire(T0 + 2 * timeout_us) == [order]
    assert not tracker.progress().done and tracker.progress().working_orders == 1


def test_late_fills_after_a_timeout_hedge_the_trade_once():
    """The over-hedge of docs/reliability.md: the venue filled 0.6 late, its report says so."""
    tracker = _tracker("1")
    (order,) = tracker.due_orders(BOOKS, T0)
    late_us = T0 + 3 * HedgeSettings().order_timeout_ms * 1000
    tracker.expire(late_us - 1)
    tracker.on_fill(_fill(order, "f1", "0.6"))
    report = replace(order, source="venue:BINANCE", state=OrderState.CANCELLED, filled_qty_base=D("0.6"), ts_us=late_us)
    tracker.on_venue_report(report)
    rest = tracker.due_orders(BOOKS, late_us)
    assert sum((o.qty_base for o in rest), D(0)) == D("0.4")  # only what the venue did not fill


def test_a_recorded_order_is_replayed_as_sent_not_routed_again():
    """A restarted hedger replays its routings: an order already on `orders` keeps its venue and size."""
    (order,) = _tracker("1").due_orders(BOOKS, T0)
    other = replace(order, venue=Venue.KRAKEN, qty_base=D("1"))
    tracker = _tracker("1")
    tracker.recorded = {order.order_id: other}
    (again,) = tracker.due_orders({}, T0)  # no books at all: the recorded order needs none
    assert again.order_id == order.order_id and again.venue is Venue.KRAKEN


def test_quantity_no_venue_takes_is_retried_in_event_time_then_left_open():
    tracker = _tracker("1")
    assert tracker.due_orders({}, T0) == []  # no book at all: nothing routable
    assert tracker.pending_qty_base == D("1")
    step_us = int(HedgeSettings().interval_s * 1_000_000)
    assert tracker.next_action_us() == T0 + step_us  # the retry is one TWAP interval later
    tracker.due_orders({}, T0 + 100 * step_us)  # every retry in between, each at its own time
    progress = tracker.progress()
    assert tracker.pending_qty_base == 0 and progress.abandoned_qty_base == D("1")
    assert progress.done and progress.remaining_qty_base == 0
