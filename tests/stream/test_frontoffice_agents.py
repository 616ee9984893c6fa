"""Front-office stages on `streams.testing.StageHarness`: typed events in, typed events (or dead
letters) out, in stream time: nothing moves until the producers' watermarks say so. One test goes
through the stage's faust agent in faust's `test_context` (the decoding path of a live worker)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal as D

from otcdesk.events import (
    BookLevel, PriceUpdate, Quote, QuoteAction, QuoteRejected, QuoteResponse, RejectReason, Rfq, RfqPriced, Side,
    TradeBooked, Venue,
)
from otcdesk.ids import CausalIds
from otcdesk.pricing import ConsolidatedBook, price_rfq
from otcdesk.pricing_wire import to_event
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US
from streams.acceptance import AcceptanceStage
from streams.aggregator import Aggregator
from streams.client_sim import ClientSimStage
from streams.quote_engine import QuoteEngineStage
from streams.testing import StageHarness
from tests.stream.conftest import wire

T0 = 1_764_000_000_000_000


def _book(venue: Venue, mid: str, ts_us: int = T0) -> PriceUpdate:
    m = D(mid)
    bids = tuple(BookLevel(m - D(i + 1), D("5")) for i in range(20))
    asks = tuple(BookLevel(m + D(i + 1), D("5")) for i in range(20))
    return PriceUpdate(f"px-{venue.value}-{ts_us}", ts_us, "feed", venue, "BTC/USD", bids, asks, 1,
                       D("0.001"), D("0.01"), D("0.00001"))


def _rfq(**changes: object) -> Rfq:
    base = Rfq("e-rfq-1", T0 + 1000, "test", "rfq-1", "ACME", "BTC/USD", Side.BUY, D("10"), None, None)
    return replace(base, **changes)


def test_the_aggregator_prices_an_rfq_once_every_venue_has_passed_it(stream_settings: Settings) -> None:
    """Watermark alignment: an RFQ waits for the feed's watermark, then is priced on the books as
    of its instant (a later book is not used); garbage from the agent becomes a dead letter."""
    agg = Aggregator(stream_settings)
    harness = StageHarness(agg.stage)

    async def run() -> None:
        for venue, mid in ((Venue.BINANCE, "95000"), (Venue.OKX, "95010")):
            harness.put("prices", _book(venue, mid))
        harness.put("prices", _book(Venue.KRAKEN, "99000", ts_us=T0 + 5000))  # after the RFQ: not its book
        async with agg.stage.app.agents["aggregator_rfq"].test_context() as rfqs:
            await rfqs.put(value=wire(_rfq()), key=b"rfq-1")
            await rfqs.put(value=b"\xc3\x01garbage-bytes", key=b"junk")
            await rfqs.put(value=wire(_rfq(rfq_id="rfq-neg", event_id="e-neg", qty_base=D("-1"))), key=b"rfq-neg")
        harness.advance("simulate", to_us=END_US)
        harness.advance("feed", to_us=T0 + 500)  # the feed has not passed the RFQ yet
        await harness.run()
        assert harness.sent_events("rfq-priced") == []
        harness.advance("feed", to_us=T0 + 10_000)
        await harness.run()

    asyncio.run(run())
    priced = [e for e in harness.sent_events("rfq-priced") if isinstance(e, RfqPriced)]
    assert len(priced) == 1 and priced[0].rfq_id == "rfq-1" and priced[0].refusal_reason is None
    assert set(priced[0].venues_used) == {Venue.BINANCE, Venue.OKX}
    assert sum(a.qty_base for a in priced[0].allocations if a.side is Side.BUY) == D("10")
    reasons = {d.source_key: d.reason for d in harness.dead_letters()}
    assert reasons == {b"junk": "decode:unknown_fingerprint", b"rfq-neg": "invalid:non_positive_qty_base"}
    assert all(d.source_topic == "tc-rfq" for d in harness.dead_letters())
    assert harness.marks and harness.marks[-1].source == "aggregator"


def _priced(rfq: Rfq, books: list[PriceUpdate]) -> RfqPriced:
    ids = CausalIds()
    ids.rebase(rfq.event_id)
    return to_event(price_rfq(rfq, ConsolidatedBook("BTC/USD", books, rfq.ts_us, 2000)), ids, rfq.ts_us)


def test_quote_engine_turns_a_priced_rfq_into_a_quote_and_a_refusal_into_a_reject(stream_settings: Settings) -> None:
    stage = QuoteEngineStage(stream_settings)
    harness = StageHarness(stage.stage)
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]
    harness.put("rfq-priced", _priced(_rfq(), books))
    harness.put("rfq-priced", _priced(_rfq(rfq_id="rfq-big", event_id="e-big", qty_base=D("1000")), books))
    harness.put("rfq-priced", _rfq(), key=b"rfq-1")  # an Rfq is not what rfq-priced carries
    harness.advance_all(T0 + 10_000)
    asyncio.run(harness.run())
    quotes = harness.sent_events("quotes")
    quote = next(q for q in quotes if isinstance(q, Quote))
    assert quote.rfq_id == "rfq-1" and quote.bid_price_quote < quote.mid_price_quote < quote.ask_price_quote
    assert quote.ts_us == _rfq().ts_us  # stamped with the instant it was priced at, not a clock
    reject = next(q for q in quotes if isinstance(q, QuoteRejected))
    assert reject.rfq_id == "rfq-big" and reject.reason in (RejectReason.QTY_TOO_BIG, RejectReason.INSUFFICIENT_DEPTH)
    assert [d.reason for d in harness.dead_letters()] == ["invalid:wrong_event"]


def test_the_quote_engine_quotes_on_the_desk_state_as_of_the_rfq_not_as_of_its_arrival(
        stream_settings: Settings) -> None:
    """Folds are applied in event-time order up to the RFQ's instant: a trade booked after the RFQ
    (already on its topic) does not change the quote; one booked before it does."""
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]
    big = TradeBooked("e-t", 0, "acceptance", "rfq-0", "trade-0", "q-0", "ACME", "BTC/USD", Side.BUY, D("40"),
                      D("95000"), D("3800000"), D("0"), D("95000"))
    quotes = {}
    for name, trade_us in (("none", None), ("after", T0 + 2000), ("before", T0 - 2000)):
        harness = StageHarness(QuoteEngineStage(stream_settings).stage)
        if trade_us is not None:
            harness.put("trades", replace(big, ts_us=trade_us))
        harness.put("rfq-priced", _priced(_rfq(), books))
        harness.advance_all(T0 + 10_000)
        asyncio.run(harness.run())
        quotes[name] = next(q for q in harness.sent_events("quotes") if isinstance(q, Quote))
    assert quotes["after"] == quotes["none"]
    assert (quotes["before"].bid_price_quote, quotes["before"].ask_price_quote) != (
        quotes["none"].bid_price_quote, quotes["none"].ask_price_quote)


def _quote(**changes: object) -> Quote:
    base = Quote("e-q", T0 + 2000, "quote-engine", "rfq-1", "q-1", "ACME", "BTC/USD", Side.BUY, D("10"),
                 D("94900"), D("95100"), D("95000"), D("94990"), D("95010"), D("2"), D("0"), D("1"), D("1"),
                 D("0"), D("100"), D("100"), (Venue.BINANCE,), (), T0 + 2000 + 5_000_000)
    return replace(base, **changes)


def _response(**changes: object) -> QuoteResponse:
    base = QuoteResponse("e-resp", T0 + 3000, "client", "rfq-1", "q-1", "ACME", QuoteAction.ACCEPT, Side.BUY,
                         D("95100"), D("10"), None)
    return replace(base, **changes)


def test_acceptance_books_a_trade_once_and_refuses_late_or_repeated_acceptances(stream_settings: Settings) -> None:
    stage = AcceptanceStage(stream_settings)
    harness = StageHarness(stage.stage)
    harness.put("quotes", _quote())
    harness.put("quotes", _response())
    harness.put("quotes", _response())  # redelivered: the same trade again
    harness.put("quotes", _response(event_id="e-again", ts_us=T0 + 4000))  # a 2nd accept: refused
    harness.put("quotes", _quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2"))
    late = _response(event_id="e-late", rfq_id="rfq-2", quote_id="q-2", ts_us=T0 + 2000 + 6_000_000)
    harness.put("quotes", late)
    harness.advance_all(T0 + 60_000_000)
    asyncio.run(harness.run())
    trades = [e for e in harness.sent_events("trades") if isinstance(e, TradeBooked)]
    assert len(trades) == 2 and trades[0] == trades[1]  # one trade, sent twice: dedup by event_id downstream
    assert trades[0].price_quote == D("95100") and trades[0].qty_base == D("10")
    refusals = [(e.quote_id, e.reason, e.ts_us) for e in harness.sent_events("quotes") if isinstance(e, QuoteRejected)]
    expired_at = _quote().valid_until_us + 1  # on stream time: the instant after the deadline, not a clock
    assert refusals == [("q-1", RejectReason.ALREADY_ACCEPTED, T0 + 4000),
                        ("q-2", RejectReason.QUOTE_EXPIRED, expired_at),
                        ("q-2", RejectReason.QUOTE_EXPIRED, late.ts_us)]
    assert sorted(d.reason for d in harness.dead_letters()) == ["invalid:already_accepted", "invalid:quote_expired"]


def test_an_answer_on_the_deadline_trades_and_one_after_it_does_not(stream_settings: Settings) -> None:
    """The expiry timer and the answers are ordered by event time, whatever order they are read in."""
    outcomes = []
    for answer_us in (_quote().valid_until_us, _quote().valid_until_us + 1):
        harness = StageHarness(AcceptanceStage(stream_settings).stage)
        harness.put("quotes", _quote())
        harness.advance_all(answer_us - 1)
        asyncio.run(harness.run())  # the stage has gone as far as it may: nothing expired yet
        harness.put("quotes", _response(ts_us=answer_us))
        harness.advance_all(END_US)
        asyncio.run(harness.run())
        outcomes.append(sorted(type(e).__name__ for e in harness.sent_events() if not hasattr(e, "source_topic")))
    assert outcomes == [["TradeBooked"], ["QuoteRejected"]]  # refused as expired; nothing else to say


def test_client_sim_answers_only_its_own_clients_at_their_seeded_instant(stream_settings: Settings) -> None:
    answers = []
    for _ in range(2):
        harness = StageHarness(ClientSimStage(stream_settings).stage)
        harness.put("quotes", _quote())
        harness.put("quotes", _quote(client_id="SOMEONE-ELSE", quote_id="q-x", event_id="e-x"))
        harness.advance_all(T0 + 2000)
        asyncio.run(harness.run())
        assert harness.sent_events() == []  # the answer is due later in stream time
        harness.advance_all(END_US)
        asyncio.run(harness.run())
        answers.append([(e.quote_id, e.action, e.event_id, e.ts_us) for e in harness.sent_events("quotes")])
    assert answers[0] == answers[1] and len(answers[0]) == 1
    quote_id, _, _, ts_us = answers[0][0]
    assert quote_id == "q-1" and T0 + 2000 < ts_us
