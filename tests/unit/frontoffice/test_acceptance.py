from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from otcdesk.acceptance import QuoteBook
from otcdesk.events import Quote, QuoteAction, QuoteRejected, QuoteResponse, RejectReason, Side, TradeBooked, Venue
from otcdesk.ids import IdFactory
from otcdesk.serde import default_serde
from otcdesk.settings import QuoteSettings

from .conftest import T0

VALID_UNTIL = T0 + 5_000_000


def quote(side: Side = Side.TWO_WAY, quote_id: str = "q-1", valid_until_us: int = VALID_UNTIL) -> Quote:
    return Quote(
        "e-q",
        T0,
        "quote-engine",
        "rfq-1",
        quote_id,
        "ACME",
        "BTC/USD",
        side,
        D("1.23456"),
        D("94900.1"),
        D("95100.3"),
        D("95000.005"),
        D("94950"),
        D("95050"),
        D(2),
        D(1),
        D(3),
        D(2),
        D(0),
        D(100),
        D(100),
        (Venue.BINANCE,),
        (),
        valid_until_us,
    )


def response(
    side: Side = Side.BUY,
    price: str = "95100.3",
    qty: str = "1.23456",
    *,
    action: QuoteAction = QuoteAction.ACCEPT,
    quote_id: str = "q-1",
    client: str = "ACME",
    tolerance: str | None = None,
) -> QuoteResponse:
    return QuoteResponse(
        "e-r",
        T0,
        "client",
        "rfq-1",
        quote_id,
        client,
        action,
        side,
        D(price),
        D(qty),
        D(tolerance) if tolerance is not None else None,
    )


def book(*quotes: Quote, **settings: object) -> QuoteBook:
    qb = QuoteBook(QuoteSettings(**settings), IdFactory.from_seed(1, "acceptance"))
    for q in quotes:
        qb.add(q)
    return qb


def rejected(result: object) -> RejectReason:
    assert isinstance(result, QuoteRejected), result
    return result.reason


@pytest.mark.parametrize(("side", "price"), [(Side.BUY, "95100.3"), (Side.SELL, "94900.1")])
def test_accept_locks_the_quoted_price_for_the_side(side: Side, price: str) -> None:
    qb = book(quote())
    trade = qb.accept(response(side, price), T0 + 1_000_000)
    assert isinstance(trade, TradeBooked)
    assert (trade.side, trade.price_quote, trade.qty_base) == (side, D(price), D("1.23456"))
    assert trade.notional_quote == (D("1.23456") * D(price)).quantize(D("0.01"))
    assert trade.fee_quote == 0 and trade.arrival_mid_quote == D("95000.005")
    assert (trade.rfq_id, trade.quote_id, trade.client_id, trade.ts_us) == ("rfq-1", "q-1", "ACME", T0 + 1_000_000)
    assert len(qb) == 0
    assert default_serde().decode(default_serde().encode(trade)) == trade
    assert rejected(qb.accept(response(side, price), T0 + 1_000_001)) is RejectReason.ALREADY_ACCEPTED


def test_notional_rounds_half_even_to_cents_and_fee_is_optional() -> None:
    q = replace(quote(), qty_base=D("0.5"), ask_price_quote=D("100.01"))  # 50.005 -> 50.00
    trade = book(q, client_fee_bps=D("10")).accept(response(price="100.01", qty="0.5"), T0)
    assert isinstance(trade, TradeBooked)
    assert trade.notional_quote == D("50.00") and trade.fee_quote == D("0.05")


def test_valid_until_is_inclusive() -> None:
    assert isinstance(book(quote()).accept(response(), VALID_UNTIL), TradeBooked)
    qb = book(quote())
    late = qb.accept(response(), VALID_UNTIL + 1)
    assert rejected(late) is RejectReason.QUOTE_EXPIRED and "late" in late.detail
    assert qb.expire(VALID_UNTIL + 10) == []  # the late accept already gave the outcome
    assert rejected(qb.accept(response(), VALID_UNTIL + 20)) is RejectReason.QUOTE_EXPIRED


def test_unknown_quote() -> None:
    result = book(quote()).accept(response(quote_id="nope"), T0)
    assert rejected(result) is RejectReason.UNKNOWN_QUOTE and result.quote_id == "nope"


