"""The aggregator's pricing on the wire: `PricedRfq | PricingRefusal` <-> `RfqPriced` event.

The aggregator and the quote engine are separate stages (separate consumer groups, lag and
scaling), joined by the internal `rfq-priced` topic; this module is the only place that knows
how the in-memory pricing maps onto that event.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from otcdesk.events import Rfq, RfqPriced, Side, SweepAllocation
from otcdesk.ids import IdFactory
from otcdesk.pricing import PricedRfq, PricingRefusal, Sweep, VenueAllocation

ZERO = Decimal(0)
PRICE_SCALE = Decimal("1e-10")  # decimal(28, 10) on the wire


def _money(value: Decimal) -> Decimal:
    """Sweep costs carry every digit of qty x price x (1 +- fee); the wire keeps 10 decimals."""
    return value.quantize(PRICE_SCALE, ROUND_HALF_EVEN)


def _rfq_fields(rfq: Rfq) -> dict[str, object]:
    return dict(
        rfq_id=rfq.rfq_id,
        client_id=rfq.client_id,
        symbol=rfq.symbol,
        side=rfq.side,
        requested_qty_base=rfq.qty_base,
        requested_notional_quote=rfq.notional_quote,
        rfq_event_id=rfq.event_id,
        rfq_ts_us=rfq.ts_us,
        client_ref=rfq.client_ref,
    )


def to_event(
    priced: PricedRfq | PricingRefusal,
    ids: IdFactory,
    now_us: int,
    source: str = "aggregator",
    tick_quote: Decimal = ZERO,
) -> RfqPriced:
    common: dict[str, Any] = dict(event_id=ids.new(), ts_us=now_us, source=source, **_rfq_fields(priced.rfq))
    if isinstance(priced, PricingRefusal):
        return RfqPriced(
            **common,
            refusal_reason=priced.reason,
            refusal_detail=priced.detail,
            qty_base=ZERO,
            mid_price_quote=ZERO,
            tick_quote=tick_quote,
            bid_vwap_quote=None,
            bid_filled_base=ZERO,
            bid_cost_quote=ZERO,
            ask_vwap_quote=None,
            ask_filled_base=ZERO,
            ask_cost_quote=ZERO,
            depth_bid_base=ZERO,
            depth_ask_base=ZERO,
            venues_used=(),
            venues_excluded=(),
            allocations=(),
            priced_at_us=now_us,
        )
    allocations = tuple(
        SweepAllocation(sweep.side, a.venue, a.qty_base, _money(a.cost_quote), a.levels_used)
        for sweep in (priced.bid, priced.ask)
        for a in sweep.allocations
    )
    return RfqPriced(
        **common,
        refusal_reason=None,
        refusal_detail=None,
        qty_base=priced.qty_base,
        mid_price_quote=priced.mid_quote,
        tick_quote=priced.tick_quote,
        bid_vwap_quote=priced.bid.vwap_quote,
        bid_filled_base=priced.bid.qty_filled_base,
        bid_cost_quote=_money(priced.bid.cost_quote),
        ask_vwap_quote=priced.ask.vwap_quote,
        ask_filled_base=priced.ask.qty_filled_base,
        ask_cost_quote=_money(priced.ask.cost_quote),
        depth_bid_base=priced.depth_bid_base,
        depth_ask_base=priced.depth_ask_base,
        venues_used=priced.venues_used,
        venues_excluded=priced.venues_excluded,
        allocations=allocations,
        priced_at_us=priced.priced_at_us,
    )


def _sweep(event: RfqPriced, side: Side) -> Sweep:
    buy = side is Side.BUY
    return Sweep(
        side=side,
        qty_requested_base=event.qty_base,
        qty_filled_base=event.ask_filled_base if buy else event.bid_filled_base,
        cost_quote=event.ask_cost_quote if buy else event.bid_cost_quote,
        vwap_quote=event.ask_vwap_quote if buy else event.bid_vwap_quote,
        allocations=tuple(
            VenueAllocation(a.venue, a.qty_base, a.cost_quote, a.levels_used)
            for a in event.allocations
            if a.side is side
        ),
    )


def from_event(event: RfqPriced) -> PricedRfq | PricingRefusal:
    # The Rfq's `source` is not carried on the wire; nothing downstream reads it.
    rfq = Rfq(
        event_id=event.rfq_event_id,
        ts_us=event.rfq_ts_us,
        source="rfq",
        rfq_id=event.rfq_id,
        client_id=event.client_id,
        symbol=event.symbol,
        side=event.side,
        qty_base=event.requested_qty_base,
        notional_quote=event.requested_notional_quote,
        client_ref=event.client_ref,
    )
    if event.refusal_reason is not None:
        return PricingRefusal(rfq, event.refusal_reason, event.refusal_detail or "")
    return PricedRfq(
        rfq=rfq,
        qty_base=event.qty_base,
        mid_quote=event.mid_price_quote,
        bid=_sweep(event, Side.SELL),
        ask=_sweep(event, Side.BUY),
        depth_bid_base=event.depth_bid_base,
        depth_ask_base=event.depth_ask_base,
        venues_used=event.venues_used,
        venues_excluded=event.venues_excluded,
        tick_quote=event.tick_quote,
        priced_at_us=event.priced_at_us,
    )
