"""The pure parts of `otcdesk simulate`: the session's RFQs and how its events add up."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal as D

import pytest

from otcdesk.errors import UserError
from otcdesk.events import (
    BreakKind,
    Quote,
    QuoteRejected,
    ReconBreak,
    ReconResult,
    ReconStatus,
    RejectReason,
    SettlementLeg,
    SettlementState,
    SettlementUpdated,
    Side,
    TradeBooked,
    TransferDirection,
)
from otcdesk.settings import Settings
from otcdesk.simulate import FAULTS_HEADER, SessionPlan, SessionTally


def test_the_schedule_is_a_function_of_the_seed_and_in_time_order() -> None:
    settings = Settings()
    first = SessionPlan(seed=7, speed=600, rfqs=50).schedule(settings)
    again = SessionPlan(seed=7, speed=600, rfqs=50).schedule(settings)
    other = SessionPlan(seed=8, speed=600, rfqs=50).schedule(settings)
    assert first == again and first != other
    assert [r.ts_us for r in first] == sorted(r.ts_us for r in first)
    assert len({r.rfq_id for r in first}) == 50


def test_every_process_of_a_session_runs_on_stream_time_whatever_the_speed() -> None:
    paced = SessionPlan(seed=7, speed=600, rfqs=1).env(Settings(), anchor_wall_us=123)
    flat_out = SessionPlan(seed=7, speed=None, rfqs=1).env(Settings(), anchor_wall_us=123)
    assert paced["OTCDESK_TIME"] == flat_out["OTCDESK_TIME"] == "stream"
    assert paced["OTCDESK_SIM__STEP_MS"] == flat_out["OTCDESK_SIM__STEP_MS"] == "10000"
    assert paced["OTCDESK_QUOTE__STALE_BOOK_MS"] == "30000"
    # Only the paced session's feed needs a wall anchor; nothing else differs.
    assert paced["OTCDESK_SIM_ANCHOR_WALL_US"] == "123" and "OTCDESK_SIM_ANCHOR_WALL_US" not in flat_out
    assert {
        k: v for k, v in paced.items() if not k.startswith("OTCDESK_SIM_") or k.startswith("OTCDESK_SIM__")
    } == flat_out
    assert "OTCDESK_VENUE_SIM__FEE_OVERCHARGE_PROB" in paced
    assert "OTCDESK_VENUE_SIM__FEE_OVERCHARGE_PROB" not in SessionPlan(7, 600, 1, faults=False).env(Settings(), 1)


@pytest.mark.parametrize("kwargs", [dict(rfqs=0), dict(speed=0), dict(rate_per_s=-1), dict(namespace="")])
def test_a_bad_plan_is_a_user_error(kwargs: dict) -> None:
    with pytest.raises(UserError):
        SessionPlan(**({"seed": 7, "speed": 600.0, "rfqs": 10} | kwargs))


def _events(rfq_id: str, *, broken: bool) -> list:
    quote = Quote(
        f"q-{rfq_id}",
        1,
        "quote-engine",
        rfq_id,
        f"quote-{rfq_id}",
        "ACME",
        "BTC/USD",
        Side.BUY,
        D(1),
        D(94990),
        D(95010),
        D(95000),
        D(94990),
        D(95010),
        D(1),
        D(0),
        D(0),
        D(0),
        D(0),
        D(10),
        D(10),
        (),
        (),
        5_000_000,
    )
    trade = TradeBooked(
        f"t-{rfq_id}",
        2,
        "acceptance",
        rfq_id,
        f"trade-{rfq_id}",
        quote.quote_id,
        "ACME",
        "BTC/USD",
        Side.BUY,
        D(1),
        D(95010),
        D(95010),
        D(0),
        D(95000),
    )
    legs = [
        SettlementUpdated(
            f"s-{rfq_id}-{leg.value}",
            3,
            "settlement",
            rfq_id,
            trade.trade_id,
            f"st-{leg.value}",
            leg,
            TransferDirection.DESK_TO_CLIENT,
            "BTC",
            "BTC",
            D(1),
            None,
            None,
            6,
            6,
            SettlementState.SETTLED,
        )
        for leg in (SettlementLeg.BASE, SettlementLeg.QUOTE)
    ]
    breaks = (ReconBreak(BreakKind.FEE, "1", "2", "fee"),) if broken else ()
    result = ReconResult(
        f"r-{rfq_id}",
        4,
        "recon",
        rfq_id,
        trade.trade_id,
        ReconStatus.BROKEN if broken else ReconStatus.MATCHED,
        breaks,
        D(1),
        D(1),
        D(95000),
        D(0),
        D("10.5"),
        D(1),
        1,
    )
    return [quote, trade, *legs, result]


def test_the_tally_is_order_free_dedups_and_tells_injected_faults_from_the_rest() -> None:
    events = _events("a", broken=False) + _events("b", broken=True) + _events("c", broken=True)
    reject = QuoteRejected("rej-d", 1, "quote-engine", "d", None, "ACME", "BTC/USD", RejectReason.CREDIT_LIMIT, "x")
    events.append(reject)
    faults = {"b": {FAULTS_HEADER: b"fee_overcharge"}}
    summaries = []
    for seed in range(3):
        tally = SessionTally(frozenset("abcd"))
        shuffled = events + events[:3]  # redeliveries
        random.Random(seed).shuffle(shuffled)
        for event in shuffled:
            tally.add(event, faults.get(getattr(event, "rfq_id", "")) if isinstance(event, ReconResult) else None)
        assert tally.done
        summaries.append(tally.summary())
    assert summaries[0] == summaries[1] == summaries[2]
    s = summaries[0]
    assert (s.deals, s.quotes, s.settled, s.hit_ratio) == (3, 3, 3, "1.0000")
    assert s.outcomes == {"CREDIT_LIMIT": 1, "TRADED": 3} and s.breaks == {"FEE": 2}
    assert s.faults_injected == {"fee_overcharge": 1} and s.breaks_without_fault == ["c"]
    assert D(s.desk_pnl_quote) == D("31.5")


def test_a_later_revision_wins_and_changes_the_digest() -> None:
    tally = SessionTally(frozenset("a"))
    for event in _events("a", broken=True):
        tally.add(event)
    before = tally.summary()
    fixed = replace(_events("a", broken=False)[-1], event_id="r-a-2", revision=2)
    tally.add(fixed)
    after = tally.summary()
    assert before.recon == {"BROKEN": 1} and after.recon == {"MATCHED": 1} and before.digest != after.digest
