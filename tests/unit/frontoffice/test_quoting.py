from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from otcdesk.events import ExecType, Fill, Quote, QuoteRejected, RejectReason, Side, TradeBooked, Venue
from otcdesk.ids import IdFactory
from otcdesk.pricing import ConsolidatedBook, PricedRfq, price_rfq
from otcdesk.quoting import CreditLedger, Inventory, QuoteEngine, VolatilityEstimator
from otcdesk.serde import default_serde
from otcdesk.settings import ClientSettings, QuoteSettings

from .conftest import T0, rfq, update

BPS = D(10_000)


def deep_book(levels: int = 20, qty: str = "2", fee: str = "0.001", now_us: int = T0) -> ConsolidatedBook:
    bids = [(str(D("95000") - 10 * i), str(D(qty) * (1 + D(i) / 4))) for i in range(levels)]
    asks = [(str(D("95001") + 10 * i), str(D(qty) * (1 + D(i) / 4))) for i in range(levels)]
    other = update(Venue.OKX, [("94999.9", "1")], [("95001.1", "1")], tick="0.1", lot="0.00000001", fee="0.0015")
    return ConsolidatedBook("BTC/USD", [update(Venue.BINANCE, bids, asks, fee=fee), other], now_us, 2000)


def engine(**quote_overrides: object) -> QuoteEngine:
    return QuoteEngine(QuoteSettings(**quote_overrides), ClientSettings(), IdFactory.from_seed(1, "q"))


def trade(side: Side, qty: str, client: str = "ACME", notional: str = "0", trade_id: str = "t-1") -> TradeBooked:
    return TradeBooked(
        "e", T0, "test", "r", trade_id, "q", client, "BTC/USD", side, D(qty), D("95000"), D(notional), D(0), D("95000")
    )


def test_quote_is_vwap_plus_spread_on_the_desk_tick() -> None:
    q = engine().quote_rfq(rfq(Side.TWO_WAY, "10"), deep_book(), T0)
    assert isinstance(q, Quote)
    half = q.spread_base_bps + q.spread_size_bps + q.spread_impact_bps + q.spread_vol_bps
    assert q.spread_base_bps == D(2)  # ACME is tier A
    amount = q.mid_price_quote * half / BPS
    assert q.bid_price_quote % D("0.1") == 0 and q.ask_price_quote % D("0.1") == 0  # OKX's tick
    assert q.vwap_bid_quote - amount - D("0.1") < q.bid_price_quote <= q.vwap_bid_quote - amount
    assert q.vwap_ask_quote + amount <= q.ask_price_quote < q.vwap_ask_quote + amount + D("0.1")
    assert q.valid_until_us == T0 + 5_000_000 and q.venues_used == (Venue.BINANCE, Venue.OKX)
    assert default_serde().decode(default_serde().encode(q)) == q


@hsettings(max_examples=80, deadline=None)
@given(
    st.integers(1, 15_000),
    st.integers(1, 15_000),
    st.sampled_from(list(Side)[:3]),
    st.sampled_from(["ACME", "CORVUS", "NOBODY"]),
)
def test_spread_components_do_not_shrink_with_size(a: int, b: int, side: Side, client: str) -> None:
    small, large = sorted((D(a) / 100, D(b) / 100))
    eng, book = engine(), deep_book()
    p_small, p_large = (
        price_rfq(rfq(side, str(small), client=client), book),
        price_rfq(rfq(side, str(large), client=client), book),
    )
    assert isinstance(p_small, PricedRfq) and isinstance(p_large, PricedRfq)
    s, l_ = eng.spread(p_small), eng.spread(p_large)
    for name in ("base_bps", "size_bps", "impact_bps", "vol_bps"):
        assert getattr(l_, name) >= getattr(s, name) >= 0, name
    assert l_.half_spread_bps >= s.half_spread_bps


@hsettings(max_examples=60, deadline=None)
@given(st.integers(-400, 400))
def test_skew_shades_prices_toward_reducing_the_position(position: int) -> None:
    eng = engine()
    flat = eng.quote_rfq(rfq(Side.TWO_WAY, "5"), deep_book(), T0)
    if position:
        eng.inventory.apply_trade(trade(Side.SELL if position > 0 else Side.BUY, str(abs(position))))
    q = eng.quote_rfq(rfq(Side.TWO_WAY, "5"), deep_book(), T0)
    assert isinstance(flat, Quote) and isinstance(q, Quote)
    assert eng.inventory.position_base("BTC") == position
    if position > 0:  # desk long: lower both prices
        assert q.skew_bps < 0
        assert q.bid_price_quote <= flat.bid_price_quote and q.ask_price_quote <= flat.ask_price_quote
    elif position < 0:
        assert q.skew_bps > 0
        assert q.bid_price_quote >= flat.bid_price_quote and q.ask_price_quote >= flat.ask_price_quote
    else:
        assert q.skew_bps == 0 and str(q.skew_bps) == "0.000000"
    assert abs(q.skew_bps) <= QuoteSettings().max_skew_bps
    assert q.bid_price_quote < q.ask_price_quote


