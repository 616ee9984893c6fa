"""SQL over a big event log: recon_breaks and the heavier reports over 1M and 10M fills on 18.16.

The event log is generated on the server itself, `INSERT ... SELECT ... FROM numbers(N)` into a
scratch database migrated like the desk's (no Python in the data path: 10M fills take about a
minute, not hours). Shape of a deal, 4 fills each (so 10M fills = 2.5M deals): one trade of
2 units at the fill price, one hedge order with the desk's report and the venue's FILLED report,
4 fills of 0.5 at that price with the venue's scheduled fee (fee keys, rates and currencies come
from the same `recon_params` the report uses, so the fees match the schedule), and two SETTLED
legs for the exact amounts. One fill in 1,000 carries one unit of fee too much: recon_breaks must
find exactly those FEE breaks and nothing else, which proves the data is the intended shape (a
benchmark over data the query rejects wholesale would time the wrong thing). The tables are
OPTIMIZEd FINAL after loading: a long-running desk's old partitions are merged, and background
merges would otherwise run during the timings.

Each report is run through `otcdesk.analytics.reports` (same SQL, same parameters as
`otcdesk report NAME`); the figure is wall seconds to the last row in Python, and rows/s scanned
is the rows the server read (clickhouse-driver's progress packets) per second of that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from bench.core import BenchContext, Figure, Target
from otcdesk.analytics.queries import Value, literal, load
from otcdesk.analytics.reports import REPORTS, ReportOptions
from otcdesk.db import client
from otcdesk.settings import Settings

REPORT_NAMES = ("recon_breaks", "fill_quality", "hedge_slippage", "settlement_latency", "inventory_pnl")
RECON_TARGET = Target("value<=", 2.0)
FILLS_PER_DEAL = 4
BAD_FEE_EVERY = 1000  # one fill in this many has a fee off the schedule
START_US = 1_793_491_200_000_000  # 2026-11-01 UTC: every event in one monthly partition
DEAL_EVERY_US = 1_000
TABLES = ("trades", "orders", "fills", "settlements")
#: server-side limit of one query: recon_breaks over 10M fills took ~0.1 ms per fill on this machine
#: (about 20 min); stopped at the budget, the figure is the budget, marked as a lower bound
BUDGET_S = 300
TIMEOUT_EXCEEDED = 159  # ClickHouse error code of max_execution_time
MEMORY_EXCEEDED = 241  # ... and of max_memory_usage
MEMORY_BYTES = 14_000_000_000  # per query; the machine has 24 GiB
BIG = 10_000_000  # from this size on, one run per query (the budget bounds it, repeats would not)


def _fills(db: str, n: int, p: dict[str, str]) -> str:
    return f"""
INSERT INTO {db}.fills (event_id, ts_us, source, rfq_id, fill_id, order_id, trade_id, venue, symbol, side,
    exec_type, price_quote, qty_base, fee, fee_currency, reject_reason, order_ts_us)
SELECT concat('f-', toString(number)), ts + 1000 + (number % {FILLS_PER_DEAL}) * 100, concat('venue:', venue),
    concat('rfq-', toString(d)), concat('fill-', toString(number)), concat('ord-', toString(d)),
    concat('trd-', toString(d)), venue, symbol, 'SELL', 'FILL', price, toDecimal128('0.5', 12),
    toDecimal128(toDecimal128(arrayElement({p['fee_rates']}, k), 8) * price * toDecimal128('0.5', 12), 10)
        + if(number % {BAD_FEE_EVERY} = 0, toDecimal128('1', 10), toDecimal128('0', 10)),
    arrayElement({p['fee_currencies']}, k), NULL, ts + 100
FROM (SELECT number, intDiv(number, {FILLS_PER_DEAL}) AS d, {_deal_columns(p)} FROM numbers({n}))"""


def _deal_columns(p: dict[str, str]) -> str:
    """d -> ts, instrument k (1-based in the fee keys), venue, symbol, price: one deal's constants."""
    return (f"{START_US} + d * {DEAL_EVERY_US} AS ts, 1 + d % length({p['fee_keys']}) AS k, "
            f"splitByChar(' ', arrayElement({p['fee_keys']}, k)) AS vs, vs[1] AS venue, vs[2] AS symbol, "
            f"toDecimal128(if(symbol LIKE 'BTC%', 50000, 3000) + d % 97, 10) AS price")


