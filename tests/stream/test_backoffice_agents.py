"""Back-office agents in faust's test_context: hedger, venue simulator, settlement and recon.

No broker: what each stage sends is recorded (Avro bytes, decoded here), and the desk clock is a
`FixedClock` moved by hand, so clip release, venue latency and settlement timing are exact.
The last test chains the four stages by hand (each one's outputs are the next one's inputs, in
event-time order) and expects a MATCHED reconciliation of the deal.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from otcdesk.clock import FixedClock
from otcdesk.events import (
    BookLevel, DeadLetter, Event, ExecType, Fill, HedgeOrder, OrderState, PriceUpdate, ReconResult, ReconStatus,
    SettlementLeg, SettlementState, Side, TradeBooked, Venue,
)
from otcdesk.settings import Settings
from otcdesk.venue_sim import is_venue_report
from streams.hedger import HedgerStage
from streams.recon import ReconStage
from streams.settlement import SettlementStage
from streams.venue_sim import VenueSimStage
from tests.instruments import instrument_list
from tests.stream.conftest import Recorded, record, wire

T0 = 1_764_000_000_000_000  # Monday 2025-11-24 16:00 UTC: inside New York wire hours
INSTRUMENTS = {(i.venue, i.symbol): i for i in instrument_list()}
VENUES = (Venue.BINANCE, Venue.OKX, Venue.COINBASE, Venue.KRAKEN)
GARBAGE = b"\xc3\x01garbage-bytes"


def _book(venue: Venue, mid: str = "95000", ts_us: int = T0, qty: str = "5") -> PriceUpdate:
    m = D(mid)
    bids = tuple(BookLevel(m - D(i + 1), D(qty)) for i in range(20))
    asks = tuple(BookLevel(m + D(i + 1), D(qty)) for i in range(20))
    return PriceUpdate(f"px-{venue.value}-{ts_us}", ts_us, "feed", venue, "BTC/USD", bids, asks, 1,
                       D("0.001"), D("0.01"), D("0.00001"))


def _trade(qty: str = "10", price: str = "95010", rfq_id: str = "rfq-1", event_id: str = "e-trade") -> TradeBooked:
    q, p = D(qty), D(price)
    return TradeBooked(event_id, T0, "acceptance", rfq_id, f"trade-{rfq_id}", f"q-{rfq_id}", "ACME", "BTC/USD",
                       Side.BUY, q, p, (q * p).quantize(D("0.01")), D("0"), D("95000"))


def _settings(settings: Settings) -> Settings:
    # The clock is moved by hand: no order times out while the test shuttles events by hand.
    return settings.model_copy(update={"hedge": settings.hedge.model_copy(update={"order_timeout_ms": 10**9})})


async def _load_books(stage: HedgerStage | VenueSimStage, qty: str = "5") -> None:
    for venue in VENUES:
        stage.books.apply(_book(venue, qty=qty))  # what the prices fold does with each record


def _desk_orders(recorded: Recorded) -> list[HedgeOrder]:
    return [e for e in recorded.events("orders") if isinstance(e, HedgeOrder) and not is_venue_report(e)]


def test_hedger_plans_a_twap_releases_clips_on_the_clock_and_dead_letters_bad_input(settings: Settings) -> None:
    hedger = HedgerStage(_settings(settings), INSTRUMENTS, rebuild=False)
    clock = hedger.clock = FixedClock(T0)
    recorded = record(hedger.stage)
    plans = []

    async def run() -> None:
        await _load_books(hedger)
        async with hedger.stage.app.agents["hedger_trades"].test_context() as trades:
            await trades.put(value=wire(_trade()), key=b"rfq-1")
            await trades.put(value=wire(_trade(event_id="e-again")), key=b"rfq-1")  # redelivered: no 2nd hedge
            await trades.put(value=GARBAGE, key=b"junk")
            await trades.put(value=wire(_book(Venue.OKX)), key=b"rfq-x")  # a PriceUpdate is no trade
        plans.append(hedger.trackers["rfq-1"].plan)
        first = len(_desk_orders(recorded))
        assert first >= 1  # the first clip goes at once
        clock.advance(700 * 1_000_000)  # past any horizon: every clip is due
        await hedger.tick()
        clips = [o for o in _desk_orders(recorded) if o.state is OrderState.WORKING]
        assert {o.clip_index for o in clips} == {c.index for c in plans[0].clips}  # each at its planned time
        assert sorted(o.ts_us for o in clips) == sorted(c.send_at_us for c in plans[0].clips for _ in
                                                         range(sum(1 for o in clips if o.clip_index == c.index)))

    asyncio.run(run())
    orders = [o for o in _desk_orders(recorded) if o.state is OrderState.WORKING]
    plan = plans[0]
    assert len(plan.clips) >= 2 and sum(c.qty_base for c in plan.clips) == D("10")
    assert sum(o.qty_base for o in orders) == D("10")
    assert all(o.state is OrderState.WORKING and o.source == "hedger" and o.rfq_id == "rfq-1" for o in orders)
    assert all(o.limit_price_quote > D("95000") for o in orders)  # a BUY's protective limit above the touch
    assert len({o.order_id for o in orders}) == len(orders)
    reasons = sorted(d.reason for d in recorded.dead_letters())
    assert reasons == ["decode:unknown_fingerprint", "invalid:wrong_event"]
    assert all(d.source_topic == "tc-trades" for d in recorded.dead_letters())


def test_hedger_tick_looks_only_at_hedges_whose_wake_time_came(settings: Settings) -> None:
    """The timer pops due hedges off a heap: a hedge whose next clip is later is not touched, and
    a hedge filled by its events leaves the heap without a tick."""
    hedger = HedgerStage(_settings(settings), INSTRUMENTS, rebuild=False)
    clock = hedger.clock = FixedClock(T0)
    record(hedger.stage)
    touched: list[str] = []

    async def run() -> None:
        await _load_books(hedger)
        async with hedger.stage.app.agents["hedger_trades"].test_context() as trades:
            for n in range(3):
                await trades.put(value=wire(_trade(rfq_id=f"rfq-{n}", event_id=f"e-{n}")), key=f"rfq-{n}".encode())
        wakes = {rfq_id: t.wake_us() for rfq_id, t in hedger.trackers.items()}
        assert all(w is not None and w > T0 for w in wakes.values())  # the first clips went at once
        for tracker in hedger.trackers.values():
            original = tracker.expire
            tracker.expire = lambda now_us, _t=tracker, _o=original: touched.append(_t.trade.rfq_id) or _o(now_us)
        await hedger.tick()  # nothing due yet
        assert touched == []
        first = min(wakes, key=wakes.__getitem__)
        clock.advance(wakes[first] - T0)
        await hedger.tick()
        assert touched == [r for r, w in wakes.items() if w == wakes[first]]
        assert hedger.trackers[first].wake_us() > wakes[first]  # filed again at its next clip

    asyncio.run(run())


def _order(order_id: str = "o-1", qty: str = "3", venue: Venue = Venue.BINANCE, **kw: object) -> HedgeOrder:
    values: dict = dict(event_id=f"e-{order_id}", ts_us=T0, source="hedger", rfq_id="rfq-1", order_id=order_id,
                        trade_id="trade-rfq-1", venue=venue, symbol="BTC/USD", side=Side.BUY, qty_base=D(qty),
                        limit_price_quote=D("95100"), clip_index=0, clip_count=2, state=OrderState.WORKING,
                        filled_qty_base=D("0"), avg_fill_price_quote=D("0"))
    values.update(kw)
    return HedgeOrder(**values)


def test_venue_sim_fills_new_orders_after_latency_deterministically(settings: Settings) -> None:
    runs = []
    for _ in range(2):
        venue = VenueSimStage(settings.model_copy(update={"venue_sim": settings.venue_sim.model_copy(
            update={"reject_prob": 0.0})}), INSTRUMENTS, rebuild=False)
        clock = venue.clock = FixedClock(T0)
        recorded = record(venue.stage)

        async def run(v: VenueSimStage = venue) -> None:
            await _load_books(v)
            async with v.stage.app.agents["venue_sim_orders"].test_context() as orders:
                await orders.put(value=wire(_order()), key=b"rfq-1")
                await orders.put(value=wire(_order()), key=b"rfq-1")  # redelivered: executed once
                await orders.put(value=wire(_order("o-2", state=OrderState.FILLED, filled_qty_base=D("3"))),
                                 key=b"rfq-1")  # the desk's update of an order: not a new order
                await orders.put(value=GARBAGE, key=b"junk")
                await orders.put(value=wire(_trade()), key=b"rfq-1")  # a trade on orders
                await asyncio.sleep(0.05)  # the latency task (FixedClock: no real wait)

        asyncio.run(run())
        runs.append((recorded, clock.now_us()))
    recorded, now_us = runs[0]
    fills = [e for e in recorded.events("fills") if isinstance(e, Fill)]
    reports = [e for e in recorded.events("orders") if isinstance(e, HedgeOrder)]
    assert [(f.exec_type, f.price_quote, f.qty_base) for f in fills] == [(ExecType.FILL, D("95001"), D("3"))]
    assert all(f.ts_us > T0 and f.order_id == "o-1" and f.venue is Venue.BINANCE for f in fills)
    assert now_us >= fills[0].ts_us  # the stage waited for the arrival on the desk clock
    assert len(reports) == 1 and reports[0].source == "venue:BINANCE" and reports[0].state is OrderState.FILLED
    assert reports[0].filled_qty_base == D("3")
    again = runs[1][0]
    assert [e.event_id for e in again.events("fills")] == [f.event_id for f in fills]  # seeded per order
    assert sorted(d.reason for d in recorded.dead_letters()) == ["decode:unknown_fingerprint", "invalid:wrong_event"]
    assert all(d.source_topic == "tc-orders" for d in recorded.dead_letters())


def test_settlement_emits_each_leg_state_when_its_sim_time_comes(settings: Settings) -> None:
    stage = SettlementStage(settings)
    clock = stage.clock = FixedClock(T0)
    recorded = record(stage.stage)

    async def run() -> None:
        async with stage.stage.app.agents["settlement_trades"].test_context() as trades:
            await trades.put(value=wire(_trade()), key=b"rfq-1")
            await trades.put(value=wire(_trade(event_id="e-again")), key=b"rfq-1")  # redelivered
            await trades.put(value=GARBAGE, key=b"junk")
            await trades.put(value=wire(_trade(qty="0", rfq_id="rfq-0", event_id="e-0")), key=b"rfq-0")
        await stage.tick()
        early = list(recorded.events("settlements"))
        clock.advance(3 * 24 * 3600 * 1_000_000)
        await stage.tick()
        assert early and all(e.ts_us <= T0 for e in early)  # only what was due at the trade's time

    asyncio.run(run())
    events = list(recorded.events("settlements"))
    assert [e.ts_us for e in events] == sorted(e.ts_us for e in events)  # sent in sim-time order
    assert len({e.event_id for e in events}) == len(events)  # the redelivered trade was not planned twice
    assert events == [e for e in stage.plan(_trade())]  # exactly the planner's sequence, ids included
    final = {e.leg: e.state for e in events}
    assert final == {SettlementLeg.BASE: SettlementState.SETTLED, SettlementLeg.QUOTE: SettlementState.SETTLED}
    assert sorted(d.reason for d in recorded.dead_letters()) == ["decode:unknown_fingerprint",
                                                                  "invalid:non_positive_qty_base"]


def test_recon_dead_letters_wrong_events_per_topic(settings: Settings) -> None:
    stage = ReconStage(settings, INSTRUMENTS, rebuild=False)
    recorded = record(stage.stage)

    async def run() -> None:
        async with stage.stage.app.agents["recon_fills"].test_context() as fills:
            await fills.put(value=wire(_trade()), key=b"rfq-1")
            await fills.put(value=GARBAGE, key=b"junk")
        async with stage.stage.app.agents["recon_trades"].test_context() as trades:
            await trades.put(value=wire(_trade()), key=b"rfq-1")  # pending: nothing to say yet
        await stage.flush()

    asyncio.run(run())
    assert recorded.events("recon") == []
    assert sorted((d.source_topic, d.reason) for d in recorded.dead_letters()) == [
        ("tc-fills", "decode:unknown_fingerprint"), ("tc-fills", "invalid:wrong_event")]


def test_a_deal_hedged_filled_and_settled_reconciles_matched(settings: Settings) -> None:
    """hedger -> venue-sim -> hedger, settlement, and recon over everything, by hand in event time."""
    s = _settings(settings)
    # Thin books (20 BTC a venue, 5 within the participation cap) and one clip: it needs several venues.
    s = s.model_copy(update={"hedge": s.hedge.model_copy(update={"interval_s": D("50")})})
    clock = FixedClock(T0)
    hedger, venue, settle, recon = (HedgerStage(s, INSTRUMENTS, rebuild=False), VenueSimStage(s, INSTRUMENTS, rebuild=False),
                                    SettlementStage(s), ReconStage(s, INSTRUMENTS, rebuild=False))
    for stage in (hedger, venue, settle, recon):
        stage.clock = clock
    rec_h, rec_v, rec_s, rec_r = (record(x.stage) for x in (hedger, venue, settle, recon))
    trade = _trade()
    seen: set[str] = set()  # venue events already passed back to the hedger

    async def run() -> None:
        await _load_books(hedger, qty="1")
        await _load_books(venue, qty="1")
        agents = hedger.stage.app.agents
        async with agents["hedger_trades"].test_context() as h_trades:
            await h_trades.put(value=wire(trade), key=b"rfq-1")
        async with agents["hedger_fills"].test_context() as h_fills, \
                agents["hedger_orders"].test_context() as h_orders, \
                venue.stage.app.agents["venue_sim_orders"].test_context() as v_orders:
            sent = 0
            for _ in range(200):
                for order in rec_h.events("orders")[sent:]:
                    await v_orders.put(value=wire(order), key=b"rfq-1")
                sent = len(rec_h.events("orders"))
                await asyncio.sleep(0.01)  # venue latency tasks
                for event in rec_v.events():
                    if event.event_id not in seen:
                        seen.add(event.event_id)
                        agent = h_fills if isinstance(event, Fill) else h_orders
                        await agent.put(value=wire(event), key=b"rfq-1")
                if "rfq-1" in hedger.done:
                    break
                clock.advance(2_000_000)
                await hedger.tick()
        async with settle.stage.app.agents["settlement_trades"].test_context() as s_trades:
            await s_trades.put(value=wire(trade), key=b"rfq-1")
        clock.advance(3 * 24 * 3600 * 1_000_000)
        await settle.tick()
        everything: list[Event] = [trade, *rec_h.events("orders"), *rec_v.events(), *rec_s.events("settlements")]
        everything.sort(key=lambda e: e.ts_us)
        topic = {TradeBooked: "trades", HedgeOrder: "orders", Fill: "fills"}
        async with recon.stage.app.agents["recon_trades"].test_context() as r_trades, \
                recon.stage.app.agents["recon_orders"].test_context() as r_orders, \
                recon.stage.app.agents["recon_fills"].test_context() as r_fills, \
                recon.stage.app.agents["recon_settlements"].test_context() as r_settlements:
            agents_by = {"trades": r_trades, "orders": r_orders, "fills": r_fills, "settlements": r_settlements}
            for event in everything:
                await agents_by[topic.get(type(event), "settlements")].put(value=wire(event), key=b"rfq-1")
            await r_fills.put(value=wire(everything[-1]), key=b"rfq-1")  # a SettlementUpdated on fills
        await recon.flush()  # the deal is judged on its timer, after its events

    asyncio.run(run())
    assert "rfq-1" in hedger.done
    fills = [f for f in rec_v.events("fills") if isinstance(f, Fill) and f.exec_type is ExecType.FILL]
    assert sum(f.qty_base for f in fills) == D("10")
    assert len({o.venue for o in _desk_orders(rec_h)}) >= 2  # routed over several venues
    results = [r for r in rec_r.events("recon") if isinstance(r, ReconResult)]
    assert results and results[-1].status is ReconStatus.MATCHED, results[-1] if results else None
    assert results[-1].hedged_qty_base == D("10") and results[-1].breaks == ()
    assert [r.revision for r in results] == list(range(1, len(results) + 1))
    assert [d.reason for d in rec_r.dead_letters()] == ["invalid:wrong_event"]
    assert not any(isinstance(e, DeadLetter) for rec in (rec_h, rec_v, rec_s) for e in rec.events())
