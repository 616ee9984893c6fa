"""Price aggregator core: the consolidated book of the fresh venues and what a size costs on it.

The desk prices an RFQ at what hedging it would cost right now: sweep the merged books of every
fresh venue, best fee-adjusted price first. Fees go into the price because they are part of the
hedge cost (a Coinbase level 5 bp better than Binance's is worse after a 120 bp taker fee): an
ask level costs `price * (1 + taker_fee)`, a bid level yields `price * (1 - taker_fee)`.

A venue's book is left out, with the reason recorded, when it is stale (`now - ts_us >
stale_book_ms`), empty on a side, or crossed (best bid >= best ask: a broken feed, never a real
opportunity). `mid` is from the raw best bid and ask of the fresh venues (no fees): it is the
reference for spreads, skew and client TCA.

Sides: `sweep(Side.BUY, q)` buys `q` on the venues (takes asks) - the hedge of a client BUY;
`sweep(Side.SELL, q)` sells into bids. So a sweep's side is always the client's side.

Quote-currency RFQs (`notional_quote`) are converted to base at mid and floored to the desk lot
(the coarsest lot of the symbol's venues), so the client never gets more than the notional it
asked for at mid; the Quote carries the resulting `qty_base`, which the client accepts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from otcdesk.events import BookLevel, PriceUpdate, RejectReason, Rfq, Side, Venue, VenueExclusion

PRICE_QUANTUM = Decimal("1e-10")  # Avro decimal(28, 10) of every *_quote price
ZERO = Decimal(0)
_VENUE_ORDER = {venue: i for i, venue in enumerate(Venue)}


@dataclass(frozen=True, slots=True)
class FeeLevel:
    """One venue level with the taker fee folded into its price."""

    venue: Venue
    price_quote: Decimal  # fee-adjusted: paid per unit (ask) or received per unit (bid)
    raw_price_quote: Decimal
    qty_base: Decimal
    lot_size_base: Decimal
    rank: int  # 0 = the venue's touch


@dataclass(frozen=True, slots=True)
class VenueAllocation:
    """The part of a sweep one venue fills."""

    venue: Venue
    qty_base: Decimal
    cost_quote: Decimal  # fee-adjusted
    levels_used: int


@dataclass(frozen=True, slots=True)
class Sweep:
    """Executable price of a size on the consolidated book, fees included."""

    side: Side
    qty_requested_base: Decimal
    qty_filled_base: Decimal
    cost_quote: Decimal
    vwap_quote: Decimal | None  # None when nothing filled; rounded against the desk
    allocations: tuple[VenueAllocation, ...]

    @property
    def insufficient(self) -> bool:
        return self.qty_filled_base < self.qty_requested_base

    @property
    def levels_used(self) -> int:
        return sum(a.levels_used for a in self.allocations)


def _floor_to(qty: Decimal, lot: Decimal) -> Decimal:
    return (qty / lot).to_integral_value(ROUND_DOWN) * lot


def _levels(update: PriceUpdate, book: tuple[BookLevel, ...], fee_sign: int) -> list[FeeLevel]:
    factor = 1 + fee_sign * update.taker_fee_rate
    return [
        FeeLevel(update.venue, lvl.price_quote * factor, lvl.price_quote, lvl.qty_base, update.lot_size_base, rank)
        for rank, lvl in enumerate(book)
        if lvl.qty_base > 0
    ]


@dataclass(frozen=True, slots=True)
class MergedLevels:
    """The fee-adjusted levels of some venue snapshots merged best first, and their depth."""

    updates: tuple[PriceUpdate, ...]
    asks: tuple[FeeLevel, ...]
    bids: tuple[FeeLevel, ...]
    depth_ask_base: Decimal
    depth_bid_base: Decimal

    @classmethod
    def of(cls, fresh: list[PriceUpdate]) -> MergedLevels:
        asks = tuple(sorted((lvl for u in fresh for lvl in _levels(u, u.asks, +1)), key=_level_key))
        bids = tuple(
            sorted(
                (lvl for u in fresh for lvl in _levels(u, u.bids, -1)),
                key=lambda lvl: (-lvl.price_quote, *_level_key(lvl)[1:]),
            )
        )
        return cls(
            tuple(fresh),
            asks,
            bids,
            sum((lvl.qty_base for lvl in asks), ZERO),
            sum((lvl.qty_base for lvl in bids), ZERO),
        )


class LevelCache:
    """The last `MergedLevels` per symbol, reused while the fresh snapshots are the same objects.

    Why: a venue publishes a snapshot every feed step (250 ms of desk time) while RFQs arrive far
    more often, so most RFQs are priced on the snapshots of the one before; merging 4 x 20 levels
    per side again for each was a quarter of the aggregator's CPU (py-spy, stage benchmark). Keyed
    by identity, not content: comparing the snapshots would cost what merging costs."""

    def __init__(self) -> None:
        self._last: dict[str, MergedLevels] = {}

    def merged(self, symbol: str, fresh: list[PriceUpdate]) -> MergedLevels:
        hit = self._last.get(symbol)
        if (
            hit is not None
            and len(hit.updates) == len(fresh)
            and all(a is b for a, b in zip(hit.updates, fresh, strict=True))
        ):
            return hit
        self._last[symbol] = merged = MergedLevels.of(fresh)
        return merged


def _level_key(level: FeeLevel) -> tuple[Decimal, int, int]:
    return (level.price_quote, _VENUE_ORDER[level.venue], level.rank)


class ConsolidatedBook:
    """Merged, fee-adjusted book of one symbol from the latest update of each venue."""

    def __init__(
        self,
        symbol: str,
        updates: Iterable[PriceUpdate],
        now_us: int,
        stale_book_ms: int,
        cache: LevelCache | None = None,
    ) -> None:
        self.symbol = symbol
        self.now_us = now_us
        latest: dict[Venue, PriceUpdate] = {}
        for update in updates:
            if update.symbol != symbol:
                raise ValueError(f"update for {update.symbol} given to the {symbol} book")
            known = latest.get(update.venue)
            if known is None or (update.ts_us, update.sequence) > (known.ts_us, known.sequence):
                latest[update.venue] = update
        ordered = sorted(latest.values(), key=lambda u: _VENUE_ORDER[u.venue])
        #: Quote tick of the desk: the coarsest venue tick (stable whichever venue is fresh).
        self.tick_quote = max((u.tick_size_quote for u in ordered), default=Decimal("0.01"))
        #: Base lot of the desk: the coarsest venue lot, so every desk size is on every lot.
        self.lot_base = max((u.lot_size_base for u in ordered), default=Decimal("1e-8"))
        fresh: list[PriceUpdate] = []
        excluded: list[VenueExclusion] = []
        for update in ordered:
            reason = self._exclusion(update, stale_book_ms)
            if reason:
                excluded.append(VenueExclusion(update.venue, reason))
            else:
                fresh.append(update)
        self.venues_used: tuple[Venue, ...] = tuple(u.venue for u in fresh)
        self.venues_excluded: tuple[VenueExclusion, ...] = tuple(excluded)
        merged = cache.merged(symbol, fresh) if cache is not None else MergedLevels.of(fresh)
        self.asks, self.bids = merged.asks, merged.bids
        self.depth_ask_base, self.depth_bid_base = merged.depth_ask_base, merged.depth_bid_base
        self.best_bid_quote = max((u.bids[0].price_quote for u in fresh), default=None)
        self.best_ask_quote = min((u.asks[0].price_quote for u in fresh), default=None)

    def _exclusion(self, update: PriceUpdate, stale_book_ms: int) -> str | None:
        age_ms = (self.now_us - update.ts_us) / 1000
        if age_ms > stale_book_ms:
            return f"stale: book {age_ms:.0f} ms old > {stale_book_ms} ms"
        if not any(lvl.qty_base > 0 for lvl in update.bids) or not any(lvl.qty_base > 0 for lvl in update.asks):
            return f"empty: {len(update.bids)} bid and {len(update.asks)} ask levels"
        if update.bids[0].price_quote >= update.asks[0].price_quote:
            return f"crossed: best bid {update.bids[0].price_quote} >= best ask {update.asks[0].price_quote}"
        return None

    @property
    def mid_quote(self) -> Decimal | None:
        if self.best_bid_quote is None or self.best_ask_quote is None:
            return None
        return (self.best_bid_quote + self.best_ask_quote) / 2

    def sweep(self, side: Side, qty_base: Decimal) -> Sweep:
        """Fill `qty_base` best price first; each take is floored to its venue's lot."""
        if side not in (Side.BUY, Side.SELL):
            raise ValueError(f"sweep side must be BUY or SELL, got {side}")
        remaining = qty_base
        filled: dict[Venue, list[Decimal]] = {}  # venue -> [qty, cost, levels]
        for level in self.asks if side is Side.BUY else self.bids:
            if remaining <= 0:
                break
            take = min(_floor_to(remaining, level.lot_size_base), level.qty_base)
            if take <= 0:
                continue
            acc = filled.setdefault(level.venue, [ZERO, ZERO, ZERO])
            acc[0] += take
            acc[1] += take * level.price_quote
            acc[2] += 1
            remaining -= take
        allocations = tuple(
            VenueAllocation(venue, qty, cost, int(levels))
            for venue, (qty, cost, levels) in sorted(filled.items(), key=lambda kv: _VENUE_ORDER[kv[0]])
        )
        qty_filled = sum((a.qty_base for a in allocations), ZERO)
        cost = sum((a.cost_quote for a in allocations), ZERO)
        vwap = None
        if qty_filled > 0:
            rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
            vwap = (cost / qty_filled).quantize(PRICE_QUANTUM, rounding)
        return Sweep(side, qty_base, qty_filled, cost, vwap, allocations)


