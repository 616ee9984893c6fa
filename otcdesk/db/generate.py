"""A trade history of any size, generated on the server: `otcdesk db generate --fills N --seed S`.

Every row is written by `INSERT INTO {db}.<event table> (...) SELECT ... FROM numbers(N)`: the
same tables, columns and insert path as the sink's batches (no Python in the data path: 10M fills
take about a minute), so the materialized views that keep the per-deal tables fill as they do in
production. Shape of a deal, `FILLS_PER_DEAL` fills each (10M fills = 2.5M deals): one quote and
one trade of 2 units at the fill price (the client buys), one hedge order with the desk's report
and the venue's FILLED report, 4 fills of 0.5 at that price with the venue's scheduled fee (fee
keys, rates and currencies come from the `recon_params` recon_breaks uses, so the fees match the
schedule), two SETTLED legs for the exact amounts, and the streaming reconciliation's result.
One fill in `BAD_FEE_EVERY` carries one unit of fee too much: recon_breaks finds exactly those FEE
breaks and nothing else (its deal's recon result is BROKEN with that FEE break), which proves the
data is the intended shape. The seed moves the prices and the clients; one seed, one history.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from otcdesk.analytics.queries import Value, literal
from otcdesk.db.migrate import check_database_name
from otcdesk.db.runner import SqlRunner
from otcdesk.errors import UserError

FILLS_PER_DEAL = 4
BAD_FEE_EVERY = 1000  # one fill in this many has a fee off the schedule
START_US = 1_793_491_200_000_000  # 2026-11-01 UTC: every event in one monthly partition
DEAL_EVERY_US = 1_000
MAX_FILLS = 1_000_000_000
CLIENTS = 50
#: the event tables the generator writes, in writing order (trades before what hangs off them)
TABLES = ("quotes", "trades", "orders", "fills", "settlements", "recon")
FEE_PARAMS = ("fee_keys", "fee_rates", "fee_currencies")


@dataclass(frozen=True)
class History:
    """What one generation wrote."""

    database: str
    fills: int
    deals: int
    seed: int
    bad_fees: int  # fills with a fee off the schedule: recon_breaks' FEE breaks
    seconds: float


def _deal_columns(p: Mapping[str, str], seed: int) -> str:
    """d -> ts, instrument k (1-based in the fee keys), venue, symbol, price: one deal's constants."""
    return (
        f"{START_US} + d * {DEAL_EVERY_US} AS ts, 1 + d % length({p['fee_keys']}) AS k, "
        f"splitByChar(' ', arrayElement({p['fee_keys']}, k)) AS vs, vs[1] AS venue, vs[2] AS symbol, "
        f"toDecimal128(if(symbol LIKE 'BTC%', 50000, 3000) + (d + {seed}) % 97, 10) AS price, "
        f"concat('C', toString((d + {seed}) % {CLIENTS})) AS client"
    )


def _quotes(db: str, deals: int, p: Mapping[str, str], seed: int) -> str:
    return f"""
INSERT INTO {db}.quotes (event_id, ts_us, source, rfq_id, quote_id, client_id, symbol, side, qty_base,
    bid_price_quote, ask_price_quote, mid_price_quote, vwap_bid_quote, vwap_ask_quote, spread_base_bps,
    spread_size_bps, spread_impact_bps, spread_vol_bps, skew_bps, depth_bid_base, depth_ask_base, venues_used,
    venues_excluded.venue, venues_excluded.reason, valid_until_us)
SELECT concat('qe-', toString(d)), ts - 500, 'quote-engine', concat('rfq-', toString(d)), concat('q-', toString(d)),
    client, symbol, 'BUY', toDecimal128('2', 12), price - 2, price, price - 1, price - 2, price,
    toDecimal128('1', 6), toDecimal128('0', 6), toDecimal128('0', 6), toDecimal128('0', 6), toDecimal128('0', 6),
    toDecimal128('10', 12), toDecimal128('10', 12), [venue], [], [], ts + 2000000
FROM (SELECT number AS d, {_deal_columns(p, seed)} FROM numbers({deals}))"""


