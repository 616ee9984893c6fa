"""The fee-rate band of recon_breaks' fee pass (otcdesk/analytics/recon_params.py `fee_band`): a
fill of 1 quote unit of notional or more whose stored fee-rate key lies in the band is charged
within tolerance by recon's own rule (otcdesk/recon.py: venue_sim.scheduled_fee, the larger of the
absolute floor and the bps of the scheduled fee), so the pass may skip it. The stored key is
modelled as 0010_deal_fill_fees.sql computes it: the notional cut to 8 decimals, the quotient to
18, the rate in units of 1e-12 cut. The absolute floor is set to 0 here, the band's worst case."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal, localcontext

from hypothesis import given, strategies as st

from otcdesk.analytics.recon_params import NO_BAND, RATE_KEY_UNITS, fee_band, fee_band_e12
from otcdesk.instruments import Instrument
from otcdesk.recon import BPS
from otcdesk.venue_sim import scheduled_fee
from tests.instruments import instrument_list


def stored_key(fee: Decimal, notional: Decimal) -> int:
    """deal_fill_fees.fee_rate_e12 of a fill with this fee and notional (both bounded)."""
    with localcontext() as ctx:
        ctx.prec = 80
        rate = (fee / notional.quantize(Decimal("1e-8"), ROUND_DOWN)).quantize(Decimal("1e-18"), ROUND_DOWN)
        return math.floor(min(rate, Decimal(1000)) * RATE_KEY_UNITS)


def within_tolerance(instrument: Instrument, price: Decimal, qty: Decimal, fee: Decimal, bps: Decimal) -> bool:
    """recon's FEE rule with no absolute floor (otcdesk/recon.py `_check_fees`)."""
    expected = scheduled_fee(instrument, price, qty)
    return abs(fee - expected) <= expected * bps / BPS


def instrument_with(rate: Decimal) -> Instrument:
    return replace(instrument_list()[0], taker_fee_rate=rate)


rates = st.integers(1, 5_000_000).map(lambda n: Decimal(n).scaleb(-8))  # 1e-8 .. 0.05, 8 decimals
tolerances = st.integers(1, 1_000_000).map(lambda n: Decimal(n).scaleb(-4))  # 0.0001 .. 100 bps
prices = st.integers(1, 10**16).map(lambda n: Decimal(n).scaleb(-10))  # scale 10, up to 1e6
quantities = st.integers(1, 10**18).map(lambda n: Decimal(n).scaleb(-12))  # scale 12, up to 1e6


@given(rates, tolerances, prices, quantities, st.floats(0, 1))
def test_a_fill_in_the_band_is_within_tolerance(
    rate: Decimal, bps: Decimal, price: Decimal, qty: Decimal, where: float
) -> None:
    notional = price * qty
    lo, hi = fee_band(rate, bps)
    lo_key, hi_key = fee_band_e12(lo, hi)
    if notional < 1 or lo_key > hi_key:
        return
    # a fee charged at a rate anywhere in the band's keys, at the fee column's 10 decimals
    key = lo_key + round((hi_key - lo_key) * Decimal(repr(where)))
    with localcontext() as ctx:
        ctx.prec = 80
        fee = (Decimal(key) / RATE_KEY_UNITS * notional).quantize(Decimal("1e-10"))
    if not lo_key <= stored_key(fee, notional) <= hi_key:
        return  # the fee's own rounding moved it out of the band: the pass reads it
    assert within_tolerance(instrument_with(rate), price, qty, fee, bps), (rate, bps, price, qty, fee)


@given(rates, tolerances)
def test_the_band_holds_the_schedule_and_its_keys_lie_inside_it(rate: Decimal, bps: Decimal) -> None:
    lo, hi = fee_band(rate, bps)
    lo_key, hi_key = fee_band_e12(lo, hi)
    if (lo, hi) == NO_BAND:
        return
    assert lo <= rate <= hi
    assert Decimal(lo_key) / RATE_KEY_UNITS >= lo and Decimal(hi_key + 1) / RATE_KEY_UNITS <= hi


def test_no_band_without_a_relative_tolerance_or_for_a_rate_the_query_would_cut() -> None:
    assert fee_band(Decimal("0.001"), Decimal(0)) == NO_BAND
    assert fee_band(Decimal("0.000000001"), Decimal(1)) == NO_BAND  # 9 decimals: cut by toDecimal128(rate, 8)
    assert fee_band(Decimal("0.00000001"), Decimal("0.0001")) == NO_BAND  # narrower than the roundings
    lo, hi = fee_band(Decimal("0.001"), Decimal(1))  # the desk's default: 1 bps of 10 bps
    assert Decimal("0.00099991") < lo < Decimal("0.001") < hi < Decimal("0.00100009")
