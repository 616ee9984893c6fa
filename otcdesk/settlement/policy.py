"""Settlement rules: which rail a leg uses, confirmations required, chain timing, tx hash formats,
USD wire value dates.

Rails are named `ASSET@NETWORK` (`BTC@BTC`, `ETH@ETH`, `USDT@TRON`, `USDT@ETH`, `USD@WIRE`).
Confirmations follow a per-rail, per-amount table in settings and are never below the chain's
minimum (custody platforms refuse a threshold below it). The USD wire has a daily cut-off in New
York time: after it, or on a weekend, the value date is the next business day (weekends only: a
Fedwire holiday calendar would be one more settings table).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from otcdesk.events import Side, TradeBooked
from otcdesk.settings import SettlementSettings

US_PER_S = 1_000_000
WIRE = "WIRE"
CRYPTO_NETWORKS = frozenset({"BTC", "ETH", "TRON"})
#: Banks release value-dated wires once their payment day opens (a documented simplification).
WIRE_OPEN = time(9, 0)
TX_HASH_FORMATS = {
    "BTC": re.compile(r"[0-9a-f]{64}"),  # txid, 32 bytes hex
    "ETH": re.compile(r"0x[0-9a-f]{64}"),  # keccak hash, 0x-prefixed
    "TRON": re.compile(r"[0-9a-f]{64}"),  # txID, no prefix
}


def rail(asset: str, network: str) -> str:
    return f"{asset}@{network}"


def split_rail(key: str) -> tuple[str, str]:
    asset, _, network = key.partition("@")
    return asset, network


def is_crypto(network: str) -> bool:
    return network in CRYPTO_NETWORKS


def base_leg_amount(trade: TradeBooked) -> Decimal:
    return trade.qty_base


def quote_leg_amount(trade: TradeBooked) -> Decimal:
    """Net amount (FIX's 'net amount'): the client pays notional + fee on a BUY, gets notional - fee
    on a SELL. USDT settles at par with USD, as the desk prices it."""
    return trade.notional_quote + trade.fee_quote if trade.side is Side.BUY else trade.notional_quote - trade.fee_quote


def required_confirmations(asset: str, network: str, amount: Decimal, settings: SettlementSettings) -> int:
    """Highest tier whose threshold the amount exceeds (first tier otherwise), never below the
    chain minimum; 0 off-chain."""
    if not is_crypto(network):
        return 0
    tiers = sorted(settings.confirmation_tiers.get(rail(asset, network), ()))
    chosen = tiers[0][1] if tiers else 0
    for threshold, confirmations in tiers:
        if amount > threshold:
            chosen = confirmations
    return max(chosen, settings.chain_min_confirmations.get(network, 1))


def block_time_us(network: str, settings: SettlementSettings) -> int:
    return int(settings.block_time_s[network] * US_PER_S)


def next_block_wait_us(network: str, settings: SettlementSettings, rng: random.Random, first: bool) -> int:
    """Sim wait for the next block: Poisson arrivals on Bitcoin; fixed slots on ETH and TRON, where
    the first inclusion lands somewhere in the current slot."""
    mean_us = block_time_us(network, settings)
    if network == "BTC":
        return max(1, int(rng.expovariate(1.0) * mean_us))
    return max(1, int(rng.random() * mean_us)) if first else mean_us


def new_tx_hash(network: str, rng: random.Random) -> str:
    digest = f"{rng.getrandbits(256):064x}"
    return "0x" + digest if network == "ETH" else digest


def is_valid_tx_hash(network: str, tx_hash: str | None) -> bool:
    fmt = TX_HASH_FORMATS.get(network)
    return bool(tx_hash) and fmt is not None and fmt.fullmatch(tx_hash or "") is not None


def _next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def wire_value_date(ts_us: int, settings: SettlementSettings) -> date:
    """Same day if released on a business day before the cut-off, else the next business day."""
    zone = ZoneInfo(settings.wire_timezone)
    local = datetime.fromtimestamp(ts_us / US_PER_S, tz=UTC).astimezone(zone)
    hour, minute = (int(x) for x in settings.wire_cutoff.split(":"))
    if local.weekday() < 5 and local.time() < time(hour, minute):
        return local.date()
    return _next_business_day(local.date())


def wire_credit_us(ts_us: int, settings: SettlementSettings) -> tuple[date, int]:
    """(value date, sim time the wire is credited): same day after `wire_credit_s`, or at the
    value date's opening plus `wire_credit_s`."""
    value_date = wire_value_date(ts_us, settings)
    zone = ZoneInfo(settings.wire_timezone)
    opening = datetime.combine(value_date, WIRE_OPEN, tzinfo=zone)
    start_us = max(ts_us, int(opening.timestamp()) * US_PER_S)
    return value_date, start_us + int(settings.wire_credit_s * US_PER_S)


def wire_deadline_us(value_date: date, settings: SettlementSettings) -> int:
    """The cut-off instant of `value_date`: a wire not received by then has missed its day."""
    hour, minute = (int(x) for x in settings.wire_cutoff.split(":"))
    cutoff = datetime.combine(value_date, time(hour, minute), tzinfo=ZoneInfo(settings.wire_timezone))
    return int(cutoff.timestamp()) * US_PER_S