@dataclass(frozen=True, slots=True)
class PricingRefusal:
    """Why an RFQ could not be priced at all (the quote engine turns it into QuoteRejected)."""

    rfq: Rfq
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class PricedRfq:
    """An RFQ with the hedge cost of its size on both sides of the consolidated book."""

    rfq: Rfq
    qty_base: Decimal  # resolved size (notional RFQs converted at mid)
    mid_quote: Decimal
    bid: Sweep  # client SELL: the desk sells the hedge into venue bids
    ask: Sweep  # client BUY: the desk buys the hedge from venue asks
    depth_bid_base: Decimal
    depth_ask_base: Decimal
    venues_used: tuple[Venue, ...]
    venues_excluded: tuple[VenueExclusion, ...]
    tick_quote: Decimal
    priced_at_us: int

    @property
    def requested_sides(self) -> tuple[Side, ...]:
        """Sides the client may trade: a two-way RFQ needs both to be executable."""
        if self.rfq.side in (Side.BUY, Side.SELL):
            return (self.rfq.side,)
        return (Side.SELL, Side.BUY)

    def sweep_for(self, side: Side) -> Sweep:
        return self.ask if side is Side.BUY else self.bid

    @property
    def notional_at_mid_quote(self) -> Decimal:
        return self.qty_base * self.mid_quote


