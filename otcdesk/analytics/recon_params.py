"""The parameters of `recon_breaks.sql`: the desk's own settings and instruments, as the streaming
reconciliation uses them.

SQL cannot import otcdesk.recon, so every number and rule recon reads from elsewhere (tolerances
and timeouts, the fee schedule and lots of the instruments, confirmation tiers, tx hash formats)
is handed to the query from the same objects, through the same functions (`hedge_lot`,
`quote_of`), instead of being typed a second time into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from otcdesk.analytics.queries import Value
from otcdesk.events import SettlementState, Venue
from otcdesk.hedging import hedge_lot
from otcdesk.instruments import Instrument, quote_of
from otcdesk.settings import Settings
from otcdesk.settlement import policy
from otcdesk.venue_sim import VENUE_SOURCE_PREFIX

US_PER_S = 1_000_000
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
