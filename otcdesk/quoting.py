"""Quote engine core: a firm two-way price for the RFQ's size, explainable term by term.

    bid = floor_to_tick(vwap_bid - mid * half_spread_bps / 1e4 + mid * skew_bps / 1e4)
    ask =  ceil_to_tick(vwap_ask + mid * half_spread_bps / 1e4 + mid * skew_bps / 1e4)
    half_spread_bps = base(client tier) + size(notional tier) + impact + vol

- `vwap_*` is the fee-inclusive hedge cost of the full size (pricing.py), so the spread is pure
  margin and risk premium on top of what hedging would cost now.
- base: the client's tier (relationship, flow toxicity). size: a step by notional at mid
  (`size_tier_bps`, the highest threshold reached). impact: `impact_coef_bps *
  sqrt(qty / fresh depth)` on the thinner requested side - the square-root law: taking a big
  share of visible depth moves the market against the hedge. vol: `vol_sigmas * sigma *
  sqrt(hedge_horizon_s)` with sigma the realised volatility of recent mids - the move the desk
  may suffer while it carries the risk. All four are >= 0 and non-decreasing in size.
- skew: `-max_skew_bps * clamp(position / inventory_limit, -1, 1)`: a long desk lowers both
  prices (clients buy more from it, sell less to it), a short desk raises them.
- Rounding is outward on the desk tick (the coarsest venue tick): bid down, ask up, never in
  the client's favour by a fraction of a tick.

Every component is on the Quote (bps of mid, 6 decimals), so TCA can explain each quote.
Checks, in order: pricing refusals (no fresh venue, bad size), size limits, depth on every
requested side, then credit (outstanding notional of unsettled trades + this one at mid).
State objects (`VolatilityEstimator`, `Inventory`, `CreditLedger`) are idempotent per event id
so at-least-once redelivery never double counts.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise

from otcdesk.events import ExecType, Fill, Quote, QuoteRejected, RejectReason, Rfq, Side, TradeBooked
from otcdesk.ids import IdFactory
from otcdesk.instruments import base_of, quote_of
from otcdesk.pricing import ConsolidatedBook, PricedRfq, PricingRefusal, price_rfq
from otcdesk.settings import ClientSettings, QuoteSettings
from otcdesk.venues.constants import DESK_SYMBOLS

BPS = Decimal(10_000)
BPS_QUANTUM = Decimal("1e-6")  # Avro decimal(18, 6) of every *_bps field
ZERO = Decimal(0)
ONE = Decimal(1)


class VolatilityEstimator:
    """Realised volatility of the mid per symbol, in bps per sqrt(second), from a short window.

    Irregular sampling is fine: variance per second = sum(r^2) / sum(dt). At most one mid per
    `sample_ms` bucket of event time is kept (the earliest), so venue-book noise at feed cadence
    does not pass for volatility. Buckets are aligned on the epoch, not on the first mid seen,
    and `as_of_us` ignores later mids: the answer depends on event times only, not on the order
    in which RFQs of different partitions were priced.
    """

    def __init__(self, window: int, min_points: int, sample_ms: int, default: Decimal) -> None:
        self._window, self._min_points = window, min_points
        self._sample_us, self._default = max(sample_ms * 1000, 1), default
        self._mids: dict[str, dict[int, tuple[int, Decimal]]] = {}  # symbol -> bucket -> (ts, mid)

    @classmethod
    def from_settings(cls, s: QuoteSettings) -> VolatilityEstimator:
        return cls(s.vol_window, s.vol_min_points, s.vol_sample_ms, s.vol_default_bps_per_sqrt_s)

    def observe(self, symbol: str, ts_us: int, mid_quote: Decimal) -> None:
        buckets = self._mids.setdefault(symbol, {})
        bucket = ts_us // self._sample_us
        if bucket not in buckets or ts_us < buckets[bucket][0]:
            buckets[bucket] = (ts_us, mid_quote)
        if len(buckets) > 8 * self._window:  # keep memory bounded: drop the oldest buckets
            for old in sorted(buckets)[: len(buckets) - 4 * self._window]:
                del buckets[old]

    def sigma_bps_per_sqrt_s(self, symbol: str, as_of_us: int | None = None) -> Decimal:
        buckets = self._mids.get(symbol, {})
        points = [buckets[b] for b in sorted(buckets) if as_of_us is None or buckets[b][0] <= as_of_us]
        points = points[-self._window :]
        if len(points) < self._min_points:
            return self._default
        sum_sq = sum((((b / a) - 1) * BPS) ** 2 for (_, a), (_, b) in pairwise(points))
        seconds = Decimal(points[-1][0] - points[0][0]) / 1_000_000
        return (sum_sq / seconds).sqrt()


class Inventory:
    """Desk net position per base asset: client trades move it, hedge fills bring it back.

    Each movement is kept with its event time, so the position can be read as of an instant.
    """

    def __init__(self) -> None:
        self._moves: dict[str, list[tuple[int, Decimal]]] = {}  # asset -> (ts_us, delta)
        self._seen: set[str] = set()

    def position_base(self, asset: str, as_of_us: int | None = None) -> Decimal:
        return sum((d for ts, d in self._moves.get(asset, ()) if as_of_us is None or ts <= as_of_us), ZERO)

    def _add(self, key: str, asset: str, ts_us: int, delta: Decimal) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self._moves.setdefault(asset, []).append((ts_us, delta))

    def apply_trade(self, trade: TradeBooked) -> None:
        """A client BUY makes the desk short; a client SELL makes it long."""
        sign = -1 if trade.side is Side.BUY else 1
        self._add(f"trade:{trade.trade_id}", base_of(trade.symbol), trade.ts_us, sign * trade.qty_base)

    def apply_fill(self, fill: Fill) -> None:
        """A hedge fill is the desk's own venue trade: BUY adds to the position."""
        if fill.exec_type is ExecType.FILL:
            sign = 1 if fill.side is Side.BUY else -1
            self._add(f"fill:{fill.fill_id}", base_of(fill.symbol), fill.ts_us, sign * fill.qty_base)


