"""The blotter's state: one row per deal, folded from the deal's events as they arrive.

A row starts from ClickHouse's blotter report (the history, when the page starts) or from the
deal's first event seen on Kafka. Settlement legs and the reconciliation are latest-state facts,
applied to every row; the hedge figures are sums over fills and are folded only for a deal whose
trade this fold saw (a row from the history keeps the report's sums until the recon result,
which carries the deal's own totals, replaces them).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otcdesk.events import (
    Event,
    ExecType,
    Fill,
    HedgeOrder,
    Quote,
    QuoteAction,
    QuoteRejected,
    QuoteResponse,
    ReconResult,
    SettlementState,
    SettlementUpdated,
    TradeBooked,
    to_avro,
)

#: Events kept per deal for its history panel (a deal has a few dozen).
MAX_EVENTS = 200
ZERO = Decimal(0)
_LEG_FAILED = (SettlementState.FAILED.value, SettlementState.TIMED_OUT.value)


@dataclass
class Deal:
    rfq_id: str
    client_id: str = ""
    symbol: str = ""
    side: str = ""
    qty_base: Decimal = ZERO
    price_quote: Decimal = ZERO
    quote_id: str = ""
    quote_bid_quote: Decimal = ZERO
    quote_ask_quote: Decimal = ZERO
    valid_until_us: int = 0
    outcome: str = ""  # REJECTED <reason>, DECLINED
    booked_us: int = 0
    traded_here: bool = False  # the fold saw the trade: it owns the hedge sums
    hedged_qty_base: Decimal = ZERO
    hedged_notional: Decimal = ZERO
    avg_fill_price_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    pnl_quote: Decimal | None = None
    legs: dict[str, str] = field(default_factory=dict)
    recon_status: str = ""
    recon_revision: int = -1
    fill_ids: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    updated_us: int = 0

    @property
    def state(self) -> str:
        legs = list(self.legs.values())
        if legs and any(s in _LEG_FAILED for s in legs):
            return "SETTLEMENT " + next(s for s in legs if s in _LEG_FAILED)
        if len(legs) >= 2 and all(s == SettlementState.SETTLED.value for s in legs):
            return "SETTLED"
        if legs:
            return "SETTLING"
        if self.hedged_qty_base > 0:
            return "HEDGED" if self.hedged_qty_base >= self.qty_base else "HEDGING"
        if self.booked_us:
            return "TRADED"
        return self.outcome or ("QUOTED" if self.quote_id else "REQUESTED")

    def row(self) -> dict[str, Any]:
        return {
            "rfq_id": self.rfq_id,
            "state": self.state,
            "client_id": self.client_id,
            "symbol": self.symbol,
            "side": self.side,
            "qty_base": self.qty_base,
            "price_quote": self.price_quote,
            "quote_bid_quote": self.quote_bid_quote,
            "quote_ask_quote": self.quote_ask_quote,
            "hedged_qty_base": self.hedged_qty_base,
            "avg_fill_price_quote": self.avg_fill_price_quote,
            "fees_quote": self.fees_quote,
            "pnl_quote": self.pnl_quote,
            "base_leg": self.legs.get("BASE", ""),
            "quote_leg": self.legs.get("QUOTE", ""),
            "recon_status": self.recon_status,
            "booked_us": self.booked_us,
            "updated_us": self.updated_us,
        }


class DealBook:
    """The newest `capacity` deals by last update; `apply` returns the row to push, if any."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.deals: OrderedDict[str, Deal] = OrderedDict()

    def rows(self) -> list[dict[str, Any]]:
        """Newest update first."""
        return [d.row() for d in reversed(self.deals.values())]

    def seed(self, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        """Rows of the blotter report, newest first, under any deal the live fold already holds."""
        for values in rows:  # each older than the one before: to the front, under the live ones
            r = dict(zip(columns, values, strict=True))
            if r["rfq_id"] in self.deals:
                continue
            at_us = _utc_us(str(r["booked_at"]))
            deal = Deal(
                r["rfq_id"],
                r["client_id"],
                r["symbol"],
                r["side"],
                r["qty_base"],
                r["price_quote"],
                quote_bid_quote=r["quote_bid_quote"],
                quote_ask_quote=r["quote_ask_quote"],
                booked_us=at_us,
                hedged_qty_base=r["hedged_qty_base"],
                avg_fill_price_quote=r["avg_fill_price_quote"],
                fees_quote=r["fees_quote"],
                pnl_quote=r["pnl_quote"],
                recon_status=str(r["recon_status"]),
                updated_us=at_us,
            )
            deal.legs = {leg: r[col] for leg, col in (("BASE", "base_leg"), ("QUOTE", "quote_leg")) if r[col]}
            self.deals[deal.rfq_id] = deal
            self.deals.move_to_end(deal.rfq_id, last=False)
        self._trim()

    def get(self, rfq_id: str) -> Deal | None:
        return self.deals.get(rfq_id)

    def apply(self, event: Event, topic: str) -> dict[str, Any] | None:
        rfq_id = getattr(event, "rfq_id", None)
        if not rfq_id or not _folded(event):
            return None
        deal = self.deals.get(rfq_id)
        if deal is None:
            if not isinstance(event, (Quote, QuoteRejected, TradeBooked)):
                return None  # a deal older than the screen: its row is gone, its late events too
            deal = self.deals[rfq_id] = Deal(rfq_id)
        self.deals.move_to_end(rfq_id)
        _fold(deal, event)
        deal.updated_us = max(deal.updated_us, event.ts_us)
        if len(deal.events) < MAX_EVENTS:
            deal.events.append(
                {
                    "topic": topic,
                    "event": type(event).__name__,
                    "ts_us": event.ts_us,
                    "source": event.source,
                    "fields": to_avro(event),
                }
            )
        self._trim()
        return deal.row()

    def _trim(self) -> None:
        while len(self.deals) > self.capacity:
            self.deals.popitem(last=False)


def _utc_us(text: str) -> int:
    """The report's `booked_at` (YYYY-MM-DD HH:MM:SS, UTC) in epoch us."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()) * 1_000_000


def _folded(event: Event) -> bool:
    return isinstance(
        event, (Quote, QuoteRejected, QuoteResponse, TradeBooked, HedgeOrder, Fill, SettlementUpdated, ReconResult)
    )


def _fold(deal: Deal, event: Event) -> None:
    if isinstance(event, Quote):
        deal.client_id, deal.symbol, deal.side = event.client_id, event.symbol, event.side.value
        deal.qty_base = deal.qty_base or event.qty_base
        deal.quote_id, deal.valid_until_us = event.quote_id, event.valid_until_us
        deal.quote_bid_quote, deal.quote_ask_quote = event.bid_price_quote, event.ask_price_quote
    elif isinstance(event, QuoteRejected):
        deal.client_id, deal.symbol = event.client_id, event.symbol
        if not deal.booked_us:
            deal.outcome = f"REJECTED {event.reason.value}"
    elif isinstance(event, QuoteResponse):
        if event.action is QuoteAction.DECLINE and not deal.booked_us:
            deal.outcome = "DECLINED"
    elif isinstance(event, TradeBooked):
        deal.client_id, deal.symbol, deal.side = event.client_id, event.symbol, event.side.value
        deal.qty_base, deal.price_quote, deal.booked_us = event.qty_base, event.price_quote, event.ts_us
        deal.traded_here, deal.outcome = True, ""
    elif isinstance(event, Fill):
        _fill(deal, event)
    elif isinstance(event, SettlementUpdated):
        deal.legs[event.leg.value] = event.state.value
    elif isinstance(event, ReconResult) and event.revision > deal.recon_revision:
        deal.recon_revision = event.revision
        breaks = len(event.breaks)
        deal.recon_status = event.status.value + (f" ({breaks})" if breaks else "")
        deal.hedged_qty_base, deal.avg_fill_price_quote = event.hedged_qty_base, event.avg_fill_price_quote
        deal.fees_quote, deal.pnl_quote = event.fees_quote, event.pnl_quote


def _fill(deal: Deal, fill: Fill) -> None:
    if not deal.traded_here or fill.exec_type is not ExecType.FILL or fill.fill_id in deal.fill_ids:
        return
    deal.fill_ids.add(fill.fill_id)
    deal.hedged_qty_base += fill.qty_base
    deal.hedged_notional += fill.qty_base * fill.price_quote
    deal.fees_quote += fill.fee
    deal.avg_fill_price_quote = (deal.hedged_notional / deal.hedged_qty_base).quantize(Decimal("1e-10"))
