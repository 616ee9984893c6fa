"""Back-office stages on `streams.testing.StageHarness`, in stream time: hedger, venue simulator,
settlement and recon.

No broker: what each stage sends is recorded (Avro bytes, decoded here), and time is what the
test says the producers' watermarks are, so clip release, venue latency and settlement timing are
exact. The last test chains the four stages by hand (each one's outputs are the next one's
inputs) and expects a MATCHED reconciliation of the deal.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from otcdesk.events import (
    BookLevel,
    DeadLetter,
    ExecType,
    Fill,
    HedgeOrder,
    OrderState,
    PriceUpdate,
    ReconResult,
    ReconStatus,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
    Venue,
)
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US
from otcdesk.venue_sim import is_venue_report
from streams.hedger import HedgerStage
from streams.recon import ReconStage
from streams.settlement import SettlementStage
from streams.testing import StageHarness
from streams.venue_sim import VenueSimStage
from tests.instruments import instrument_list

T0 = 1_764_000_000_000_000  # Monday 2025-11-24 16:00 UTC: inside New York wire hours
INSTRUMENTS = {(i.venue, i.symbol): i for i in instrument_list()}
VENUES = (Venue.BINANCE, Venue.OKX, Venue.COINBASE, Venue.KRAKEN)
GARBAGE = b"\xc3\x01garbage-bytes"


def _book(venue: Venue, mid: str = "95000", ts_us: int = T0, qty: str = "5") -> PriceUpdate:
    m = D(mid)
    bids = tuple(BookLevel(m - D(i + 1), D(qty)) for i in range(20))
    asks = tuple(BookLevel(m + D(i + 1), D(qty)) for i in range(20))
    return PriceUpdate(
        f"px-{venue.value}-{ts_us}", ts_us, "feed", venue, "BTC/USD", bids, asks, 1, D("0.001"), D("0.01"), D("0.00001")
    )


def _trade(qty: str = "10", price: str = "95010", rfq_id: str = "rfq-1", event_id: str = "e-trade") -> TradeBooked:
    q, p = D(qty), D(price)
    return TradeBooked(
        event_id,
        T0,
        "acceptance",
        rfq_id,
        f"trade-{rfq_id}",
        f"q-{rfq_id}",
        "ACME",
        "BTC/USD",
        Side.BUY,
        q,
        p,
        (q * p).quantize(D("0.01")),
        D("0"),
        D("95000"),
    )


def _settings(settings: Settings) -> Settings:
    # Events are shuttled by hand: no order times out meanwhile.
    s = settings.model_copy(update={"time": "stream"})
    return s.model_copy(update={"hedge": s.hedge.model_copy(update={"order_timeout_ms": 10**9})})


def _load_books(harness: StageHarness, qty: str = "5", ts_us: int = T0 - 1) -> None:
    for venue in VENUES:
        harness.put("prices", _book(venue, qty=qty, ts_us=ts_us))
    harness.advance("feed", to_us=END_US)  # the books stay as they are


def _desk_orders(harness: StageHarness) -> list[HedgeOrder]:
    return [e for e in harness.sent_events("orders") if isinstance(e, HedgeOrder) and not is_venue_report(e)]


def test_hedger_plans_a_twap_releases_clips_on_stream_time_and_dead_letters_bad_input(settings: Settings) -> None:
    hedger = HedgerStage(_settings(settings), INSTRUMENTS)
    harness = StageHarness(hedger.stage)
    _load_books(harness)
    harness.put("trades", _trade())
    harness.put("trades", _trade(event_id="e-again"))  # redelivered: no 2nd hedge
    harness.put("trades", GARBAGE, key=b"junk")
    harness.put("trades", _book(Venue.OKX), key=b"rfq-x")  # a PriceUpdate is no trade
    harness.advance("venue-sim", to_us=END_US)  # no venue answers: the clips go as planned
    harness.advance("acceptance", to_us=T0 + 1)
    asyncio.run(harness.run())
    plan = hedger.trackers["rfq-1"].plan
    assert len(_desk_orders(harness)) >= 1 and all(o.ts_us == T0 for o in _desk_orders(harness))  # the first clip
    # Past any horizon: every clip comes due. (Not to the end of time: an order nobody answers is
    # asked about again every order timeout, for ever.)
    harness.advance("acceptance", to_us=T0 + 700 * 1_000_000)
    asyncio.run(harness.run())
    orders = [o for o in _desk_orders(harness) if o.state is OrderState.WORKING]
    assert {o.clip_index for o in orders} == {c.index for c in plan.clips}
    assert {o.clip_index: o.ts_us for o in orders} == {c.index: c.send_at_us for c in plan.clips}  # at its instant
    assert len(plan.clips) >= 2 and sum(c.qty_base for c in plan.clips) == D("10")
    assert sum(o.qty_base for o in orders) == D("10")
    assert all(o.source == "hedger" and o.rfq_id == "rfq-1" for o in orders)
    assert all(o.limit_price_quote > D("95000") for o in orders)  # a BUY's protective limit above the touch
    assert len({o.order_id for o in orders}) == len(orders)
    reasons = sorted(d.reason for d in harness.dead_letters())
    assert reasons == ["decode:unknown_fingerprint", "invalid:wrong_event"]
    assert all(d.source_topic == "tc-trades" for d in harness.dead_letters())


def test_a_hedge_acts_only_when_stream_time_reaches_its_wake_time(settings: Settings) -> None:
    """Three hedges, one timer each: moving the watermark to the earliest wake time routes that
    hedge's clip and touches no other."""
    hedger = HedgerStage(_settings(settings), INSTRUMENTS)
    harness = StageHarness(hedger.stage)
    _load_books(harness)
    harness.advance("venue-sim", to_us=END_US)
    for n in range(3):
        harness.put("trades", _trade(rfq_id=f"rfq-{n}", event_id=f"e-{n}"))
    harness.advance("acceptance", to_us=T0 + 1)
    asyncio.run(harness.run())
    wakes = {rfq_id: t.wake_us() for rfq_id, t in hedger.trackers.items()}
    assert all(w is not None and w > T0 for w in wakes.values())  # the first clips went at once
    before = len(_desk_orders(harness))
    first = min(wakes, key=wakes.__getitem__)
    harness.advance("acceptance", to_us=wakes[first] + 1)
    asyncio.run(harness.run())
    new = _desk_orders(harness)[before:]
    assert new and {o.rfq_id for o in new} == {r for r, w in wakes.items() if w == wakes[first]}
    assert all(o.ts_us == wakes[first] for o in new)
    assert hedger.trackers[first].wake_us() > wakes[first]  # filed again at its next clip