def _trades(db: str, deals: int, p: Mapping[str, str], seed: int) -> str:
    return f"""
INSERT INTO {db}.trades (event_id, ts_us, source, rfq_id, trade_id, quote_id, client_id, symbol, side, qty_base,
    price_quote, notional_quote, fee_quote, arrival_mid_quote)
SELECT concat('t-', toString(d)), ts, 'acceptance', concat('rfq-', toString(d)), concat('trd-', toString(d)),
    concat('q-', toString(d)), client, symbol, 'BUY', toDecimal128('2', 12), price, price * 2,
    toDecimal128('0', 10), price - 1
FROM (SELECT number AS d, {_deal_columns(p, seed)} FROM numbers({deals}))"""


def _orders(db: str, deals: int, p: Mapping[str, str], seed: int) -> str:
    return f"""
INSERT INTO {db}.orders (event_id, ts_us, source, rfq_id, order_id, trade_id, venue, symbol, side, qty_base,
    limit_price_quote, clip_index, clip_count, state, filled_qty_base, avg_fill_price_quote)
SELECT concat('o-', toString(number)), ts + if(venue_report, 10000, 100),
    if(venue_report, concat('venue:', venue), 'hedger'), concat('rfq-', toString(d)), concat('ord-', toString(d)),
    concat('trd-', toString(d)), venue, symbol, 'SELL', toDecimal128('2', 12), price, 0, 1,
    if(venue_report, 'FILLED', 'NEW'), toDecimal128(if(venue_report, '2', '0'), 12),
    if(venue_report, price, toDecimal128('0', 10))
FROM (SELECT number, intDiv(number, 2) AS d, number % 2 = 1 AS venue_report, {_deal_columns(p, seed)}
      FROM numbers({2 * deals}))"""


def _fills(db: str, fills: int, p: Mapping[str, str], seed: int) -> str:
    return f"""
INSERT INTO {db}.fills (event_id, ts_us, source, rfq_id, fill_id, order_id, trade_id, venue, symbol, side,
    exec_type, price_quote, qty_base, fee, fee_currency, reject_reason, order_ts_us)
SELECT concat('f-', toString(number)), ts + 1000 + (number % {FILLS_PER_DEAL}) * 100, concat('venue:', venue),
    concat('rfq-', toString(d)), concat('fill-', toString(number)), concat('ord-', toString(d)),
    concat('trd-', toString(d)), venue, symbol, 'SELL', 'FILL', price, toDecimal128('0.5', 12),
    toDecimal128(toDecimal128(arrayElement({p["fee_rates"]}, k), 8) * price * toDecimal128('0.5', 12), 10)
        + if(number % {BAD_FEE_EVERY} = 0, toDecimal128('1', 10), toDecimal128('0', 10)),
    arrayElement({p["fee_currencies"]}, k), NULL, ts + 100
FROM (SELECT number, intDiv(number, {FILLS_PER_DEAL}) AS d, {_deal_columns(p, seed)} FROM numbers({fills}))"""


def _settlements(db: str, deals: int, p: Mapping[str, str], seed: int) -> str:
    return f"""
INSERT INTO {db}.settlements (event_id, ts_us, source, rfq_id, trade_id, settlement_id, leg, direction, asset,
    network, amount, address, tx_hash, confirmations, confirmations_required, state, reason, value_date)
SELECT concat('s-', toString(number)), ts + 20000, 'settlement', concat('rfq-', toString(d)),
    concat('trd-', toString(d)), concat('stl-', toString(number)), if(base, 'BASE', 'QUOTE'),
    if(base, 'OUT', 'IN'), if(base, substring(symbol, 1, 3), 'USD'), if(base, 'CUSTODY', 'WIRE'),
    if(base, toDecimal128('2', 10), price * 2), NULL, NULL, 0, 0, 'SETTLED', NULL, NULL
FROM (SELECT number, intDiv(number, 2) AS d, number % 2 = 0 AS base, {_deal_columns(p, seed)}
      FROM numbers({2 * deals}))"""


