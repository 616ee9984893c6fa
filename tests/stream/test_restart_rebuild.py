"""Restart and redelivery on `streams.testing.StageHarness`: a stage restarted midway reads its
inputs and its own outputs back (`read_back`, what `streams.stage` does at start), rebuilds its
state and timers by handling the inputs again, carries on exactly where the killed process was,
and sends nothing it had sent (same event ids)."""

from __future__ import annotations

import asyncio

from otcdesk.events import HedgeOrder, QuoteAction, QuoteRejected, RejectReason
from otcdesk.hedging import HedgeTracker
from otcdesk.settings import Settings
from otcdesk.streamtime import END_US
from otcdesk.venue_sim import is_venue_report
from streams.acceptance import AcceptanceStage
from streams.hedger import HedgerStage
from streams.testing import StageHarness
from streams.venue_sim import VenueSimStage
from tests.stream.test_backoffice_agents import INSTRUMENTS, T0, _load_books, _order, _settings, _shuttle, _trade
from tests.stream.test_frontoffice_agents import _quote, _response


def _view(tracker: HedgeTracker) -> dict[str, tuple[object, ...]]:
    return {
        oid: (o.venue, o.qty_base, o.state, o.filled_qty_base, o.venue_filled_qty_base)
        for oid, o in tracker.orders.items()
    }


def test_a_hedger_restarted_midway_rebuilds_the_hedge_and_resends_nothing_new(settings: Settings) -> None:
    s = _settings(settings)
    s = s.model_copy(update={"hedge": s.hedge.model_copy(update={"interval_s": 2})})  # several clips
    first, venue = HedgerStage(s, INSTRUMENTS), VenueSimStage(s, INSTRUMENTS)
    h, v = StageHarness(first.stage), StageHarness(venue.stage)
    for harness in (h, v):
        _load_books(harness, qty="1")
    trade = _trade()
    h.put("trades", trade)
    h.advance("acceptance", to_us=END_US)
    to_venue: set[str] = set()
    to_hedger: set[str] = set()
    kill_us = T0 + 4_000_000
    for now_us in range(T0, kill_us, 500_000):  # a few steps of the hedge, then the kill
        h.advance("venue-sim", to_us=now_us)
        asyncio.run(h.run())
        _shuttle(h, v, ("orders",), to_venue)
        v.advance("hedger", to_us=now_us + 500_000)
        asyncio.run(v.run())
        _shuttle(v, h, ("fills", "orders"), to_hedger)
    h.advance("venue-sim", to_us=kill_us)
    asyncio.run(h.run())

    second = HedgerStage(s, INSTRUMENTS)
    again = StageHarness(second.stage)
    _load_books(again, qty="1")
    for sent in h.sent:  # what the topics hold: its inputs and its own orders
        if sent.topic != "watermarks":
            again.read_back(sent.topic, sent.event)
    again.read_back("trades", trade)
    for sent in v.sent:
        if sent.topic in ("fills", "orders") and sent.event.event_id in to_hedger:
            again.read_back(sent.topic, sent.event)
    again.advance("acceptance", to_us=END_US)
    again.advance("venue-sim", to_us=kill_us)
    asyncio.run(again.run())

    before, after = first.trackers["rfq-1"], second.trackers["rfq-1"]
    assert any(o.closed for o in before.orders.values()) and not before.progress().done  # midway
    assert _view(after) == _view(before)
    assert after.progress() == before.progress() and after.next_action_us() == before.next_action_us()
    assert again.sent_events("orders") == [] and second.stage.suppressed > 0  # all sent before the kill


def test_a_restarted_venue_executes_what_it_never_answered_and_answers_a_question_again(settings: Settings) -> None:
    s = _settings(settings)
    s = s.model_copy(update={"venue_sim": s.venue_sim.model_copy(update={"reject_prob": 0.0})})
    orders = (_order("o-1"), _order("o-2", ts_us=T0 + 20_000_000))
    straight = StageHarness(VenueSimStage(s, INSTRUMENTS).stage)
    _load_books(straight)
    for order in orders:
        straight.put("orders", order)
    straight.advance("hedger", to_us=END_US)
    asyncio.run(straight.run())
    by_order = {
        o.order_id: [e.event_id for e in straight.sent_events() if getattr(e, "order_id", None) == o.order_id]
        for o in orders
    }
    report_1 = next(e for e in straight.sent_events("orders") if isinstance(e, HedgeOrder) and e.order_id == "o-1")

    restarted = StageHarness(VenueSimStage(s, INSTRUMENTS).stage)
    _load_books(restarted)
    for sent in straight.sent:  # o-1 was answered before the kill, o-2 was in flight
        if sent.topic in ("fills", "orders") and getattr(sent.event, "order_id", None) == "o-1":
            restarted.read_back(sent.topic, sent.event)
    restarted.read_back("orders", orders[0])
    restarted.read_back("orders", orders[1])
    restarted.advance("hedger", to_us=END_US)
    asyncio.run(restarted.run())
    restarted.put("orders", orders[0])  # then the hedger asks about o-1: the order sent again
    asyncio.run(restarted.run())
    again = [e for e in restarted.sent_events() if not isinstance(e, HedgeOrder) or is_venue_report(e)]
    assert [e.event_id for e in again if e.order_id == "o-2"] == by_order["o-2"]  # executed again, same ids
    assert [e.event_id for e in again if e.order_id == "o-1"] == [report_1.event_id]  # its report, once


def test_a_redelivered_decline_says_nothing_a_second_decline_is_refused(settings: Settings) -> None:
    """Replayed `quotes`: the same decline again is no new outcome, no refusal."""
    harness = StageHarness(AcceptanceStage(_settings(settings)).stage)
    decline = _response(action=QuoteAction.DECLINE)
    harness.put("quotes", _quote())
    harness.put("quotes", decline)
    harness.put("quotes", decline)  # redelivered
    harness.put("quotes", _response(event_id="e-again", action=QuoteAction.DECLINE, ts_us=decline.ts_us + 1))
    harness.advance_all(END_US)
    asyncio.run(harness.run())
    refusals = [e for e in harness.sent_events("quotes") if isinstance(e, QuoteRejected)]
    assert [r.reason for r in refusals] == [RejectReason.UNKNOWN_QUOTE]  # only the second, different decline
    assert harness.dead_letters() == []  # a refusal is the client's answer, not a dead letter
