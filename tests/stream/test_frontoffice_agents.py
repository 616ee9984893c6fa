"""Front-office agents in faust's test_context: typed events in, typed events (or dead letters) out."""

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
from streams.acceptance import AcceptanceStage
from streams.aggregator import Aggregator
from streams.client_sim import ClientSimStage
from streams.quote_engine import QuoteEngineStage
from tests.stream.conftest import record, wire

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


def test_aggregator_prices_an_rfq_on_the_books_it_holds_and_dead_letters_garbage(settings: Settings) -> None:
    agg = Aggregator(settings)
    recorded = record(agg.stage)

    async def run() -> None:
        for venue, mid in ((Venue.BINANCE, "95000"), (Venue.OKX, "95010")):
            agg.books.apply(_book(venue, mid))  # what the prices fold does with each record
        async with agg.stage.app.agents["aggregator_rfq"].test_context() as rfqs:
            await rfqs.put(value=wire(_rfq()), key=b"rfq-1")
            await rfqs.put(value=b"\xc3\x01garbage-bytes", key=b"junk")
            await rfqs.put(value=wire(_rfq(rfq_id="rfq-neg", event_id="e-neg", qty_base=D("-1"))), key=b"rfq-neg")

    asyncio.run(run())
    priced = [e for e in recorded.events("rfq-priced") if isinstance(e, RfqPriced)]
    assert len(priced) == 1 and priced[0].rfq_id == "rfq-1" and priced[0].refusal_reason is None
    assert set(priced[0].venues_used) == {Venue.BINANCE, Venue.OKX}
    assert sum(a.qty_base for a in priced[0].allocations if a.side is Side.BUY) == D("10")
    reasons = {d.source_key: d.reason for d in recorded.dead_letters()}
    assert reasons == {b"junk": "decode:unknown_fingerprint", b"rfq-neg": "invalid:non_positive_qty_base"}
    assert all(d.source_topic == "tc-rfq" for d in recorded.dead_letters())


def test_quote_engine_turns_a_priced_rfq_into_a_quote_and_a_refusal_into_a_reject(settings: Settings) -> None:
    stage = QuoteEngineStage(settings)
    recorded = record(stage.stage)
    for fold in stage.folds:
        fold.caught_up.set()  # no broker here: nothing to fold
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]

    def priced(rfq: Rfq) -> RfqPriced:
        ids = CausalIds()
        ids.rebase(rfq.event_id)
        return to_event(price_rfq(rfq, ConsolidatedBook("BTC/USD", books, rfq.ts_us, 2000)), ids, rfq.ts_us)

    async def run() -> None:
        event = priced(_rfq())
        too_big = priced(_rfq(rfq_id="rfq-big", event_id="e-big", qty_base=D("1000")))
        async with stage.stage.app.agents["quote_engine_rfq_priced"].test_context() as agent:
            await agent.put(value=wire(event), key=b"rfq-1")
            await agent.put(value=wire(too_big), key=b"rfq-big")
            await agent.put(value=wire(_rfq()), key=b"rfq-1")  # an Rfq is not what rfq-priced carries

    asyncio.run(run())
    quotes = recorded.events("quotes")
    quote = next(q for q in quotes if isinstance(q, Quote))
    assert quote.rfq_id == "rfq-1" and quote.bid_price_quote < quote.mid_price_quote < quote.ask_price_quote
    reject = next(q for q in quotes if isinstance(q, QuoteRejected))
    assert reject.rfq_id == "rfq-big" and reject.reason in (RejectReason.QTY_TOO_BIG, RejectReason.INSUFFICIENT_DEPTH)
    assert [d.reason for d in recorded.dead_letters()] == ["invalid:wrong_event"]


def _quote(**changes: object) -> Quote:
    base = Quote("e-q", T0 + 2000, "quote-engine", "rfq-1", "q-1", "ACME", "BTC/USD", Side.BUY, D("10"),
                 D("94900"), D("95100"), D("95000"), D("94990"), D("95010"), D("2"), D("0"), D("1"), D("1"),
                 D("0"), D("100"), D("100"), (Venue.BINANCE,), (), T0 + 2000 + 5_000_000)
    return replace(base, **changes)


def _response(**changes: object) -> QuoteResponse:
    base = QuoteResponse("e-resp", T0 + 3000, "client", "rfq-1", "q-1", "ACME", QuoteAction.ACCEPT, Side.BUY,
                         D("95100"), D("10"), None)
    return replace(base, **changes)