def _recon(db: str, deals: int, p: Mapping[str, str], seed: int) -> str:
    """The stage's last result per deal: BROKEN with one FEE break where a fill of the deal has a bad fee."""
    last = f"d * {FILLS_PER_DEAL} + {FILLS_PER_DEAL} - 1"  # the deal's fills are d*4 .. d*4+3
    bad = f"intDiv({last}, {BAD_FEE_EVERY}) * {BAD_FEE_EVERY} >= d * {FILLS_PER_DEAL}"
    return f"""
INSERT INTO {db}.recon (event_id, ts_us, source, rfq_id, trade_id, status, breaks.kind, breaks.expected,
    breaks.actual, breaks.detail, booked_qty_base, hedged_qty_base, avg_fill_price_quote, slippage_bps, pnl_quote,
    fees_quote, revision)
SELECT concat('r-', toString(d)), ts + 20000, 'recon', concat('rfq-', toString(d)), concat('trd-', toString(d)),
    if(broken, 'BROKEN', 'MATCHED'), arraySlice(['FEE'], 1, broken), arraySlice([''], 1, broken),
    arraySlice([''], 1, broken), arraySlice(['fee vs schedule'], 1, broken), toDecimal128('2', 12),
    toDecimal128('2', 12), price, toDecimal128('0', 6), toDecimal128('0', 10), toDecimal128('0', 10), 1
FROM (SELECT number AS d, {bad} AS broken, {_deal_columns(p, seed)} FROM numbers({deals}))"""


def statements(database: str, fills: int, params: Mapping[str, Value], seed: int = 0) -> list[str]:
    """The INSERT ... SELECT of every table for `fills` fills (a multiple of FILLS_PER_DEAL)."""
    db = check_database_name(database)
    if fills <= 0 or fills > MAX_FILLS or fills % FILLS_PER_DEAL:
        raise UserError(f"--fills must be a positive multiple of {FILLS_PER_DEAL} up to {MAX_FILLS:,}, not {fills:,}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, not {seed}")
    p = {k: literal(params[k]) for k in FEE_PARAMS}
    deals = fills // FILLS_PER_DEAL
    return [
        _quotes(db, deals, p, seed),
        _trades(db, deals, p, seed),
        _orders(db, deals, p, seed),
        _fills(db, fills, p, seed),
        _settlements(db, deals, p, seed),
        _recon(db, deals, p, seed),
    ]


def bad_fees(fills: int) -> int:
    return (fills + BAD_FEE_EVERY - 1) // BAD_FEE_EVERY


def generate(
    runner: SqlRunner,
    database: str,
    fills: int,
    params: Mapping[str, Value],
    seed: int = 0,
    *,
    replace: bool = True,
    optimize: bool = True,
    tables: Sequence[str] = TABLES,
) -> History:
    """Write the history into `database` (migrated): with `replace`, the generated tables and the
    per-deal tables are emptied first; with `optimize`, every table is merged (OPTIMIZE FINAL), as a
    long-running desk's old partitions are, so background merges do not run during timings."""
    sqls = statements(database, fills, params, seed)
    started = time.perf_counter()
    if replace:
        for table in (*TABLES, *derived_tables(runner, database)):
            runner.execute(f"TRUNCATE TABLE {database}.{table}")
    for table, sql in zip(TABLES, sqls, strict=True):
        if table in tables:
            runner.execute(sql)
    if optimize:
        for table in (*TABLES, *derived_tables(runner, database)):
            runner.execute(f"OPTIMIZE TABLE {database}.{table} FINAL")
    return History(database, fills, fills // FILLS_PER_DEAL, seed, bad_fees(fills), time.perf_counter() - started)


def derived_tables(runner: SqlRunner, database: str) -> list[str]:
    """The per-deal tables the materialized views keep (engine *MergeTree, name `deal_*`)."""
    rows = runner.query(
        f"SELECT name FROM system.tables WHERE database = '{check_database_name(database)}'"
        " AND name LIKE 'deal\\\\_%' AND engine LIKE '%MergeTree'"
    )
    return sorted(str(r[0]) for r in rows)