def price_rfq(rfq: Rfq, book: ConsolidatedBook) -> PricedRfq | PricingRefusal:
    """Resolve the RFQ's size and sweep both sides of `book`."""
    if rfq.symbol != book.symbol:
        raise ValueError(f"RFQ for {rfq.symbol} priced on the {book.symbol} book")
    mid = book.mid_quote
    if mid is None:
        why = "; ".join(f"{e.venue.value} {e.reason}" for e in book.venues_excluded) or "no books"
        return PricingRefusal(rfq, RejectReason.NO_FRESH_VENUE, f"no fresh venue for {rfq.symbol}: {why}")
    if rfq.side not in (Side.BUY, Side.SELL, Side.TWO_WAY):
        return PricingRefusal(rfq, RejectReason.INVALID_REQUEST, f"side {rfq.side} is not BUY, SELL or TWO_WAY")
    if (rfq.qty_base is None) == (rfq.notional_quote is None):
        return PricingRefusal(rfq, RejectReason.INVALID_REQUEST, "give exactly one of qty_base, notional_quote")
    size = rfq.qty_base if rfq.qty_base is not None else rfq.notional_quote
    if size is None or not size.is_finite() or size <= 0:
        return PricingRefusal(rfq, RejectReason.INVALID_REQUEST, f"size must be positive, got {size}")
    if rfq.qty_base is not None:
        qty = rfq.qty_base
        if _floor_to(qty, book.lot_base) != qty:
            return PricingRefusal(
                rfq, RejectReason.INVALID_REQUEST, f"qty {qty} is not a multiple of the desk lot {book.lot_base}"
            )
    else:
        qty = _floor_to(size / mid, book.lot_base)
    return PricedRfq(
        rfq=rfq,
        qty_base=qty,
        mid_quote=mid.quantize(PRICE_QUANTUM),
        bid=book.sweep(Side.SELL, qty),
        ask=book.sweep(Side.BUY, qty),
        depth_bid_base=book.depth_bid_base,
        depth_ask_base=book.depth_ask_base,
        venues_used=book.venues_used,
        venues_excluded=book.venues_excluded,
        tick_quote=book.tick_quote,
        priced_at_us=book.now_us,
    )