class CreditLedger:
    """Per-client exposure: notional of booked trades not yet settled, against a limit.

    Bookings and releases keep their event times, so exposure can be read as of an instant.
    """

    def __init__(self, clients: ClientSettings) -> None:
        self._clients = clients
        self._open: dict[str, tuple[str, Decimal, int]] = {}  # trade_id -> (client, notional, ts_us)
        self._released: dict[str, int] = {}  # trade_id -> when the client's payment settled

    def limit_quote(self, client_id: str) -> Decimal:
        return self._clients.credit_limit_quote.get(client_id, self._clients.default_credit_limit_quote)

    def outstanding_quote(self, client_id: str, as_of_us: int | None = None) -> Decimal:
        def counts(trade_id: str, ts_us: int) -> bool:
            released = self._released.get(trade_id)
            if as_of_us is None:
                return released is None
            return ts_us <= as_of_us and (released is None or released > as_of_us)

        return sum((n for t, (c, n, ts) in self._open.items() if c == client_id and counts(t, ts)), ZERO)

    def apply_trade(self, trade: TradeBooked) -> None:
        self._open[trade.trade_id] = (trade.client_id, trade.notional_quote, trade.ts_us)

    def release(self, trade_id: str, ts_us: int = 0) -> None:
        """Settlement completed at `ts_us`: the exposure is gone from then on."""
        self._released[trade_id] = ts_us


@dataclass(frozen=True, slots=True)
class SpreadBreakdown:
    base_bps: Decimal
    size_bps: Decimal
    impact_bps: Decimal
    vol_bps: Decimal
    skew_bps: Decimal

    @property
    def half_spread_bps(self) -> Decimal:
        return self.base_bps + self.size_bps + self.impact_bps + self.vol_bps


def _q(bps: Decimal) -> Decimal:
    return bps.quantize(BPS_QUANTUM) + 0  # + 0 turns a quantized -0 into 0


def _to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding) * tick