@pytest.mark.parametrize(
    ("quote_side", "client_side", "ok"),
    [
        (Side.BUY, Side.BUY, True),
        (Side.BUY, Side.SELL, False),
        (Side.SELL, Side.SELL, True),
        (Side.SELL, Side.BUY, False),
        (Side.TWO_WAY, Side.BUY, True),
        (Side.TWO_WAY, Side.SELL, True),
        (Side.TWO_WAY, Side.TWO_WAY, False),
        (Side.BUY, Side.UNKNOWN, False),
    ],
)
def test_side_rules(quote_side: Side, client_side: Side, ok: bool) -> None:
    price = "94900.1" if client_side is Side.SELL else "95100.3"
    result = book(quote(quote_side)).accept(response(client_side, price), T0)
    assert isinstance(result, TradeBooked) if ok else rejected(result) is RejectReason.SIDE_MISMATCH


def test_price_must_match_unless_within_tolerance() -> None:
    assert rejected(book(quote()).accept(response(price="95100.4"), T0)) is RejectReason.PRICE_MISMATCH
    assert rejected(book(quote()).accept(response(Side.SELL, "95100.3"), T0)) is RejectReason.PRICE_MISMATCH
    trade = book(quote()).accept(response(price="95105", tolerance="1"), T0)  # 0.49 bps off
    assert isinstance(trade, TradeBooked) and trade.price_quote == D("95100.3")
    assert rejected(book(quote()).accept(response(price="95120", tolerance="2"), T0)) is RejectReason.PRICE_MISMATCH
    assert rejected(book(quote()).accept(response(tolerance="25"), T0)) is RejectReason.INVALID_REQUEST


def test_quantity_is_fill_or_kill() -> None:
    assert rejected(book(quote()).accept(response(qty="1"), T0)) is RejectReason.QTY_MISMATCH
    assert isinstance(book(quote()).accept(response(qty="1.234560"), T0), TradeBooked)


def test_another_client_cannot_take_or_decline_the_quote() -> None:
    qb = book(quote())
    assert rejected(qb.accept(response(client="EVIL"), T0)) is RejectReason.INVALID_REQUEST
    assert rejected(qb.accept(response(client="EVIL", action=QuoteAction.DECLINE), T0)) is RejectReason.INVALID_REQUEST
    assert isinstance(qb.accept(response(), T0), TradeBooked)


def test_decline_removes_the_quote() -> None:
    qb = book(quote())
    assert qb.accept(response(action=QuoteAction.DECLINE), T0) is None
    assert len(qb) == 0 and qb.expire(VALID_UNTIL + 1) == []
    result = qb.accept(response(), T0 + 1)
    assert rejected(result) is RejectReason.UNKNOWN_QUOTE and "declined" in result.detail


def test_expiry_sweep_emits_one_outcome_per_quote_in_deadline_order() -> None:
    qb = book(
        quote(quote_id="q-late", valid_until_us=VALID_UNTIL + 2),
        quote(quote_id="q-1"),
        quote(quote_id="q-3", valid_until_us=VALID_UNTIL + 100),
    )
    qb.add(quote(quote_id="q-1"))  # redelivered: ignored
    assert qb.expire(VALID_UNTIL) == []
    expired = qb.expire(VALID_UNTIL + 50)
    assert [(e.quote_id, e.reason) for e in expired] == [
        ("q-1", RejectReason.QUOTE_EXPIRED),
        ("q-late", RejectReason.QUOTE_EXPIRED),
    ]
    assert all(e.rfq_id == "rfq-1" and e.symbol == "BTC/USD" for e in expired)
    assert qb.expire(VALID_UNTIL + 60) == [] and len(qb) == 1
    assert rejected(qb.accept(response(), VALID_UNTIL + 70)) is RejectReason.QUOTE_EXPIRED


def test_finished_quotes_are_forgotten_beyond_the_bound() -> None:
    qb = QuoteBook(QuoteSettings(), IdFactory.from_seed(1, "a"), max_finished=2)
    for i in range(3):
        qb.add(quote(quote_id=f"q-{i}"))
        qb.accept(response(quote_id=f"q-{i}"), T0)
    assert rejected(qb.accept(response(quote_id="q-0"), T0)) is RejectReason.UNKNOWN_QUOTE
    assert rejected(qb.accept(response(quote_id="q-2"), T0)) is RejectReason.ALREADY_ACCEPTED
