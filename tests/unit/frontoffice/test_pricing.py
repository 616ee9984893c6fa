from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from otcdesk.events import PriceUpdate, RejectReason, Side, Venue
from otcdesk.pricing import ConsolidatedBook, LevelCache, PricedRfq, PricingRefusal, price_rfq

from .conftest import T0, rfq, update

STALE_MS = 2000


def book(*updates: PriceUpdate, now_us: int = T0) -> ConsolidatedBook:
    return ConsolidatedBook("BTC/USD", updates, now_us, STALE_MS)


BIN = update(Venue.BINANCE, [("100", "1"), ("99", "2")], [("101", "1"), ("102", "2")], fee="0.001")
OKX = update(Venue.OKX, [("100.5", "1")], [("100.8", "1"), ("103", "5")], fee="0.002", tick="0.1")


def test_vwap_sweeps_across_venues_fee_adjusted() -> None:
    b = book(BIN, OKX)
    sweep = b.sweep(Side.BUY, D("2.5"))
    # best fee-adjusted asks: OKX 100.8*1.002=101.0016, BIN 101*1.001=101.101, BIN 102*1.001=102.102
    expected = (D("100.8") * D("1.002") + D("101") * D("1.001") + D("0.5") * D("102") * D("1.001")) / D("2.5")
    assert sweep.vwap_quote == expected.quantize(D("1e-10"))
    assert not sweep.insufficient and sweep.qty_filled_base == D("2.5")
    assert {a.venue: a.qty_base for a in sweep.allocations} == {Venue.BINANCE: D("1.5"), Venue.OKX: D("1")}
    assert {a.venue: a.levels_used for a in sweep.allocations} == {Venue.BINANCE: 2, Venue.OKX: 1}
    sell = b.sweep(Side.SELL, D("2"))
    assert sell.vwap_quote == ((D("100.5") * D("0.998") + D("100") * D("0.999")) / 2).quantize(D("1e-10"))
    assert b.mid_quote == (D("100.5") + D("100.8")) / 2
    assert (b.depth_bid_base, b.depth_ask_base) == (D("4"), D("9"))
    assert b.tick_quote == D("0.1")


def test_exhausted_levels_mean_insufficient_depth() -> None:
    sweep = book(BIN, OKX).sweep(Side.BUY, D("50"))
    assert sweep.insufficient and sweep.qty_filled_base == D("9")
    assert sweep.levels_used == 4


def test_stale_venue_is_excluded_with_reason() -> None:
    old = update(Venue.OKX, [("100.5", "1")], [("100.6", "1")], ts_us=T0 - 2_500_000, tick="0.1")
    b = book(BIN, old)
    assert b.venues_used == (Venue.BINANCE,)
    (excl,) = b.venues_excluded
    assert excl.venue is Venue.OKX and excl.reason.startswith("stale: book 2500 ms old")
    assert book(BIN, old, now_us=T0 - 1_000_000).venues_used == (Venue.BINANCE, Venue.OKX)


def test_crossed_and_empty_venues_are_excluded() -> None:
    crossed = update(Venue.KRAKEN, [("101.5", "1")], [("101", "1")])
    empty = update(Venue.COINBASE, [], [("101", "1")])
    b = book(BIN, crossed, empty)
    assert b.venues_used == (Venue.BINANCE,)
    reasons = {e.venue: e.reason for e in b.venues_excluded}
    assert reasons[Venue.KRAKEN].startswith("crossed") and reasons[Venue.COINBASE].startswith("empty")
    assert b.best_bid_quote == D("100") and b.depth_ask_base == D("3")


def test_latest_update_per_venue_wins() -> None:
    newer = update(Venue.BINANCE, [("110", "1")], [("111", "1")], ts_us=T0 + 1, sequence=2)
    assert book(newer, BIN, now_us=T0 + 1).best_bid_quote == D("110")


def test_takes_respect_each_venue_lot() -> None:
    coarse = update(Venue.BINANCE, [("100", "1")], [("101", "0.5")], lot="0.1")
    fine = update(Venue.OKX, [("100", "1")], [("101.5", "5")], lot="0.001")
    sweep = book(coarse, fine).sweep(Side.BUY, D("0.75"))
    assert {a.venue: a.qty_base for a in sweep.allocations} == {Venue.BINANCE: D("0.5"), Venue.OKX: D("0.25")}


def test_price_rfq_converts_notional_at_mid_floored_to_the_desk_lot() -> None:
    priced = price_rfq(rfq(Side.TWO_WAY, None, notional="1000"), book(BIN, OKX))
    assert isinstance(priced, PricedRfq)
    # mid 100.65 -> 9.93542...; desk lot = coarsest lot (0.00001)
    assert priced.qty_base == D("9.93541")
    assert priced.qty_base * priced.mid_quote <= D("1000")
    assert priced.requested_sides == (Side.SELL, Side.BUY)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (rfq(qty="0.000001"), RejectReason.INVALID_REQUEST),  # finer than the desk lot
        (rfq(qty="-1"), RejectReason.INVALID_REQUEST),
        (rfq(qty=None), RejectReason.INVALID_REQUEST),
        (rfq(qty="1", notional="100"), RejectReason.INVALID_REQUEST),
        (rfq(Side.UNKNOWN), RejectReason.INVALID_REQUEST),
    ],
)
def test_unpriceable_rfqs_are_refused(request_, reason) -> None:
    refusal = price_rfq(request_, book(BIN))
    assert isinstance(refusal, PricingRefusal) and refusal.reason is reason


