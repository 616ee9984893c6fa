"""Settlement: the leg state machine, the confirmation policy, wire value dates, the planner."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from otcdesk.events import SettlementLeg, SettlementState as S, Side, TransferDirection
from otcdesk.settings import SettlementSettings, StandingInstructions
from otcdesk.settlement import policy
from otcdesk.settlement.machine import TERMINAL, TRANSITIONS, IllegalTransition, LegStatus, transition
from otcdesk.settlement.planner import SettlementPlanner

from .conftest import T0, trade

STATES = [s for s in S if s is not S.UNKNOWN]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STATES), min_size=1, max_size=40), st.integers(0, 6))
def test_random_walks_obey_the_transition_table(targets, required):
    status = LegStatus(confirmations_required=required)
    for target in targets:
        confs = min(status.confirmations + 1, max(required, 1)) if target is S.CONFIRMING else None
        if target is S.SETTLED and status.state in (S.IN_MEMPOOL, S.CONFIRMING):
            confs = required
        allowed = target in TRANSITIONS[status.state] and not (
            target is S.CONFIRMING and status.state is S.CONFIRMING and confs <= status.confirmations
        )
        if status.state in TERMINAL:
            assert not TRANSITIONS[status.state]
        try:
            status = transition(status, target, confirmations=confs, reason="why")
        except IllegalTransition:
            assert not allowed
        else:
            assert allowed


def test_guards_beyond_the_table():
    confirming = LegStatus(S.CONFIRMING, 2, 6)
    with pytest.raises(IllegalTransition):
        transition(confirming, S.CONFIRMING, confirmations=2)  # must rise
    with pytest.raises(IllegalTransition):
        transition(confirming, S.SETTLED, confirmations=5)  # short of the policy
    with pytest.raises(IllegalTransition):
        transition(confirming, S.FAILED)  # a failure needs a reason
    with pytest.raises(IllegalTransition):
        transition(LegStatus(S.SETTLED), S.CONFIRMING, confirmations=1)
    assert transition(confirming, S.SETTLED, confirmations=6).terminal


@pytest.mark.parametrize(
    ("asset", "network", "amount", "expected"),
    [
        ("BTC", "BTC", "0.5", 1),
        ("BTC", "BTC", "1", 1),
        ("BTC", "BTC", "1.01", 3),
        ("BTC", "BTC", "10", 3),
        ("BTC", "BTC", "250", 6),
        ("ETH", "ETH", "10", 12),
        ("ETH", "ETH", "5000", 64),
        ("USDT", "TRON", "1000000", 20),
        ("USDT", "ETH", "100000", 12),
        ("USD", "WIRE", "100000", 0),
    ],
)
def test_confirmation_tiers(asset, network, amount, expected):
    assert policy.required_confirmations(asset, network, D(amount), SettlementSettings()) == expected


def test_confirmations_never_below_chain_minimum():
    lax = SettlementSettings(confirmation_tiers={"USDT@TRON": ((D("0"), 1),)})
    assert policy.required_confirmations("USDT", "TRON", D("5"), lax) == 19


def test_tx_hash_formats():
    rng = random.Random(1)
    assert re.fullmatch(r"[0-9a-f]{64}", policy.new_tx_hash("BTC", rng))
    assert re.fullmatch(r"0x[0-9a-f]{64}", policy.new_tx_hash("ETH", rng))
    assert policy.is_valid_tx_hash("TRON", policy.new_tx_hash("TRON", rng))
    assert not policy.is_valid_tx_hash("ETH", policy.new_tx_hash("BTC", rng))
    assert not policy.is_valid_tx_hash("BTC", None)


def _us(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000


@pytest.mark.parametrize(
    ("when", "value_date"),
    [
        ("2025-11-24T16:59:00-05:00", date(2025, 11, 24)),  # Monday before the 17:00 NY cut-off
        ("2025-11-24T17:00:00-05:00", date(2025, 11, 25)),  # at the cut-off: next business day
        ("2025-11-28T18:00:00-05:00", date(2025, 12, 1)),  # Friday evening: Monday
        ("2025-11-29T10:00:00-05:00", date(2025, 12, 1)),  # Saturday: Monday
        ("2025-07-07T16:30:00-04:00", date(2025, 7, 7)),  # summer time (EDT)
    ],
)
def test_wire_value_date_cut_off_and_weekends(when, value_date):
    assert policy.wire_value_date(_us(when), SettlementSettings()) == value_date


def _plan(
    client: str, side: Side = Side.BUY, seed: int = 3, settings: SettlementSettings | None = None, **ssi_changes: object
):
    cfg = settings or SettlementSettings()
    ssi = cfg.instructions.get(client)
    if ssi is not None and ssi_changes:
        ssi = ssi.model_copy(update=ssi_changes)
    return SettlementPlanner(cfg).plan(trade(side, client=client), ssi, random.Random(seed), T0)


def _legs(events):
    return {leg: [e for e in events if e.leg is leg] for leg in SettlementLeg if leg is not SettlementLeg.UNKNOWN}


def test_planner_is_deterministic_and_walks_the_machine():
    events = _plan("ACME")
    assert events == _plan("ACME") and events != _plan("ACME", seed=4)
    assert [e.ts_us for e in events] == sorted(e.ts_us for e in events)
    legs = _legs(events)
    for leg_events in legs.values():  # every consecutive pair is a legal transition
        status = LegStatus(confirmations_required=leg_events[0].confirmations_required)
        for e in leg_events[1:]:
            status = transition(status, e.state, confirmations=e.confirmations, reason=e.reason)
        assert status.state is S.SETTLED
    base, quote = legs[SettlementLeg.BASE], legs[SettlementLeg.QUOTE]
    assert base[0].direction is TransferDirection.DESK_TO_CLIENT and base[-1].amount == D("2.5")
    assert quote[-1].network == "WIRE" and quote[-1].value_date == "2025-11-24" and quote[-1].amount == D("237500")
    assert base[-1].confirmations == 3 and policy.is_valid_tx_hash("BTC", base[-1].tx_hash)
    assert base[[e.state for e in base].index(S.SENT)].ts_us > quote[-1].ts_us  # delivery after receipt


def test_client_sell_mirrors_directions_over_usdt():
    legs = _legs(_plan("BLUEFIN", Side.SELL))
    assert legs[SettlementLeg.BASE][-1].direction is TransferDirection.CLIENT_TO_DESK
    quote = legs[SettlementLeg.QUOTE][-1]
    assert (quote.asset, quote.network, quote.state) == ("USDT", "ETH", S.SETTLED)
    assert quote.confirmations == 12 and quote.tx_hash and quote.tx_hash.startswith("0x")


@pytest.mark.parametrize(
    ("changes", "leg_reason", "client_state"),
    [
        ({"wrong_network_prob": 1.0}, "WRONG_NETWORK", S.FAILED),
        ({"insufficient_funds_prob": 1.0}, "INSUFFICIENT_FUNDS", S.FAILED),
        ({"timeout_prob": 1.0}, "FUNDS_NOT_RECEIVED", S.TIMED_OUT),
        ({"whitelist": ()}, "NOT_WHITELISTED", S.FAILED),
    ],
)
def test_bad_clients_fail_with_a_reason_and_the_desk_does_not_deliver(changes, leg_reason, client_state):
    clean = {"wrong_network_prob": 0.0, "insufficient_funds_prob": 0.0, "timeout_prob": 0.0}
    legs = _legs(_plan("CORVUS", **{**clean, **changes}))
    quote, base = legs[SettlementLeg.QUOTE][-1], legs[SettlementLeg.BASE][-1]
    assert leg_reason in (quote.reason or "") + (base.reason or "")
    assert {quote.state, base.state} <= {S.FAILED, S.TIMED_OUT} and client_state in {quote.state, base.state}
    assert all(e.state is not S.SENT for e in legs[SettlementLeg.BASE])


def test_unknown_client_fails_for_lack_of_instructions():
    events = SettlementPlanner(SettlementSettings()).plan(trade(client="NOBODY"), None, random.Random(1), T0)
    assert {e.state for e in events if e.ts_us > T0} == {S.FAILED}
    assert all("NO_SSI" in (e.reason or "") for e in events if e.state is S.FAILED)


def test_unchecksummed_eth_address_is_refused_by_default():
    ssi = StandingInstructions(
        addresses={"ETH@ETH": "0xde709f2102306220921060314715629080e2fb77", "USD@WIRE": "X"},
        whitelist=("0xde709f2102306220921060314715629080e2fb77",),
    )
    t = replace(trade(qty="3", price="3500", symbol="ETH/USD"), client_id="X")
    events = SettlementPlanner(SettlementSettings()).plan(t, ssi, random.Random(1), T0)
    base = [e for e in events if e.leg is SettlementLeg.BASE]
    assert base[-1].state is S.FAILED and "checksum" in (base[-1].reason or "")