def _trades(db: str, deals: int, p: dict[str, str]) -> str:
    return f"""
INSERT INTO {db}.trades (event_id, ts_us, source, rfq_id, trade_id, quote_id, client_id, symbol, side, qty_base,
    price_quote, notional_quote, fee_quote, arrival_mid_quote)
SELECT concat('t-', toString(d)), ts, 'acceptance', concat('rfq-', toString(d)), concat('trd-', toString(d)),
    concat('q-', toString(d)), concat('C', toString(d % 50)), symbol, 'BUY', toDecimal128('2', 12), price,
    price * 2, toDecimal128('0', 10), price
FROM (SELECT number AS d, {_deal_columns(p)} FROM numbers({deals}))"""


def _orders(db: str, deals: int, p: dict[str, str]) -> str:
    return f"""
INSERT INTO {db}.orders (event_id, ts_us, source, rfq_id, order_id, trade_id, venue, symbol, side, qty_base,
    limit_price_quote, clip_index, clip_count, state, filled_qty_base, avg_fill_price_quote)
SELECT concat('o-', toString(number)), ts + if(venue_report, 10000, 100),
    if(venue_report, concat('venue:', venue), 'hedger'), concat('rfq-', toString(d)), concat('ord-', toString(d)),
    concat('trd-', toString(d)), venue, symbol, 'SELL', toDecimal128('2', 12), price, 0, 1,
    if(venue_report, 'FILLED', 'NEW'), toDecimal128(if(venue_report, '2', '0'), 12),
    if(venue_report, price, toDecimal128('0', 10))
FROM (SELECT number, intDiv(number, 2) AS d, number % 2 = 1 AS venue_report, {_deal_columns(p)}
      FROM numbers({2 * deals}))"""


def _settlements(db: str, deals: int, p: dict[str, str]) -> str:
    return f"""
INSERT INTO {db}.settlements (event_id, ts_us, source, rfq_id, trade_id, settlement_id, leg, direction, asset,
    network, amount, address, tx_hash, confirmations, confirmations_required, state, reason, value_date)
SELECT concat('s-', toString(number)), ts + 20000, 'settlement', concat('rfq-', toString(d)),
    concat('trd-', toString(d)), concat('stl-', toString(number)), if(base, 'BASE', 'QUOTE'),
    if(base, 'OUT', 'IN'), if(base, substring(symbol, 1, 3), 'USD'), if(base, 'CUSTODY', 'WIRE'),
    if(base, toDecimal128('2', 10), price * 2), NULL, NULL, 0, 0, 'SETTLED', NULL, NULL
FROM (SELECT number, intDiv(number, 2) AS d, number % 2 = 0 AS base, {_deal_columns(p)}
      FROM numbers({2 * deals}))"""


def generate(ch: Client, db: str, fills: int, params: dict[str, Value]) -> float:
    """Load the event log of `fills` fills; returns the seconds it took (loading and merging)."""
    p = {k: literal(v) for k, v in params.items() if k in ("fee_keys", "fee_rates", "fee_currencies")}
    deals = fills // FILLS_PER_DEAL
    started = time.perf_counter()
    for table in TABLES:
        ch.execute(f"TRUNCATE TABLE {db}.{table}")
    for sql in (_trades(db, deals, p), _orders(db, deals, p), _fills(db, fills, p), _settlements(db, deals, p)):
        ch.execute(sql)
    for table in TABLES:
        ch.execute(f"OPTIMIZE TABLE {db}.{table} FINAL")
    return time.perf_counter() - started


def timed(ch: Client, sql: str, budget_s: int = BUDGET_S) -> tuple[float, int, int | None]:
    """(wall seconds, rows the server read, rows returned) of one query; a query the server stops
    at `budget_s` (max_execution_time) gives (budget_s, rows read so far, None): a lower bound."""
    started = time.perf_counter()
    try:
        rows = ch.execute(sql, settings={"max_execution_time": budget_s})
    except ServerException as exc:
        if exc.code not in (TIMEOUT_EXCEEDED, MEMORY_EXCEEDED):
            raise
        # stopped at the budget, or refused past MEMORY_BYTES: reported as the budget (a lower bound)
        return float(budget_s), ch.last_query.progress.rows if ch.last_query else 0, None
    elapsed = time.perf_counter() - started
    return elapsed, ch.last_query.progress.rows, len(rows)


