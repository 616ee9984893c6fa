"""The aggregator's pricing survives the trip over `rfq-priced`: encode, decode, same quote."""

from __future__ import annotations

from otcdesk.events import RejectReason, Side, Venue
from otcdesk.ids import CausalIds
from otcdesk.pricing import ConsolidatedBook, PricedRfq, PricingRefusal, price_rfq
from otcdesk.pricing_wire import from_event, to_event
from otcdesk.quoting import QuoteEngine
from otcdesk.serde import default_serde
from otcdesk.settings import Settings

from .conftest import T0, rfq, update

BIN = update(Venue.BINANCE, [("100", "1"), ("99", "2")], [("101", "1"), ("102", "2")], fee="0.001")
OKX = update(Venue.OKX, [("100.5", "1")], [("100.8", "1"), ("103", "5")], fee="0.0015", tick="0.1")


def _ids(parent: str = "rfq-event") -> CausalIds:
    ids = CausalIds()
    ids.rebase(parent)
    return ids


def _over_the_wire(priced: PricedRfq | PricingRefusal) -> PricedRfq | PricingRefusal:
    serde = default_serde()
    return from_event(serde.decode(serde.encode(to_event(priced, _ids(), T0))))


def test_priced_rfq_round_trips_and_quotes_identically() -> None:
    request = rfq(Side.BUY, "2.5")
    priced = price_rfq(request, ConsolidatedBook("BTC/USD", [BIN, OKX], T0, 2000))
    assert isinstance(priced, PricedRfq)
    back = _over_the_wire(priced)
    assert isinstance(back, PricedRfq)
    assert back.qty_base == priced.qty_base and back.mid_quote == priced.mid_quote
    assert back.ask.vwap_quote == priced.ask.vwap_quote and back.bid.vwap_quote == priced.bid.vwap_quote
    assert {(a.venue, a.qty_base) for a in back.ask.allocations} == {
        (a.venue, a.qty_base) for a in priced.ask.allocations
    }
    assert back.rfq.rfq_id == request.rfq_id and back.rfq.event_id == request.event_id
    settings = Settings()

    def quote(p: PricedRfq | PricingRefusal):
        return QuoteEngine(settings.quote, settings.clients, _ids("priced"), symbols=settings.symbols).quote(p, T0)

    assert quote(back) == quote(priced)


def test_refusal_round_trips() -> None:
    refusal = PricingRefusal(rfq(), RejectReason.NO_FRESH_VENUE, "no fresh venue for BTC/USD")
    back = _over_the_wire(refusal)
    assert isinstance(back, PricingRefusal)
    assert (back.reason, back.detail, back.rfq.rfq_id) == (refusal.reason, refusal.detail, refusal.rfq.rfq_id)


def test_causal_ids_repeat_for_the_same_input_and_differ_between_inputs() -> None:
    a, b = _ids("e1"), _ids("e1")
    assert [a.new(), a.new()] == [b.new(), b.new()]
    assert _ids("e2").new() != _ids("e1").new()