class QuoteEngine:
    def __init__(
        self,
        settings: QuoteSettings,
        clients: ClientSettings,
        ids: IdFactory,
        *,
        volatility: VolatilityEstimator | None = None,
        inventory: Inventory | None = None,
        credit: CreditLedger | None = None,
        symbols: Collection[str] = DESK_SYMBOLS,
        source: str = "quote-engine",
        ttl_us: int | None = None,
    ) -> None:
        """`ttl_us`: a firm quote's lifetime in event-time microseconds (default `ttl_ms`)."""
        self.settings, self.clients, self._ids = settings, clients, ids
        self.ttl_us = settings.ttl_ms * 1000 if ttl_us is None else ttl_us
        self.volatility = volatility or VolatilityEstimator.from_settings(settings)
        self.inventory = inventory or Inventory()
        self.credit = credit or CreditLedger(clients)
        self.symbols, self.source = frozenset(symbols), source

    def spread(self, priced: PricedRfq) -> SpreadBreakdown:
        s, rfq = self.settings, priced.rfq
        tier = self.clients.tiers.get(rfq.client_id, self.clients.default_tier)
        notional = priced.notional_at_mid_quote
        size_bps = max((bps for floor, bps in s.size_tier_bps if notional >= floor), default=ZERO)
        depth = min(
            priced.depth_ask_base if side is Side.BUY else priced.depth_bid_base for side in priced.requested_sides
        )
        share = min(priced.qty_base / depth, ONE) if depth > 0 else ONE
        sigma = self.volatility.sigma_bps_per_sqrt_s(rfq.symbol)
        base = base_of(rfq.symbol)
        limit = s.inventory_limit_base.get(base)
        ratio = self.inventory.position_base(base) / limit if limit else ZERO
        return SpreadBreakdown(
            base_bps=_q(s.tier_base_bps.get(tier, max(s.tier_base_bps.values(), default=ZERO))),
            size_bps=_q(size_bps),
            impact_bps=_q(s.impact_coef_bps * share.sqrt()),
            vol_bps=_q(s.vol_sigmas * sigma * s.hedge_horizon_s.sqrt()),
            skew_bps=_q(-s.max_skew_bps * max(-ONE, min(ONE, ratio))),
        )

    def quote_rfq(self, rfq: Rfq, book: ConsolidatedBook | None, now_us: int) -> Quote | QuoteRejected:
        """Price on `book` (None: no book known for the symbol) and quote."""
        if rfq.symbol not in self.symbols or base_of(rfq.symbol) not in self.settings.max_qty_base:
            return self._reject(
                rfq,
                now_us,
                RejectReason.UNKNOWN_SYMBOL,
                f"{rfq.symbol!r} not quoted; the desk quotes {', '.join(sorted(self.symbols))}",
            )
        if book is None:
            return self._reject(rfq, now_us, RejectReason.NO_FRESH_VENUE, f"no venue book for {rfq.symbol}")
        return self.quote(price_rfq(rfq, book), now_us)

    def quote(self, priced: PricedRfq | PricingRefusal, now_us: int) -> Quote | QuoteRejected:
        if isinstance(priced, PricingRefusal):
            return self._reject(priced.rfq, now_us, priced.reason, priced.detail)
        rfq, s = priced.rfq, self.settings
        self.volatility.observe(rfq.symbol, priced.priced_at_us, priced.mid_quote)
        base = base_of(rfq.symbol)
        low, high = s.min_qty_base.get(base), s.max_qty_base.get(base)
        if low is None or high is None:
            return self._reject(rfq, now_us, RejectReason.UNKNOWN_SYMBOL, f"no size limits for {base}")
        if priced.qty_base < low:
            return self._reject(
                rfq, now_us, RejectReason.QTY_TOO_SMALL, f"qty {priced.qty_base} {base} < desk minimum {low} {base}"
            )
        if priced.qty_base > high:
            return self._reject(
                rfq, now_us, RejectReason.QTY_TOO_BIG, f"qty {priced.qty_base} {base} > desk maximum {high} {base}"
            )
        for side in priced.requested_sides:
            sweep = priced.sweep_for(side)
            if sweep.insufficient:
                return self._reject(
                    rfq,
                    now_us,
                    RejectReason.INSUFFICIENT_DEPTH,
                    (
                        f"{side.value} {priced.qty_base} {base}: only {sweep.qty_filled_base} {base} on "
                        f"fresh venues {','.join(v.value for v in priced.venues_used)}"
                    ),
                )
        notional = priced.notional_at_mid_quote
        outstanding = self.credit.outstanding_quote(rfq.client_id)
        limit = self.credit.limit_quote(rfq.client_id)
        if outstanding + notional > limit:
            return self._reject(
                rfq,
                now_us,
                RejectReason.CREDIT_LIMIT,
                (f"outstanding {outstanding:.2f} + this {notional:.2f} > limit {limit:.2f} {quote_of(rfq.symbol)}"),
            )
        return self._build(priced, self.spread(priced), now_us)

    def _build(self, priced: PricedRfq, spread: SpreadBreakdown, now_us: int) -> Quote:
        rfq, mid, tick = priced.rfq, priced.mid_quote, priced.tick_quote
        half = mid * spread.half_spread_bps / BPS
        skew = mid * spread.skew_bps / BPS
        # The side the client did not ask for is informational; priced at mid if it has no depth.
        vwap_bid = priced.bid.vwap_quote if priced.bid.vwap_quote is not None else mid
        vwap_ask = priced.ask.vwap_quote if priced.ask.vwap_quote is not None else mid
        return Quote(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            rfq_id=rfq.rfq_id,
            quote_id=self._ids.new(),
            client_id=rfq.client_id,
            symbol=rfq.symbol,
            side=rfq.side,
            qty_base=priced.qty_base,
            bid_price_quote=_to_tick(vwap_bid - half + skew, tick, ROUND_FLOOR),
            ask_price_quote=_to_tick(vwap_ask + half + skew, tick, ROUND_CEILING),
            mid_price_quote=mid,
            vwap_bid_quote=vwap_bid,
            vwap_ask_quote=vwap_ask,
            spread_base_bps=spread.base_bps,
            spread_size_bps=spread.size_bps,
            spread_impact_bps=spread.impact_bps,
            spread_vol_bps=spread.vol_bps,
            skew_bps=spread.skew_bps,
            depth_bid_base=priced.depth_bid_base,
            depth_ask_base=priced.depth_ask_base,
            venues_used=priced.venues_used,
            venues_excluded=priced.venues_excluded,
            valid_until_us=now_us + self.ttl_us,
        )

    def _reject(self, rfq: Rfq, now_us: int, reason: RejectReason, detail: str) -> QuoteRejected:
        return QuoteRejected(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            rfq_id=rfq.rfq_id,
            quote_id=None,
            client_id=rfq.client_id,
            symbol=rfq.symbol,
            reason=reason,
            detail=detail,
        )