def test_no_fresh_venue_is_refused_with_the_reasons() -> None:
    old = update(Venue.BINANCE, [("100", "1")], [("101", "1")], ts_us=T0 - 10_000_000)
    refusal = price_rfq(rfq(), book(old))
    assert isinstance(refusal, PricingRefusal) and refusal.reason is RejectReason.NO_FRESH_VENUE
    assert "BINANCE stale" in refusal.detail


# -- properties --------------------------------------------------------------------------------

VENUES = [Venue.BINANCE, Venue.COINBASE, Venue.OKX, Venue.KRAKEN]
FEES = st.sampled_from(["0", "0.001", "0.0015", "0.0026", "0.012"])


@st.composite
def venue_books(draw: st.DrawFn) -> list[PriceUpdate]:
    out = []
    for venue in draw(st.lists(st.sampled_from(VENUES), min_size=1, max_size=4, unique=True)):
        mid_ticks = draw(st.integers(9_400_000, 9_600_000))
        spread = draw(st.integers(1, 50))
        gaps = draw(st.lists(st.integers(1, 500), min_size=1, max_size=20))
        sizes = draw(st.lists(st.integers(1, 500_000), min_size=len(gaps), max_size=len(gaps)))
        bids, asks, b, a = [], [], mid_ticks, mid_ticks + spread
        for gap, size in zip(gaps, sizes, strict=True):
            bids.append((str(D(b) / 100), str(D(size) / 100_000)))
            asks.append((str(D(a) / 100), str(D(size) / 100_000)))
            b, a = b - gap, a + gap
        out.append(update(venue, bids, asks, fee=draw(FEES)))
    return out


@settings(max_examples=150, deadline=None)
@given(venue_books(), st.integers(1, 2_000_000))
def test_vwap_is_no_better_than_the_best_fee_adjusted_touch(books: list[PriceUpdate], lots: int) -> None:
    b = book(*books)
    qty = D(lots) / 100_000
    buy, sell = b.sweep(Side.BUY, qty), b.sweep(Side.SELL, qty)
    best_ask = min(u.asks[0].price_quote * (1 + u.taker_fee_rate) for u in books)
    best_bid = max(u.bids[0].price_quote * (1 - u.taker_fee_rate) for u in books)
    assert buy.vwap_quote is not None and sell.vwap_quote is not None
    assert buy.vwap_quote >= best_ask and sell.vwap_quote <= best_bid
    for sweep, depth in ((buy, b.depth_ask_base), (sell, b.depth_bid_base)):
        assert sweep.qty_filled_base == min(qty, depth)
        assert sweep.insufficient == (qty > depth)
        assert sum(a.qty_base for a in sweep.allocations) == sweep.qty_filled_base


@settings(max_examples=100, deadline=None)
@given(venue_books(), st.integers(1, 1_000_000), st.integers(1, 1_000_000))
def test_vwap_worsens_with_size(books: list[PriceUpdate], a: int, b_: int) -> None:
    small, large = sorted((D(a) / 100_000, D(b_) / 100_000))
    b = book(*books)
    buy_s, buy_l = b.sweep(Side.BUY, small), b.sweep(Side.BUY, large)
    sell_s, sell_l = b.sweep(Side.SELL, small), b.sweep(Side.SELL, large)
    assert buy_s.vwap_quote is not None and buy_l.vwap_quote is not None
    assert sell_s.vwap_quote is not None and sell_l.vwap_quote is not None
    assert buy_l.vwap_quote >= buy_s.vwap_quote and sell_l.vwap_quote <= sell_s.vwap_quote


def test_level_cache_reuses_the_merge_while_the_snapshots_are_the_same_objects() -> None:
    cache = LevelCache()
    first = ConsolidatedBook("BTC/USD", [BIN, OKX], T0, STALE_MS, cache)
    again = ConsolidatedBook("BTC/USD", [OKX, BIN], T0 + 1000, STALE_MS, cache)  # venue order is normalised
    assert again.asks is first.asks and again.bids is first.bids
    newer = update(Venue.OKX, [("100.5", "1")], [("100.9", "1")], fee="0.002", tick="0.1", ts_us=T0 + 10)
    moved = ConsolidatedBook("BTC/USD", [BIN, newer], T0 + 1000, STALE_MS, cache)
    assert moved.asks is not first.asks
    stale = ConsolidatedBook("BTC/USD", [BIN, newer], T0 + 10 + (STALE_MS + 1) * 1000, STALE_MS, cache)
    assert stale.venues_used == () and stale.asks == ()  # exclusions still judged per RFQ


@given(books=venue_books(), lots=st.integers(1, 400))
@settings(max_examples=60, deadline=None)
def test_a_cached_book_prices_as_a_fresh_one(books: list[PriceUpdate], lots: int) -> None:
    cache = LevelCache()
    ConsolidatedBook("BTC/USD", books, T0, STALE_MS, cache)  # fills the cache
    request = rfq(qty=str(D(lots) / 100))
    cached = price_rfq(request, ConsolidatedBook("BTC/USD", books, T0, STALE_MS, cache))
    assert cached == price_rfq(request, book(*books))
