"""The parameters of `recon_breaks.sql`: the desk's own settings and instruments, as the streaming
reconciliation uses them.

SQL cannot import otcdesk.recon, so every number and rule recon reads from elsewhere (tolerances
and timeouts, the fee schedule and lots of the instruments, confirmation tiers, tx hash formats)
is handed to the query from the same objects, through the same functions (`hedge_lot`,
`quote_of`), instead of being typed a second time into the SQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import cast

from otcdesk.analytics.queries import Value
from otcdesk.events import SettlementState, Venue
from otcdesk.hedging import hedge_lot
from otcdesk.instruments import Instrument, quote_of
from otcdesk.settings import Settings
from otcdesk.settlement import policy
from otcdesk.venue_sim import VENUE_SOURCE_PREFIX

US_PER_S = 1_000_000
#: deal_fill_fees' fee rates: fee / notional at 18 decimals
RATE_QUANTUM = Decimal("1e-18")
#: deal_fill_fees' key: the fee rate in units of 1e-12
RATE_KEY_UNITS = 10**12
#: the query applies a schedule's rate at 8 decimals (`toDecimal128(rate, 8)`)
SCHEDULE_QUANTUM = Decimal("1e-8")
#: no band: its low end above its high end, so every fill of the instrument is read and judged
NO_BAND = (Decimal(1), Decimal(0))
Instruments = Mapping[tuple[Venue, str], Instrument]


def tx_hash_regex() -> str:
    """One anchored re2 pattern for `NETWORK:hash` of every network (18.16's `match` needs a
    constant pattern, so the per-network formats are joined here)."""
    formats = sorted(policy.TX_HASH_FORMATS.items())
    return "^(?:" + "|".join(f"{re.escape(net)}:(?:{fmt.pattern})" for net, fmt in formats) + ")$"


def recon_params(settings: Settings, instruments: Instruments, as_of_us: int = 0) -> dict[str, Value]:
    """Everything recon_breaks needs besides the time range (`since_us`, `until_us`)."""
    rs = settings.recon
    keys = sorted(instruments)
    symbols = sorted({symbol for _, symbol in keys})
    tiers = {rail: sorted(t) for rail, t in settings.settlement.confirmation_tiers.items() if t}
    rails = sorted(tiers)
    minimums = sorted(settings.settlement.chain_min_confirmations.items())
    return {
        "as_of_us": as_of_us,
        "price_tolerance_bps": rs.price_tolerance_bps,
        "fee_tolerance_bps": rs.fee_tolerance_bps,
        "fee_tolerance_quote": rs.fee_tolerance_quote,
        "fill_timeout_us": int(rs.fill_timeout_s * US_PER_S),
        "deal_timeout_us": int(rs.deal_timeout_s * US_PER_S),
        "venue_source_prefix": VENUE_SOURCE_PREFIX,
        "settlement_states": [s.value for s in SettlementState],
        "fee_keys": [f"{venue.value} {symbol}" for venue, symbol in keys],
        "fee_rates": [instruments[k].taker_fee_rate for k in keys],
        "fee_currencies": [quote_of(instruments[k].venue_symbol) for k in keys],
        "lot_symbols": symbols,
        "lot_sizes": [hedge_lot(symbol, instruments) for symbol in symbols],
        "tier_rails": rails,
        "tier_thresholds": [[threshold for threshold, _ in tiers[r]] for r in rails],
        "tier_confirmations": [[confirmations for _, confirmations in tiers[r]] for r in rails],
        "min_conf_networks": [network for network, _ in minimums],
        "min_conf_values": [minimum for _, minimum in minimums],
        "crypto_networks": sorted(policy.CRYPTO_NETWORKS),
        "tx_hash_regex": tx_hash_regex(),
    }


def fee_band(rate: Decimal, tolerance_bps: Decimal) -> tuple[Decimal, Decimal]:
    """The fee rates (as deal_fill_fees stores them) within which every fill of 1 quote unit of
    notional or more is charged its scheduled fee within `tolerance_bps` of it: the fee_breaks
    pass reads only the fills outside.

    With N the notional (N >= 1), r the stored rate (fee / N cut to 8 decimals, the quotient cut
    to 18) and s the scheduled fee (rate * N rounded half-even to 8 decimals):
    |fee - s| <= N * (|r - rate| + 1e-18) + rate * 1e-8 + 0.5e-8, and the tolerance is at least
    s * bps / 10000 - 1e-14 >= (rate * N - 0.5e-8) * b - 1e-14 with b = bps / 10000. So
    |r - rate| <= rate * b - (rate + 1 + b) * 1e-8 - 1e-13 keeps every such fill within tolerance
    (tests/unit/test_fee_band.py checks it against recon's own rule). No band when that is not
    positive (a tolerance of 0 bps), or for a rate the query would cut."""
    if rate != rate.quantize(SCHEDULE_QUANTUM) or tolerance_bps <= 0:
        return NO_BAND
    b = tolerance_bps / 10000
    half_width = rate * b - (rate + 1 + b) * SCHEDULE_QUANTUM - Decimal("1e-13")
    if half_width <= 0:
        return NO_BAND
    return (rate - half_width).quantize(RATE_QUANTUM, ROUND_CEILING), (rate + half_width).quantize(
        RATE_QUANTUM, ROUND_FLOOR
    )


def fee_schedule_runs(values: Mapping[str, Value]) -> Sequence[Mapping[str, Value]]:
    """The fee_breaks pass's parameters for each instrument of the report's fee schedule."""
    keys = cast(Sequence[str], values["fee_keys"])
    rates = cast(Sequence[Decimal], values["fee_rates"])
    currencies = cast(Sequence[str], values["fee_currencies"])
    bps = cast(Decimal, values["fee_tolerance_bps"])
    return [
        {
            "fee_key": key,
            "fee_rate": rate,
            "fee_currency": currency,
            "fee_rate_lo_e12": band[0],
            "fee_rate_hi_e12": band[1],
            "fee_tolerance_bps": bps,
            "fee_tolerance_quote": values["fee_tolerance_quote"],
        }
        for key, rate, currency in zip(keys, rates, currencies, strict=True)
        for band in [fee_band_e12(*fee_band(rate, bps))]
    ]


def fee_band_e12(lo: Decimal, hi: Decimal) -> tuple[int, int]:
    """The band in deal_fill_fees' key, fee_rate_e12 = the rate in units of 1e-12, cut: the keys
    whose every rate lies within [lo, hi] (a key k holds the rates [k, k + 1) * 1e-12)."""
    return math.ceil(lo * RATE_KEY_UNITS), math.floor(hi * RATE_KEY_UNITS) - 1
