"""Restart and redelivery, in faust's test_context: what the hedger and the venue simulator rebuild
at start from the topics they read back (`read_back`, then `resume`) must carry on exactly where
the killed process was and send nothing that was not already sent (same event ids); a replayed
decline must not make the acceptance say anything new."""

from __future__ import annotations

import asyncio

from otcdesk.clock import FixedClock
from otcdesk.events import Event, Fill, HedgeOrder, QuoteAction, QuoteRejected, RejectReason
from otcdesk.hedging import HedgeTracker
from otcdesk.settings import Settings
from otcdesk.venue_sim import is_venue_report
from streams.acceptance import AcceptanceStage
from streams.hedger import HedgerStage
from streams.venue_sim import VenueSimStage
from tests.stream.conftest import record, wire
from tests.stream.test_backoffice_agents import INSTRUMENTS, T0, _load_books, _order, _settings, _trade
from tests.stream.test_frontoffice_agents import _quote, _response


def _view(tracker: HedgeTracker) -> dict[str, tuple[object, ...]]:
    return {oid: (o.venue, o.qty_base, o.state, o.filled_qty_base, o.venue_filled_qty_base)
            for oid, o in tracker.orders.items()}


def test_a_hedger_restarted_midway_rebuilds_the_hedge_and_resends_nothing_new(settings: Settings) -> None:
    s = _settings(settings)
    s = s.model_copy(update={"hedge": s.hedge.model_copy(update={"interval_s": 2})})  # several clips
    clock = FixedClock(T0)
    first, venue = HedgerStage(s, INSTRUMENTS, rebuild=False), VenueSimStage(s, INSTRUMENTS, rebuild=False)
    first.clock = venue.clock = clock
    rec_h, rec_v = record(first.stage), record(venue.stage)
    trade = _trade()
    delivered: list[Event] = []  # the venue's events the first hedger got before it was killed
    second = HedgerStage(s, INSTRUMENTS, rebuild=False)
    second.clock = clock
    rec_2 = record(second.stage)

    async def run() -> None:
        for stage in (first, venue, second):
            await _load_books(stage, qty="1")
        agents = first.stage.app.agents
        async with agents["hedger_trades"].test_context() as h_trades:
            await h_trades.put(value=wire(trade), key=b"rfq-1")
        async with agents["hedger_fills"].test_context() as h_fills, \
                agents["hedger_orders"].test_context() as h_orders, \
                venue.stage.app.agents["venue_sim_orders"].test_context() as v_orders:
            for _ in range(2):  # a few steps of the hedge, then the kill
                for order in rec_h.events("orders"):
                    await v_orders.put(value=wire(order), key=b"rfq-1")
                await asyncio.sleep(0.01)  # venue latency tasks
                for event in rec_v.events():
                    if event not in delivered:
                        delivered.append(event)
                        await (h_fills if isinstance(event, Fill) else h_orders).put(value=wire(event), key=b"rfq-1")
                clock.advance(2_000_000)
                await first.tick()
        for event in (trade, *rec_h.events("orders"), *delivered):  # what the topics hold
            second.read_back(event)
        await second.resume()
        await second.tick()  # what came due after the last reply is routed by the timer, at once

    asyncio.run(run())
    before, after = first.trackers["rfq-1"], second.trackers["rfq-1"]
    assert any(o.closed for o in before.orders.values()) and not before.progress().done  # midway
    assert _view(after) == _view(before)
    assert after.progress() == before.progress() and after.next_action_us() == before.next_action_us()
    assert {e.event_id for e in rec_2.events()} <= {e.event_id for e in rec_h.events()}


def test_a_restarted_venue_executes_what_it_never_answered_and_answers_a_question_again(settings: Settings) -> None:
    s = settings.model_copy(update={"venue_sim": settings.venue_sim.model_copy(update={"reject_prob": 0.0})})
    orders = (_order("o-1"), _order("o-2"))
    straight, restarted = (VenueSimStage(s, INSTRUMENTS, rebuild=False) for _ in range(2))
    straight.clock = restarted.clock = FixedClock(T0 + 10_000_000)  # past every arrival
    rec_s, rec_r = record(straight.stage), record(restarted.stage)

    async def run() -> None:
        for stage in (straight, restarted):
            await _load_books(stage)
        async with straight.stage.app.agents["venue_sim_orders"].test_context() as agent:
            for order in orders:
                await agent.put(value=wire(order), key=b"rfq-1")
            await asyncio.sleep(0.05)
        report_1 = next(e for e in rec_s.events("orders") if isinstance(e, HedgeOrder) and e.order_id == "o-1")
        for event in (*orders, report_1):  # o-1 was answered before the kill, o-2 was in flight
            restarted.read_back(event)
        await restarted.resume()
        await asyncio.sleep(0.05)
        async with restarted.stage.app.agents["venue_sim_orders"].test_context() as agent:
            await agent.put(value=wire(orders[0]), key=b"rfq-1")  # the hedger asks about o-1

    asyncio.run(run())
    by_order = {o.order_id: [e.event_id for e in rec_s.events() if getattr(e, "order_id", None) == o.order_id]
                for o in orders}
    again = [e for e in rec_r.events() if not isinstance(e, HedgeOrder) or is_venue_report(e)]
    assert [e.event_id for e in again if e.order_id == "o-2"] == by_order["o-2"]  # executed again, same ids
    assert [e.event_id for e in again if e.order_id == "o-1"] == [by_order["o-1"][-1]]  # its report, once


def test_a_redelivered_decline_says_nothing_a_second_decline_is_refused(settings: Settings) -> None:
    """Replayed `quotes` (scenario 6): the same decline again is no new outcome, no refusal."""
    stage = AcceptanceStage(settings)
    recorded = record(stage.stage)
    decline = _response(action=QuoteAction.DECLINE)

    async def run() -> None:
        async with stage.stage.app.agents["acceptance_quotes"].test_context() as agent:
            await agent.put(value=wire(_quote()), key=b"rfq-1")
            await agent.put(value=wire(decline), key=b"rfq-1")
            await agent.put(value=wire(decline), key=b"rfq-1")  # redelivered
            await agent.put(value=wire(_response(event_id="e-again", action=QuoteAction.DECLINE)), key=b"rfq-1")

    asyncio.run(run())
    refusals = [e for e in recorded.events("quotes") if isinstance(e, QuoteRejected)]
    assert [r.reason for r in refusals] == [RejectReason.UNKNOWN_QUOTE]  # only the second, different decline
    assert [d.reason for d in recorded.dead_letters()] == ["invalid:unknown_quote"]