def _order(order_id: str = "o-1", qty: str = "3", venue: Venue = Venue.BINANCE, **kw: object) -> HedgeOrder:
    values: dict = dict(
        event_id=f"e-{order_id}",
        ts_us=T0,
        source="hedger",
        rfq_id="rfq-1",
        order_id=order_id,
        trade_id="trade-rfq-1",
        venue=venue,
        symbol="BTC/USD",
        side=Side.BUY,
        qty_base=D(qty),
        limit_price_quote=D("95100"),
        clip_index=0,
        clip_count=2,
        state=OrderState.WORKING,
        filled_qty_base=D("0"),
        avg_fill_price_quote=D("0"),
    )
    values.update(kw)
    return HedgeOrder(**values)


def test_venue_sim_fills_new_orders_at_their_seeded_arrival(settings: Settings) -> None:
    s = _settings(settings)
    s = s.model_copy(update={"venue_sim": s.venue_sim.model_copy(update={"reject_prob": 0.0})})
    runs = []
    for _ in range(2):
        harness = StageHarness(VenueSimStage(s, INSTRUMENTS).stage)
        _load_books(harness)
        harness.put("orders", _order())
        harness.put("orders", _order())  # redelivered: executed once
        harness.put("orders", _order("o-2", state=OrderState.FILLED, filled_qty_base=D("3")))  # an update
        harness.put("orders", GARBAGE, key=b"junk")
        harness.put("orders", _trade())  # a trade on orders
        harness.advance("hedger", to_us=T0)
        asyncio.run(harness.run())
        assert harness.sent_events("fills") == []  # in flight: nothing arrives at the instant it is sent
        harness.advance("hedger", to_us=END_US)
        asyncio.run(harness.run())
        runs.append(harness)
    harness = runs[0]
    fills = [e for e in harness.sent_events("fills") if isinstance(e, Fill)]
    reports = [e for e in harness.sent_events("orders") if isinstance(e, HedgeOrder)]
    assert [(f.exec_type, f.price_quote, f.qty_base) for f in fills] == [(ExecType.FILL, D("95001"), D("3"))]
    assert all(f.ts_us > T0 and f.order_id == "o-1" and f.venue is Venue.BINANCE for f in fills)
    assert len(reports) == 1 and reports[0].source == "venue:BINANCE" and reports[0].state is OrderState.FILLED
    assert reports[0].filled_qty_base == D("3") and reports[0].ts_us >= fills[0].ts_us
    again = runs[1]
    assert [e.event_id for e in again.sent_events("fills")] == [f.event_id for f in fills]  # seeded per order
    assert sorted(d.reason for d in harness.dead_letters()) == ["decode:unknown_fingerprint", "invalid:wrong_event"]
    assert all(d.source_topic == "tc-orders" for d in harness.dead_letters())
    # A reactive producer says when it answers next: the hedger need not wait for it before that.
    assert any(m.next_us == fills[0].ts_us for m in harness.marks)


