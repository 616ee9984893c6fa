"""ccxt order books -> `PriceUpdate` events with `Decimal` levels on the venue's tick and lot grid.

ccxt parses every venue's book into the same dict (`bids`/`asks` as `[price, amount, ...]`,
`timestamp` in ms, `nonce`), but its numbers are floats. Each one goes through `str()` first,
whose shortest round-trip text is the decimal the venue sent (`97010.54`, never the binary
`97010.539999999993597...`), and is then snapped to the instrument's grid: prices to the
nearest tick, sizes to the nearest lot. Snapping gives every level the same exponent (so two
books compare and serialize alike) and absorbs any float noise ccxt arithmetic may have added.
A level whose size snaps to zero carries nothing tradable and is dropped; levels that land on
the same price are merged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from otcdesk.events import BookLevel, PriceUpdate
from otcdesk.instruments import Instrument
from otcdesk.venues.constants import BOOK_DEPTH_LEVELS, EVENT_SOURCE

_US_PER_MS = 1000


def snap(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step` (banker's rounding, so neither side gains systematically)."""
    return (value / step).to_integral_value(ROUND_HALF_EVEN) * step


def to_levels(
    raw_levels: Iterable[Sequence[Any]],
    instrument: Instrument,
    *,
    best_first_descending: bool,
    depth: int,
) -> tuple[BookLevel, ...]:
    """The best `depth` levels on the instrument's grid; bids sort descending, asks ascending."""
    qty_by_price: dict[Decimal, Decimal] = {}
    for raw in raw_levels:
        price_quote = snap(Decimal(str(raw[0])), instrument.tick_size_quote)
        qty_base = snap(Decimal(str(raw[1])), instrument.lot_size_base)
        if qty_base > 0 and price_quote > 0:
            qty_by_price[price_quote] = qty_by_price.get(price_quote, Decimal(0)) + qty_base
    prices = sorted(qty_by_price, reverse=best_first_descending)[:depth]
    return tuple(BookLevel(price_quote=p, qty_base=qty_by_price[p]) for p in prices)


def price_update_from_book(
    book: Mapping[str, Any],
    instrument: Instrument,
    *,
    event_id: str,
    fallback_sequence: int,
    now_us: int,
    depth: int = BOOK_DEPTH_LEVELS,
    source: str = EVENT_SOURCE,
) -> PriceUpdate:
    """One `PriceUpdate` from a ccxt order book.

    The venue's own sequence (ccxt `nonce`, e.g. Binance `lastUpdateId`) is kept when the venue
    sends one, because it orders snapshots across reconnects; otherwise `fallback_sequence`.
    Event time is the venue's book time when it has one (Coinbase, OKX), else `now_us`.
    """
    nonce = book.get("nonce")
    timestamp_ms = book.get("timestamp")
    return PriceUpdate(
        event_id=event_id,
        ts_us=now_us if timestamp_ms is None else int(timestamp_ms) * _US_PER_MS,
        source=source,
        venue=instrument.venue,
        symbol=instrument.symbol,
        bids=to_levels(book.get("bids") or (), instrument, best_first_descending=True, depth=depth),
        asks=to_levels(book.get("asks") or (), instrument, best_first_descending=False, depth=depth),
        sequence=fallback_sequence if nonce is None else int(nonce),
        taker_fee_rate=instrument.taker_fee_rate,
        tick_size_quote=instrument.tick_size_quote,
        lot_size_base=instrument.lot_size_base,
    )


class BookParser:
    """Stateful wrapper: keeps a local sequence per instrument and asks the clock and id factory.

    The local counter only numbers books of venues that send no sequence of their own; it
    starts at 1 per (venue, symbol) and grows by one per parsed book.
    """

    def __init__(
        self,
        clock_us: Callable[[], int],
        new_event_id: Callable[[], str],
        depth: int = BOOK_DEPTH_LEVELS,
    ) -> None:
        self._clock_us = clock_us
        self._new_event_id = new_event_id
        self._depth = depth
        self._local_sequence: dict[tuple[str, str], int] = {}

    def parse(self, book: Mapping[str, Any], instrument: Instrument) -> PriceUpdate:
        key = (instrument.venue.value, instrument.symbol)
        sequence = self._local_sequence.get(key, 0) + 1
        self._local_sequence[key] = sequence
        return price_update_from_book(
            book,
            instrument,
            event_id=self._new_event_id(),
            fallback_sequence=sequence,
            now_us=self._clock_us(),
            depth=self._depth,
        )
