"""Front-office stages on `streams.testing.StageHarness`: typed events in, typed events (or dead
letters) out, in stream time: nothing moves until the producers' watermarks say so. One test goes
through the stage's faust agent in faust's `test_context` (the decoding path of a live worker)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal as D

from otcdesk.events import (
    BookLevel,
    PriceUpdate,
    Quote,
    QuoteAction,
    QuoteRejected,
    QuoteResponse,
    RejectReason,
    Rfq,
    RfqPriced,
    Side,
    TradeBooked,
    Venue,
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
    return PriceUpdate(
        f"px-{venue.value}-{ts_us}", ts_us, "feed", venue, "BTC/USD", bids, asks, 1, D("0.001"), D("0.01"), D("0.00001")
    )


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
    stream_settings: Settings,
) -> None:
    """Folds are applied in event-time order up to the RFQ's instant: a trade booked after the RFQ
    (already on its topic) does not change the quote; one booked before it does."""
    books = [_book(Venue.BINANCE, "95000"), _book(Venue.KRAKEN, "95005")]
    big = TradeBooked(
        "e-t",
        0,
        "acceptance",
        "rfq-0",
        "trade-0",
        "q-0",
        "ACME",
        "BTC/USD",
        Side.BUY,
        D("40"),
        D("95000"),
        D("3800000"),
        D("0"),
        D("95000"),
    )
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
        quotes["none"].bid_price_quote,
        quotes["none"].ask_price_quote,
    )


def _quote(**changes: object) -> Quote:
    base = Quote(
        "e-q",
        T0 + 2000,
        "quote-engine",
        "rfq-1",
        "q-1",
        "ACME",
        "BTC/USD",
        Side.BUY,
        D("10"),
        D("94900"),
        D("95100"),
        D("95000"),
        D("94990"),
        D("95010"),
        D("2"),
        D("0"),
        D("1"),
        D("1"),
        D("0"),
        D("100"),
        D("100"),
        (Venue.BINANCE,),
        (),
        T0 + 2000 + 5_000_000,
    )
    return replace(base, **changes)


def _response(**changes: object) -> QuoteResponse:
    base = QuoteResponse(
        "e-resp", T0 + 3000, "client", "rfq-1", "q-1", "ACME", QuoteAction.ACCEPT, Side.BUY, D("95100"), D("10"), None
    )
    return replace(base, **changes)


def test_acceptance_books_a_trade_once_and_refuses_late_or_repeated_acceptances(stream_settings: Settings) -> None:
    stage = AcceptanceStage(stream_settings)
    harness = StageHarness(stage.stage)
    harness.put("quotes", _quote())
    harness.put("quotes", _response())
    harness.put("quotes", _response())  # redelivered: not judged again, its trade stands
    harness.put("quotes", _response(event_id="e-again", ts_us=T0 + 4000))  # a 2nd accept: refused
    harness.put("quotes", _quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2"))
    late = _response(event_id="e-late", rfq_id="rfq-2", quote_id="q-2", ts_us=T0 + 2000 + 6_000_000)
    harness.put("quotes", late)
    harness.advance_all(T0 + 60_000_000)
    asyncio.run(harness.run())
    trades = [e for e in harness.sent_events("trades") if isinstance(e, TradeBooked)]
    assert len(trades) == 1  # the redelivery is not a second trade, nor an ALREADY_ACCEPTED
    assert trades[0].price_quote == D("95100") and trades[0].qty_base == D("10")
    refusals = [(e.quote_id, e.reason, e.ts_us) for e in harness.sent_events("quotes") if isinstance(e, QuoteRejected)]
    expired_at = _quote().valid_until_us + 1  # on stream time: the instant after the deadline, not a clock
    assert refusals == [
        ("q-1", RejectReason.ALREADY_ACCEPTED, T0 + 4000),
        ("q-2", RejectReason.QUOTE_EXPIRED, expired_at),
        ("q-2", RejectReason.QUOTE_EXPIRED, late.ts_us),
    ]
    assert harness.dead_letters() == []  # refused acceptances are answers the client reads, not dead letters


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
        harness.put("rfq", _rfq(source="simulate"))
        harness.put("rfq", _rfq(rfq_id="rfq-x", event_id="e-rfq-x", client_id="SOMEONE-ELSE", source="simulate"))
        harness.put("quotes", _quote())
        harness.put("quotes", _quote(client_id="SOMEONE-ELSE", rfq_id="rfq-x", quote_id="q-x", event_id="e-x"))
        harness.advance_all(T0 + 2000)
        asyncio.run(harness.run())
        assert harness.sent_events() == []  # the answer is due later in stream time
        harness.advance_all(END_US)
        asyncio.run(harness.run())
        answers.append([(e.quote_id, e.action, e.event_id, e.ts_us) for e in harness.sent_events("quotes")])
    assert answers[0] == answers[1] and len(answers[0]) == 1
    quote_id, _, _, ts_us = answers[0][0]
    assert quote_id == "q-1" and ts_us > T0 + 2000


def test_client_sim_leaves_a_persons_rfq_in_a_simulated_clients_name_to_that_person(stream_settings: Settings) -> None:
    """ACME is a simulated client, but an RFQ a person or another program sent in ACME's name
    (any source but the simulator's) is answered by whoever sent it, never by the simulation."""
    harness = StageHarness(ClientSimStage(stream_settings).stage)
    harness.put("rfq", _rfq(source="cli"))
    harness.put("rfq", _rfq(rfq_id="rfq-sim", event_id="e-rfq-sim", source="load"))
    harness.put("quotes", _quote())
    harness.put("quotes", _quote(rfq_id="rfq-sim", quote_id="q-sim", event_id="e-q-sim"))
    harness.advance_all(END_US)
    asyncio.run(harness.run())
    assert {e.quote_id for e in harness.sent_events("quotes")} == {"q-sim"}


def test_client_sim_live_holds_a_quote_read_before_its_rfq(settings: Settings) -> None:
    """Live, `quotes` and `rfq` are two fetches: a quote may be read first; it waits for its RFQ."""
    sim = ClientSimStage(settings)
    StageHarness(sim.stage)
    asyncio.run(sim.on_quote(_quote()))
    assert sim.waiting and not sim.handled
    sim.on_rfq(_rfq(source="cli"))
    assert not sim.waiting and not sim.handled  # a person's: dropped
    asyncio.run(sim.on_quote(_quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2")))
    sim.on_rfq(_rfq(rfq_id="rfq-2", event_id="e-rfq-2", source="load"))
    assert not sim.waiting and sim.handled == {"q-2"}


def test_the_same_rfq_twice_is_priced_once_and_another_under_its_rfq_id_is_a_duplicate(
    stream_settings: Settings,
) -> None:
    """The same RFQ again (same event id) gets no second answer, even after the books changed;
    a different RFQ under the same rfq_id is dead-lettered as a duplicate."""
    harness = StageHarness(Aggregator(stream_settings).stage)
    harness.put("rfq", _rfq())  # no book yet: refused NO_FRESH_VENUE
    harness.advance("simulate", "feed", to_us=T0 + 2000)
    asyncio.run(harness.run())
    harness.put("prices", _book(Venue.BINANCE, "95000", ts_us=T0 + 3000))
    harness.put("rfq", _rfq())  # republished as is, now that a venue is fresh
    harness.put("rfq", _rfq(event_id="e-rfq-other", ts_us=T0 + 4000))  # another RFQ, same rfq_id
    harness.advance("simulate", "feed", to_us=END_US)
    asyncio.run(harness.run())
    priced = [e for e in harness.sent_events("rfq-priced") if isinstance(e, RfqPriced)]
    assert [(p.rfq_id, p.refusal_reason) for p in priced] == [("rfq-1", RejectReason.NO_FRESH_VENUE)]
    assert [d.reason for d in harness.dead_letters()] == ["invalid:duplicate_rfq_id"]


def test_acceptance_live_judges_a_response_on_the_desk_clock_not_the_senders(settings: Settings) -> None:
    """Live, the sender's clock is not the desk's: a response stamped hours before the quote (a
    person's wall clock beside a session paced 60x) trades if it reaches the desk in time."""
    from otcdesk.clock import FixedClock

    clock = FixedClock(T0 + 2500)
    stage = AcceptanceStage(settings)
    stage.stage.processor.clock = clock
    StageHarness(stage.stage)
    asyncio.run(stage.on_quote(_quote()))
    out = asyncio.run(stage.on_response(_response(ts_us=T0 - 3_600_000_000)))
    assert [type(e).__name__ for e in out] == ["TradeBooked"] and out[0].ts_us == T0 + 2500
    asyncio.run(stage.on_quote(_quote(rfq_id="rfq-2", quote_id="q-2", event_id="e-q2")))
    clock.set(_quote().valid_until_us + stage.grace_us + 1)  # past the deadline and its grace
    late = asyncio.run(stage.on_response(_response(event_id="e-2", rfq_id="rfq-2", quote_id="q-2")))
    assert [(e.reason, e.ts_us) for e in late] == [(RejectReason.QUOTE_EXPIRED, clock.now_us())]


def test_one_bad_record_gets_the_same_reason_from_every_stage_that_refuses_it(settings: Settings) -> None:
    """The aggregator (through its faust agent) and the ClickHouse sink refuse the same bytes on
    `rfq` with the same reason, and their two dead letters are two events with two ids."""
    from tests.unit.test_sink import FakeMessage, FakeWriter, _sink

    good = wire(_rfq())
    bad = {
        "null": None,
        "empty": b"",
        "garbage": b"\xc3\x01garbage",
        "truncated": good[:12],
        "trailing": good + b"\x00",
    }
    agg = Aggregator(settings)
    harness = StageHarness(agg.stage)

    async def put_all() -> None:
        async with agg.stage.app.agents["aggregator_rfq"].test_context() as rfqs:
            for name, value in bad.items():
                await rfqs.put(value=value, key=name.encode())
        await harness.run()

    asyncio.run(put_all())
    by_stage = {d.source_key.decode(): (d.reason, d.event_id) for d in harness.dead_letters()}
    sink, _, producer = _sink([FakeMessage("rfq", 0, i, v) for i, v in enumerate(bad.values())], FakeWriter())
    sink.run()
    by_sink = {name: (letter.reason, letter.event_id) for name, letter in zip(bad, producer.sent, strict=True)}
    assert {k: r for k, (r, _) in by_stage.items()} == {k: r for k, (r, _) in by_sink.items()}
    assert by_stage["null"][0] == "decode:null_value"
    assert not {i for _, i in by_stage.values()} & {i for _, i in by_sink.values()}


def test_another_event_under_a_handled_event_id_is_refused_not_dropped(stream_settings: Settings) -> None:
    """Two different events never share an id in the desk: the second is a dead letter (its
    bytes kept), not silently taken for a redelivery of the first."""
    harness = StageHarness(Aggregator(stream_settings).stage)
    harness.put("prices", _book(Venue.BINANCE, "95000"))
    harness.put("rfq", _rfq())
    harness.put("rfq", _rfq(rfq_id="rfq-other", qty_base=D("3")))  # same event id, another RFQ
    harness.advance_all(END_US)
    asyncio.run(harness.run())
    assert [e.rfq_id for e in harness.sent_events("rfq-priced")] == ["rfq-1"]
    (letter,) = harness.dead_letters()
    assert letter.reason == "invalid:event_id_reused" and letter.source_key == b"rfq-other" and letter.raw_value