def test_settlement_emits_each_leg_state_when_stream_time_reaches_it(settings: Settings) -> None:
    stage = SettlementStage(_settings(settings))
    harness = StageHarness(stage.stage)
    harness.put("trades", _trade())
    harness.put("trades", _trade(event_id="e-again"))  # redelivered
    harness.put("trades", GARBAGE, key=b"junk")
    harness.put("trades", _trade(qty="0", rfq_id="rfq-0", event_id="e-0"))
    harness.advance("acceptance", to_us=T0 + 1)
    asyncio.run(harness.run())
    early = list(harness.sent_events("settlements"))
    assert early and all(e.ts_us <= T0 for e in early)  # only what was due at the trade's time
    harness.advance("acceptance", to_us=END_US)
    asyncio.run(harness.run())
    events = [e for e in harness.sent_events("settlements") if isinstance(e, SettlementUpdated)]
    assert [e.ts_us for e in events] == sorted(e.ts_us for e in events)  # sent in event-time order
    assert len({e.event_id for e in events}) == len(events)  # the redelivered trade was not planned twice

    def by_time(xs: list[SettlementUpdated]) -> list[SettlementUpdated]:
        return sorted(xs, key=lambda e: (e.ts_us, e.event_id))

    assert by_time(events) == by_time(stage.plan(_trade()))  # exactly the planner's events, ids included
    final = {e.leg: e.state for e in events}
    assert final == {SettlementLeg.BASE: SettlementState.SETTLED, SettlementLeg.QUOTE: SettlementState.SETTLED}
    assert sorted(d.reason for d in harness.dead_letters()) == [
        "decode:unknown_fingerprint",
        "invalid:non_positive_qty_base",
    ]
    assert harness.marks[-1].ts_us == END_US  # every input ended and every timer ran


def test_recon_dead_letters_wrong_events_per_topic(settings: Settings) -> None:
    harness = StageHarness(ReconStage(_settings(settings), INSTRUMENTS).stage)
    harness.put("fills", _trade())
    harness.put("fills", GARBAGE, key=b"junk")
    harness.put("trades", _trade())  # pending: nothing to say yet
    harness.advance_all(T0 + 1)
    asyncio.run(harness.run())
    assert harness.sent_events("recon") == []
    assert sorted((d.source_topic, d.reason) for d in harness.dead_letters()) == [
        ("tc-fills", "decode:unknown_fingerprint"),
        ("tc-fills", "invalid:wrong_event"),
    ]


def _shuttle(source: StageHarness, target: StageHarness, topics: tuple[str, ...], seen: set[str]) -> None:
    """What `source` sent on `topics` that `target` reads and has not had yet, in the order sent."""
    for sent in source.sent:
        if sent.topic in topics and (event := sent.event).event_id not in seen:
            seen.add(event.event_id)
            target.put(sent.topic, event)


def test_a_deal_hedged_filled_and_settled_reconciles_matched(settings: Settings) -> None:
    """hedger -> venue-sim -> hedger in steps of stream time, then settlement, then recon."""
    s = _settings(settings)
    # Thin books (20 BTC a venue, 5 within the participation cap) and one clip: it needs several venues.
    s = s.model_copy(update={"hedge": s.hedge.model_copy(update={"interval_s": D("50")})})
    hedger, venue = HedgerStage(s, INSTRUMENTS), VenueSimStage(s, INSTRUMENTS)
    h, v = StageHarness(hedger.stage), StageHarness(venue.stage)
    settle, recon = StageHarness(SettlementStage(s).stage), StageHarness(ReconStage(s, INSTRUMENTS).stage)
    for harness in (h, v):
        _load_books(harness, qty="1")
    trade = _trade()
    h.put("trades", trade)
    h.advance("acceptance", to_us=END_US)
    to_venue: set[str] = set()
    to_hedger: set[str] = set()
    step_us = 100_000
    for step in range(1, 20_000):
        now_us = T0 + step * step_us
        h.advance("venue-sim", to_us=now_us)
        asyncio.run(h.run())
        _shuttle(h, v, ("orders",), to_venue)
        v.advance("hedger", to_us=now_us + step_us)
        asyncio.run(v.run())
        _shuttle(v, h, ("fills", "orders"), to_hedger)
        if "rfq-1" in hedger.done:
            break
    assert "rfq-1" in hedger.done
    settle.put("trades", trade)
    settle.advance_all(END_US)
    asyncio.run(settle.run())
    lifecycle = ("trades", "orders", "fills", "settlements")
    recon.put("trades", trade)
    for source in (h, v, settle):
        for sent in source.sent:
            if sent.topic in lifecycle:
                recon.put(sent.topic, sent.event)
    recon.put("fills", settle.sent_events("settlements")[-1])  # a SettlementUpdated on fills
    recon.advance_all(END_US)
    asyncio.run(recon.run())
    fills = [f for f in v.sent_events("fills") if isinstance(f, Fill) and f.exec_type is ExecType.FILL]
    assert sum(f.qty_base for f in fills) == D("10")
    assert len({o.venue for o in _desk_orders(h)}) >= 2  # routed over several venues
    results = [r for r in recon.sent_events("recon") if isinstance(r, ReconResult)]
    assert results and results[-1].status is ReconStatus.MATCHED, results[-1] if results else None
    assert results[-1].hedged_qty_base == D("10") and results[-1].breaks == ()
    assert [r.revision for r in results] == list(range(1, len(results) + 1))
    assert [d.reason for d in recon.dead_letters()] == ["invalid:wrong_event"]
    assert not any(isinstance(e, DeadLetter) for x in (h, v, settle) for e in x.sent_events())
