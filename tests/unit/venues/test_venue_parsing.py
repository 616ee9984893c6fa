"""ccxt order book dicts become PriceUpdates with Decimal levels on the venue's grid."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from itertools import count

from hypothesis import given, strategies as st

from otcdesk.events import BookLevel, Venue
from otcdesk.instruments import Instrument
from otcdesk.venues.parsing import BookParser, price_update_from_book, to_levels

D = Decimal

BTC_OKX = Instrument(
    venue=Venue.OKX,
    symbol="BTC/USD",
    venue_symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    tick_size_quote=D("0.1"),
    lot_size_base=D("0.00000001"),
    min_qty_base=D("0.00001"),
    taker_fee_rate=D("0.0015"),
    maker_fee_rate=D("0.001"),
)


def _book(**overrides: object) -> dict[str, object]:
    book: dict[str, object] = {
        "symbol": "BTC/USDT",
        "bids": [[97012.2, 1.818586, 0], [97012.0, 3.140968, 0], [97011.9, 0.1 + 0.2, 0]],
        "asks": [[97012.3, 1.144352, 0], [97014.3, 2.368827, 0]],
        "timestamp": 1767225600130,
        "datetime": "2026-01-01T00:00:00.130Z",
        "nonce": None,
    }
    book.update(overrides)
    return book


def test_levels_are_decimals_best_first() -> None:
    update = price_update_from_book(_book(), BTC_OKX, event_id="e1", fallback_sequence=7, now_us=1)

    assert update.bids == (
        BookLevel(D("97012.2"), D("1.818586")),
        BookLevel(D("97012.0"), D("3.140968")),
        BookLevel(D("97011.9"), D("0.3")),  # 0.30000000000000004 snapped to the 1e-8 lot
    )
    assert update.asks == (
        BookLevel(D("97012.3"), D("1.144352")),
        BookLevel(D("97014.3"), D("2.368827")),
    )
    for level in update.bids + update.asks:
        assert type(level.price_quote) is Decimal and type(level.qty_base) is Decimal


def test_carries_instrument_metadata_and_desk_symbol() -> None:
    update = price_update_from_book(_book(), BTC_OKX, event_id="e1", fallback_sequence=7, now_us=1)

    assert (update.venue, update.symbol, update.key) == (Venue.OKX, "BTC/USD", "OKX:BTC/USD")
    assert update.taker_fee_rate == D("0.0015")
    assert (update.tick_size_quote, update.lot_size_base) == (D("0.1"), D("0.00000001"))


def test_venue_time_and_sequence_win_over_local_ones() -> None:
    with_venue = price_update_from_book(_book(nonce=73461234567), BTC_OKX, event_id="e", fallback_sequence=7, now_us=5)
    without = price_update_from_book(_book(timestamp=None), BTC_OKX, event_id="e", fallback_sequence=7, now_us=5)

    assert (with_venue.ts_us, with_venue.sequence) == (1767225600130000, 73461234567)
    assert (without.ts_us, without.sequence) == (5, 7)


def test_unsorted_off_grid_duplicate_and_empty_levels() -> None:
    raw = [[100.04, 1.0], [100.26, 0.5], [100.0, 2.0], [99.96, 0.000000001], [100.3, 0.25]]

    asks = to_levels(raw, BTC_OKX, best_first_descending=False, depth=10)
    bids = to_levels(raw, BTC_OKX, best_first_descending=True, depth=2)

    # 100.04 and 100.0 snap to 100.0 and merge; 100.26 -> 100.3 merges with 100.3;
    # the 1e-9 size snaps to zero lots and is dropped.
    assert asks == (BookLevel(D("100.0"), D("3.0")), BookLevel(D("100.3"), D("0.75")))
    assert bids == (BookLevel(D("100.3"), D("0.75")), BookLevel(D("100.0"), D("3.0")))


def test_top_n_levels_only() -> None:
    raw = [[100 + i / 10, 1.0] for i in range(20)]

    assert len(to_levels(raw, BTC_OKX, best_first_descending=True, depth=5)) == 5


def test_book_parser_numbers_books_per_instrument_when_the_venue_does_not() -> None:
    ids = count(1)
    parser = BookParser(clock_us=lambda: 42, new_event_id=lambda: f"id-{next(ids)}")
    eth = dataclasses.replace(BTC_OKX, symbol="ETH/USD")

    first, second = parser.parse(_book(), BTC_OKX), parser.parse(_book(), BTC_OKX)
    other = parser.parse(_book(), eth)

    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)
    assert (first.event_id, second.event_id, other.event_id) == ("id-1", "id-2", "id-3")


@given(
    ticks=st.integers(min_value=1, max_value=10**11),
    exponent=st.integers(min_value=-8, max_value=0),
)
def test_str_of_a_ccxt_float_recovers_the_venue_decimal(ticks: int, exponent: int) -> None:
    # Why Decimal(str(x)) is safe: a venue decimal of <= 15 significant digits survives
    # ccxt's float() and comes back exactly from the shortest repr.
    venue_text = str(Decimal(ticks).scaleb(exponent))

    assert Decimal(str(float(venue_text))) == Decimal(venue_text)