def reason(result: Quote | QuoteRejected) -> RejectReason:
    assert isinstance(result, QuoteRejected), result
    assert result.quote_id is None and result.detail
    return result.reason


def test_rejects_unknown_symbol_and_size_limits() -> None:
    eng, book = engine(), deep_book()
    assert reason(eng.quote_rfq(rfq(symbol="DOGE/USD"), None, T0)) is RejectReason.UNKNOWN_SYMBOL
    assert reason(eng.quote_rfq(rfq(qty="0.001"), book, T0)) is RejectReason.QTY_TOO_SMALL
    big = eng.quote_rfq(rfq(qty="600"), book, T0)
    assert reason(big) is RejectReason.QTY_TOO_BIG and "600" in big.detail
    assert reason(eng.quote_rfq(rfq(qty=None, notional="10"), book, T0)) is RejectReason.QTY_TOO_SMALL


def test_rejects_without_fresh_venue() -> None:
    eng = engine()
    assert reason(eng.quote_rfq(rfq(), None, T0)) is RejectReason.NO_FRESH_VENUE
    stale = deep_book(now_us=T0 + 3_000_000)
    assert reason(eng.quote_rfq(rfq(), stale, T0 + 3_000_000)) is RejectReason.NO_FRESH_VENUE


def test_insufficient_depth_only_on_requested_sides() -> None:
    thin = update(Venue.BINANCE, [("95000", "1")], [("95001", "300")])
    book = ConsolidatedBook("BTC/USD", [thin], T0, 2000)
    eng = engine()
    assert isinstance(eng.quote_rfq(rfq(Side.BUY, "200"), book, T0), Quote)
    rejected = eng.quote_rfq(rfq(Side.TWO_WAY, "200"), book, T0)
    assert reason(rejected) is RejectReason.INSUFFICIENT_DEPTH
    assert isinstance(rejected, QuoteRejected) and "only 1 BTC" in rejected.detail
    assert reason(eng.quote_rfq(rfq(Side.SELL, "200"), book, T0)) is RejectReason.INSUFFICIENT_DEPTH


def test_credit_limit_counts_open_trades_until_settled() -> None:
    eng = engine()
    limit = ClientSettings().credit_limit_quote["CORVUS"]
    eng.credit.apply_trade(trade(Side.BUY, "30", client="CORVUS", notional=str(limit - 100_000)))
    rejected = eng.quote_rfq(rfq(Side.BUY, "2", client="CORVUS"), deep_book(), T0)
    assert reason(rejected) is RejectReason.CREDIT_LIMIT
    assert isinstance(rejected, QuoteRejected) and "limit 3000000.00" in rejected.detail
    assert isinstance(eng.quote_rfq(rfq(Side.BUY, "2", client="ACME"), deep_book(), T0), Quote)
    eng.credit.release("t-1")
    assert isinstance(eng.quote_rfq(rfq(Side.BUY, "2", client="CORVUS"), deep_book(), T0), Quote)


def test_inventory_is_idempotent_and_hedge_fills_flatten_it() -> None:
    inv = Inventory()
    inv.apply_trade(trade(Side.BUY, "3"))
    inv.apply_trade(trade(Side.BUY, "3"))  # redelivered
    assert inv.position_base("BTC") == D("-3")
    fill = Fill(
        "e",
        T0,
        "v",
        "r",
        "f-1",
        "o",
        "t-1",
        Venue.BINANCE,
        "BTC/USD",
        Side.BUY,
        ExecType.FILL,
        D("95000"),
        D("3"),
        D("1"),
        "USDT",
        None,
        T0,
    )
    inv.apply_fill(fill)
    assert inv.position_base("BTC") == 0


def test_volatility_estimator() -> None:
    est = VolatilityEstimator(window=50, min_points=5, sample_ms=1000, default=D("1.5"))
    assert est.sigma_bps_per_sqrt_s("BTC/USD") == D("1.5")
    for i in range(10):
        est.observe("BTC/USD", T0 + i * 1_000_000, D(95000))
        est.observe("BTC/USD", T0 + i * 1_000_000 + 250_000, D(96000))  # inside sample_ms: ignored
    assert est.sigma_bps_per_sqrt_s("BTC/USD") == 0
    est2 = VolatilityEstimator(window=50, min_points=5, sample_ms=0, default=D(0))
    for i in range(20):  # +/- 1 bp every second: sigma = 1 bp / sqrt(s)
        est2.observe("X", T0 + i * 1_000_000, D(10000) + (i % 2))
    assert est2.sigma_bps_per_sqrt_s("X") == pytest.approx(D(1), rel=D("0.01"))
    eng = engine()
    calm = eng.spread(price_rfq(rfq(qty="1"), deep_book()))
    for i in range(20):
        eng.volatility.observe("BTC/USD", T0 + i * 1_000_000, D(95000) * (1 + D(i % 2) / 1000))
    assert eng.spread(price_rfq(rfq(qty="1"), deep_book())).vol_bps > calm.vol_bps


def test_credit_ledger_defaults() -> None:
    ledger = CreditLedger(ClientSettings())
    assert ledger.limit_quote("UNKNOWN") == ClientSettings().default_credit_limit_quote
    assert ledger.outstanding_quote("ACME") == 0
