"""The blotter's fold: a deal's row as its events arrive, over the history's rows."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from otcdesk.events import (
    Fill,
    Quote,
    QuoteRejected,
    ReconResult,
    ReconStatus,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    TradeBooked,
)
from otcdesk.web.deals import DealBook
from tests.samples import RFQ_ID, sample_events


def _of(kind: type) -> object:
    return next(e for e in sample_events() if isinstance(e, kind))


def test_a_deal_moves_from_quoted_to_traded_hedged_settled_and_reconciled() -> None:
    book = DealBook(10)
    assert book.apply(_of(Quote), "quotes")["state"] == "QUOTED"
    row = book.apply(_of(TradeBooked), "trades")
    assert row["state"] == "TRADED" and row["price_quote"] == D("95620.70") and row["qty_base"] == D("200")
    fill = _of(Fill)
    row = book.apply(fill, "fills")
    assert row["state"] == "HEDGING" and row["hedged_qty_base"] == D("10") and row["fees_quote"] == D("1425.153")
    assert book.apply(fill, "fills")["hedged_qty_base"] == D("10")  # a fill counts once per fill_id
    settle = _of(SettlementUpdated)
    assert book.apply(settle, "settlements")["state"] == "SETTLING"
    for leg in (SettlementLeg.BASE, SettlementLeg.QUOTE):
        row = book.apply(dataclasses.replace(settle, leg=leg, state=SettlementState.SETTLED), "settlements")
    assert row["state"] == "SETTLED" and row["base_leg"] == row["quote_leg"] == "SETTLED"
    recon = _of(ReconResult)
    row = book.apply(dataclasses.replace(recon, status=ReconStatus.MATCHED, breaks=()), "recon")
    assert row["recon_status"] == "MATCHED" and row["hedged_qty_base"] == D("200")
    assert row["pnl_quote"] == D("121660.00")  # the recon result's own totals
    assert book.apply(dataclasses.replace(recon, revision=0), "recon")["recon_status"] == "MATCHED"  # older revision
    assert [e["event"] for e in book.get(RFQ_ID).events] == [
        "Quote",
        "TradeBooked",
        "Fill",
        "Fill",
        "SettlementUpdated",
        "SettlementUpdated",
        "SettlementUpdated",
        "ReconResult",
        "ReconResult",
    ]


def test_a_refused_rfq_shows_its_reason_and_late_events_of_unknown_deals_are_ignored() -> None:
    book = DealBook(10)
    assert book.apply(_of(QuoteRejected), "quotes")["state"] == "REJECTED INSUFFICIENT_DEPTH"
    other = dataclasses.replace(_of(Fill), rfq_id="gone")
    assert book.apply(other, "fills") is None and book.get("gone") is None


def test_history_rows_seed_the_book_and_keep_their_sums_until_the_recon_result() -> None:
    columns = (
        "booked_at",
        "rfq_id",
        "client_id",
        "symbol",
        "side",
        "qty_base",
        "price_quote",
        "quote_bid_quote",
        "quote_ask_quote",
        "hedged_qty_base",
        "avg_fill_price_quote",
        "fees_quote",
        "pnl_quote",
        "base_leg",
        "quote_leg",
        "recon_status",
    )
    rows = [
        (
            "2025-11-24 16:00:02",
            RFQ_ID,
            "ACME",
            "BTC/USD",
            "BUY",
            D("200"),
            D("95620.7"),
            D("1"),
            D("2"),
            D("150"),
            D("95010"),
            D("9"),
            D("100"),
            "SETTLED",
            "CONFIRMING",
            "",
        ),
        (
            "2025-11-24 16:00:01",
            "older",
            "ACME",
            "BTC/USD",
            "SELL",
            D("1"),
            D("95000"),
            D("1"),
            D("2"),
            D("0"),
            D("0"),
            D("0"),
            D("0"),
            "",
            "",
            "",
        ),
    ]
    book = DealBook(10)
    book.seed(columns, rows)
    assert [r["rfq_id"] for r in book.rows()] == [RFQ_ID, "older"]
    assert book.rows()[0]["booked_us"] == 1_764_000_002_000_000
    assert book.rows()[0]["state"] == "SETTLING"
    row = book.apply(_of(Fill), "fills")  # the fold did not see the trade: the report's sums stay
    assert row["hedged_qty_base"] == D("150") and row["fees_quote"] == D("9")


def test_the_book_keeps_the_newest_deals_only() -> None:
    book = DealBook(2)
    quote = _of(Quote)
    for n in range(3):
        book.apply(dataclasses.replace(quote, rfq_id=f"r{n}"), "quotes")
    assert [r["rfq_id"] for r in book.rows()] == ["r2", "r1"]
