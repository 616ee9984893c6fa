"""Client acceptance core: fill-or-kill against a live firm quote, the price locked on success.

Rules, checked in this order (the first failure answers; B2C2's reject codes map one to one):

1. UNKNOWN_QUOTE - never issued, or already declined (a decline removes the quote).
2. ALREADY_ACCEPTED - the quote traded; QUOTE_EXPIRED - it already expired.
3. INVALID_REQUEST - the response's client or rfq differs from the quote's (another client
   cannot take a quote; the quote stays live for its owner), or a slippage tolerance above
   `max_slippage_tolerance_bps`.
4. QUOTE_EXPIRED - `now_us > valid_until_us + grace_us` (valid_until is inclusive; the grace
   is the live desk's allowance for the network, 0 in stream time).
5. SIDE_MISMATCH - a client BUY needs a BUY or TWO_WAY quote, a SELL a SELL or TWO_WAY quote.
6. QTY_MISMATCH - fill-or-kill: exactly the quoted size, no partial.
7. PRICE_MISMATCH - the response price must equal the quote's price for that side (ask for a
   client BUY, bid for a SELL); with `slippage_tolerance_bps` it may differ by at most that
   many bps of the quoted price. The trade is always at the quoted price.

A trade: `notional_quote = qty * price` rounded half-even to `notional_quantum_quote` (cents
by default); `fee_quote = notional * client_fee_bps / 1e4`, same rounding, charged on top
(0 by default: the price is all-in, like Coinbase Prime's fee-inclusive RFQ price).

Final outcome of every RFQ, exactly one, the first terminal event keyed by its rfq_id: a
QuoteRejected from the quote engine (no quote issued), a TradeBooked, a QuoteResponse DECLINE,
or a QuoteRejected QUOTE_EXPIRED (from `expire()`, or from a late accept that reaches an
expired quote before the sweep does). Answers to responses that arrive after the outcome
(ALREADY_ACCEPTED, QUOTE_EXPIRED again, UNKNOWN_QUOTE) are replies to that command, not new
outcomes: the client gets an answer to every message it sends.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from otcdesk.events import Quote, QuoteAction, QuoteRejected, QuoteResponse, RejectReason, Side, TradeBooked
from otcdesk.ids import IdFactory
from otcdesk.settings import QuoteSettings

BPS = Decimal(10_000)
_ALLOWED = {Side.BUY: (Side.BUY, Side.TWO_WAY), Side.SELL: (Side.SELL, Side.TWO_WAY)}


class Outcome(StrEnum):
    TRADED = "TRADED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class QuoteBook:
    """Live quotes by quote_id, plus the outcome of finished ones (bounded memory)."""

    def __init__(
        self,
        settings: QuoteSettings,
        ids: IdFactory,
        *,
        source: str = "acceptance",
        max_finished: int = 100_000,
    ) -> None:
        self.settings, self._ids, self.source = settings, ids, source
        self._live: dict[str, Quote] = {}
        self._deadlines: list[tuple[int, str]] = []  # heap of (valid_until_us, quote_id)
        self._finished: OrderedDict[str, Outcome] = OrderedDict()
        self._max_finished = max_finished

    def __len__(self) -> int:
        return len(self._live)

    def get(self, quote_id: str) -> Quote | None:
        return self._live.get(quote_id)

    def add(self, quote: Quote) -> None:
        """Track a new quote (a redelivered one is ignored)."""
        if quote.quote_id in self._live or quote.quote_id in self._finished:
            return
        self._live[quote.quote_id] = quote
        heapq.heappush(self._deadlines, (quote.valid_until_us, quote.quote_id))

    def _finish(self, quote_id: str, outcome: Outcome) -> None:
        self._live.pop(quote_id, None)
        self._finished[quote_id] = outcome
        while len(self._finished) > self._max_finished:
            self._finished.popitem(last=False)

    def accept(self, response: QuoteResponse, now_us: int, grace_us: int = 0) -> TradeBooked | QuoteRejected | None:
        """Answer a client's response at `now_us`; None for a valid decline (the response is the
        outcome)."""
        quote = self._live.get(response.quote_id)
        if quote is None:
            done = self._finished.get(response.quote_id)
            if done is Outcome.TRADED:
                return self._reject(response, now_us, RejectReason.ALREADY_ACCEPTED, "quote already traded")
            if done is Outcome.EXPIRED:
                return self._reject(response, now_us, RejectReason.QUOTE_EXPIRED, "quote already expired")
            why = "quote was declined" if done is Outcome.DECLINED else "no such live quote"
            return self._reject(response, now_us, RejectReason.UNKNOWN_QUOTE, why)
        if response.client_id != quote.client_id or response.rfq_id != quote.rfq_id:
            return self._reject(
                response, now_us, RejectReason.INVALID_REQUEST, "client or rfq differs from the quote's", quote
            )
        if response.action is QuoteAction.DECLINE:
            self._finish(quote.quote_id, Outcome.DECLINED)
            return None
        if response.action is not QuoteAction.ACCEPT:
            return self._reject(
                response,
                now_us,
                RejectReason.INVALID_REQUEST,
                f"action {response.action} is not ACCEPT or DECLINE",
                quote,
            )
        tolerance = response.slippage_tolerance_bps or Decimal(0)
        if tolerance < 0 or tolerance > self.settings.max_slippage_tolerance_bps:
            return self._reject(
                response,
                now_us,
                RejectReason.INVALID_REQUEST,
                (f"slippage tolerance {tolerance} bps outside 0..{self.settings.max_slippage_tolerance_bps}"),
                quote,
            )
        if now_us > quote.valid_until_us + grace_us:
            self._finish(quote.quote_id, Outcome.EXPIRED)
            return self._reject(
                response,
                now_us,
                RejectReason.QUOTE_EXPIRED,
                (
                    f"accepted at {now_us} us, valid until {quote.valid_until_us} us "
                    f"({(now_us - quote.valid_until_us) / 1000:.1f} ms late)"
                ),
                quote,
            )
        if quote.side not in _ALLOWED.get(response.side, ()):
            return self._reject(
                response, now_us, RejectReason.SIDE_MISMATCH, f"client {response.side} on a {quote.side} quote", quote
            )
        if response.qty_base != quote.qty_base:
            return self._reject(
                response,
                now_us,
                RejectReason.QTY_MISMATCH,
                f"qty {response.qty_base} != quoted {quote.qty_base} (fill-or-kill)",
                quote,
            )
        price = quote.ask_price_quote if response.side is Side.BUY else quote.bid_price_quote
        off_bps = abs(response.price_quote - price) / price * BPS
        if off_bps > tolerance:
            return self._reject(
                response,
                now_us,
                RejectReason.PRICE_MISMATCH,
                (f"price {response.price_quote} vs quoted {price}: {off_bps:.4f} bps > tolerance {tolerance} bps"),
                quote,
            )
        self._finish(quote.quote_id, Outcome.TRADED)
        return self._trade(quote, response, price, now_us)

    def _trade(self, quote: Quote, response: QuoteResponse, price: Decimal, now_us: int) -> TradeBooked:
        quantum = self.settings.notional_quantum_quote
        notional = (quote.qty_base * price).quantize(quantum, ROUND_HALF_EVEN)
        fee = (notional * self.settings.client_fee_bps / BPS).quantize(quantum, ROUND_HALF_EVEN)
        return TradeBooked(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            rfq_id=quote.rfq_id,
            trade_id=self._ids.new(),
            quote_id=quote.quote_id,
            client_id=quote.client_id,
            symbol=quote.symbol,
            side=response.side,
            qty_base=quote.qty_base,
            price_quote=price,
            notional_quote=notional,
            fee_quote=fee,
            arrival_mid_quote=quote.mid_price_quote,
        )

    def due(self, now_us: int) -> list[str]:
        """Live quotes whose valid_until is before `now_us`, in deadline order."""
        due = []
        while self._deadlines and self._deadlines[0][0] < now_us:
            _, quote_id = heapq.heappop(self._deadlines)
            if quote_id in self._live:
                due.append(quote_id)
        return due

    def expire_quote(self, quote_id: str) -> QuoteRejected | None:
        """QUOTE_EXPIRED for one live quote, stamped the first microsecond it was no longer firm
        (event time, so the outcome does not depend on when the sweep happened to run)."""
        quote = self._live.get(quote_id)
        if quote is None:
            return None  # traded, declined or expired already
        self._finish(quote_id, Outcome.EXPIRED)
        return QuoteRejected(
            event_id=self._ids.new(),
            ts_us=quote.valid_until_us + 1,
            source=self.source,
            rfq_id=quote.rfq_id,
            quote_id=quote_id,
            client_id=quote.client_id,
            symbol=quote.symbol,
            reason=RejectReason.QUOTE_EXPIRED,
            detail=f"no acceptance by valid_until {quote.valid_until_us} us",
        )

    def expire(self, now_us: int) -> list[QuoteRejected]:
        """QUOTE_EXPIRED for every live quote past its valid_until, in deadline order."""
        return [r for r in (self.expire_quote(q) for q in self.due(now_us)) if r is not None]

    def restore(self, quote: Quote, outcome: Outcome | None) -> None:
        """Rebuild after a restart: a quote and, when it is finished, its outcome."""
        if outcome is None:
            self.add(quote)
        elif quote.quote_id not in self._finished:
            self._live.pop(quote.quote_id, None)
            self._finish(quote.quote_id, outcome)

    def _reject(
        self,
        response: QuoteResponse,
        now_us: int,
        reason: RejectReason,
        detail: str,
        quote: Quote | None = None,
    ) -> QuoteRejected:
        return QuoteRejected(
            event_id=self._ids.new(),
            ts_us=now_us,
            source=self.source,
            rfq_id=response.rfq_id,
            quote_id=response.quote_id,
            client_id=response.client_id,
            symbol=quote.symbol if quote else "",
            reason=reason,
            detail=detail,
        )