def recon_kinds(ch: Client, sql: str) -> dict[str, int]:
    return dict(ch.execute(f"SELECT kind, count() FROM ({sql}) GROUP BY kind"))


def measure_size(ctx: BenchContext, ch: Client, db: str, fills: int, sqls: dict[str, str],
                 advance: Callable[[float], None], *, check: bool) -> list[Figure]:
    """Generate `fills` fills and time each report; `check`: first prove recon_breaks finds exactly
    the injected breaks (once, on the smallest size: the generator is the same at every size)."""
    generated_s = generate(ch, db, fills, REPORTS["recon_breaks"].params(ctx.settings, ReportOptions()))
    advance(1)
    if check:
        found = recon_kinds(ch, sqls["recon_breaks"])
        injected = (fills + BAD_FEE_EVERY - 1) // BAD_FEE_EVERY
        if found != {"FEE": injected}:
            raise RuntimeError(f"recon_breaks over the generated log found {found}, expected {{'FEE': {injected}}}")
    repeats = 1 if fills >= BIG else ctx.repeats
    figures = []
    for name, sql in sqls.items():
        runs = [timed(ch, sql) for _ in range(repeats)]
        advance(1)
        label = f"{name} over {fills:,} fills"
        stopped = any(r[2] is None for r in runs)
        extra: dict[str, Any] = {"fills": fills, "deals": fills // FILLS_PER_DEAL, "rows_read": [r[1] for r in runs],
                                 "rows_returned": runs[0][2], "generate_s": round(generated_s, 1), "repeats": repeats,
                                 "stopped_at_budget": stopped}
        note = "wall time to the last row, via otcdesk.analytics.reports"
        if stopped:
            note = (f"STOPPED by max_execution_time={BUDGET_S}s or refused past max_memory_usage="
                    f"{MEMORY_BYTES / 1e9:g} GB: the value is a lower bound; " + note)
        figures.append(Figure("sql", label, "s", tuple(r[0] for r in runs),
                              target=RECON_TARGET if name == "recon_breaks" and fills >= BIG else None,
                              note=note, extra=extra))
        figures.append(Figure("sql", f"{label}: rows scanned", "rows/s", tuple(r[1] / r[0] for r in runs),
                              note="rows the server read (progress packets) / wall time", extra=extra))
    return figures


def run(ctx: BenchContext) -> list[Figure]:
    sizes = (10_000,) if ctx.smoke else (1_000_000, 10_000_000)
    advance = ctx.task(f"sql: {len(sizes)} sizes x {len(REPORT_NAMES)} reports", len(sizes) * (1 + len(REPORT_NAMES)))
    figures: list[Figure] = []
    with ctx.scratch_database("sql") as (_, db):
        ch = _client(ctx.settings, db)
        try:
            options = ReportOptions(bucket_us=3_600_000_000)
            sqls = {name: load(name).render(db, REPORTS[name].params(ctx.settings, options)) for name in REPORT_NAMES}
            for i, fills in enumerate(sizes):
                figures += measure_size(ctx, ch, db, fills, sqls, advance, check=i == 0)
        finally:
            ch.disconnect()
    return figures


def _client(settings: Settings, db: str) -> Client:
    """A writer client with a long receive timeout (OPTIMIZE FINAL of 10M rows outlasts the default)
    and MEMORY_BYTES per query instead of the stack's 4 GB (infra/clickhouse/users.xml.tmpl): over
    10M fills recon_breaks' per-fill aggregation needs more, and a query refused for memory
    measures nothing (first idle run, 2026-11-30: "would use 3.78 GiB")."""
    ep = client.endpoint(settings)
    return Client(host=ep.host, port=ep.port, user=ep.user, password=ep.password.get_secret_value(), database=db,
                  send_receive_timeout=BUDGET_S + 600, client_name="otcdesk-bench",
                  settings={"max_memory_usage": MEMORY_BYTES})