def test_acceptance_books_a_trade_once_and_refuses_late_or_repeated_acceptances(settings: Settings) -> None:
    stage = AcceptanceStage(settings)
    recorded = record(stage.stage)

    async def run() -> None:
        async with stage.stage.app.agents["acceptance_quotes"].test_context() as agent:
            await agent.put(value=wire(_quote()), key=b"rfq-1")
            await agent.put(value=wire(_response()), key=b"rfq-1")
            await agent.put(value=wire(_response()), key=b"rfq-1")  # redelivered: the same trade again
            await agent.put(value=wire(_response(event_id="e-again")), key=b"rfq-1")  # a 2nd accept: refused
            await agent.put(value=wire(_quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2")), key=b"rfq-2")
            late = _response(event_id="e-late", rfq_id="rfq-2", quote_id="q-2", ts_us=T0 + 2000 + 6_000_000)
            await agent.put(value=wire(late), key=b"rfq-2")

    asyncio.run(run())
    trades = [e for e in recorded.events("trades") if isinstance(e, TradeBooked)]
    assert len(trades) == 2 and trades[0] == trades[1]  # one trade, sent twice: dedup by event_id downstream
    assert trades[0].price_quote == D("95100") and trades[0].qty_base == D("10")
    refusals = {e.quote_id: e.reason for e in recorded.events("quotes") if isinstance(e, QuoteRejected)}
    assert refusals == {"q-1": RejectReason.ALREADY_ACCEPTED, "q-2": RejectReason.QUOTE_EXPIRED}
    assert sorted(d.reason for d in recorded.dead_letters()) == ["invalid:already_accepted", "invalid:quote_expired"]


def test_client_sim_answers_only_its_own_clients_deterministically(settings: Settings) -> None:
    answers = []
    for _ in range(2):
        stage = ClientSimStage(settings.model_copy(update={"sim_speed": 1e9}), rebuild=False)  # answers come due at once
        recorded = record(stage.stage)

        async def run(s: ClientSimStage = stage) -> None:
            async with s.stage.app.agents["client_sim_quotes"].test_context() as agent:
                await agent.put(value=wire(_quote()), key=b"rfq-1")
                await agent.put(value=wire(_quote(client_id="SOMEONE-ELSE", quote_id="q-x")), key=b"rfq-1")
                await asyncio.sleep(0.2)

        asyncio.run(run())
        answers.append([(e.quote_id, e.action, e.event_id) for e in recorded.events("quotes")])
    assert answers[0] == answers[1]
    assert all(quote_id == "q-1" for quote_id, _, _ in answers[0])


def test_a_quote_engine_learns_the_mids_of_rfqs_it_did_not_quote_from_the_rfq_priced_fold(settings: Settings) -> None:
    """A restarted (or second) worker's volatility is the same as the one that quoted them."""
    fresh, quoted = QuoteEngineStage(settings), QuoteEngineStage(settings)
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]
    mids = ("95000", "95400", "94700", "95900", "95100", "95300", "94900", "95600", "95200", "94800", "95500")
    for n, mid in enumerate(mids):  # more than vol_min_points (10), one a minute
        rfq = _rfq(rfq_id=f"rfq-{n}", event_id=f"e-{n}", ts_us=T0 + n * 60_000_000)
        shifted = [replace(_book(b.venue, mid, rfq.ts_us)) for b in books]
        ids = CausalIds()
        ids.rebase(rfq.event_id)
        event = to_event(price_rfq(rfq, ConsolidatedBook("BTC/USD", shifted, rfq.ts_us, 2000)), ids, rfq.ts_us)
        quoted.ids.rebase(rfq.event_id)
        quoted.engine.quote(price_rfq(rfq, ConsolidatedBook("BTC/USD", shifted, rfq.ts_us, 2000)), rfq.ts_us)
        fresh.fold(event)
        fresh.fold(event)  # the stage's own quote and the fold both see it: once is once
    as_of = T0 + len(mids) * 60_000_000
    sigma = quoted.engine.volatility.sigma_bps_per_sqrt_s("BTC/USD", as_of)
    assert sigma == fresh.engine.volatility.sigma_bps_per_sqrt_s("BTC/USD", as_of)
    assert sigma != settings.quote.vol_default_bps_per_sqrt_s  # enough points: a measured volatility
