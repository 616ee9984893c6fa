"""SQL over a big event log: every report of `otcdesk report list` over 1M and 10M fills on 18.16.

The event log is generated on the server itself by `otcdesk.db.generate` (the code of `otcdesk db
generate --fills N --seed S`), `INSERT ... SELECT ... FROM numbers(N)` into a scratch database
migrated like the desk's, so the materialized views fill the per-deal tables as the sink's inserts
do. Shape of a deal (4 fills, so 10M fills = 2.5M deals) in that module's docstring. One fill in
1,000 carries one unit of fee too much: recon_breaks must find exactly those FEE breaks and
nothing else, which proves the data is the intended shape (a benchmark over data the query
rejects wholesale would time the wrong thing). Every table is OPTIMIZEd FINAL after loading: a
long-running desk's old partitions are merged, and background merges would otherwise run during
the timings.

Each report is run through `otcdesk.analytics.reports` (same SQL, same parameters as
`otcdesk report NAME`); the figure is wall seconds to the last row in Python, and rows/s scanned
is the rows the server read (clickhouse-driver's progress packets) per second of that time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from clickhouse_driver import Client

from bench.core import BenchContext, Figure, Target
from otcdesk.analytics.queries import Value
from otcdesk.analytics.reports import REPORTS, ReportOptions, query_rows
from otcdesk.db import client, generate as history
from otcdesk.db.generate import FILLS_PER_DEAL, bad_fees
from otcdesk.db.runner import DriverRunner, QueryError
from otcdesk.settings import Settings

REPORT_NAMES = tuple(REPORTS)  # every report of `otcdesk report list`
TARGET_1M = Target("value<=", 1.0)
TARGET_10M = Target("value<=", 2.0)
#: server-side limit of one query: recon_breaks over 10M fills took ~0.1 ms per fill on this machine
#: (about 20 min); stopped at the budget, the figure is the budget, marked as a lower bound
BUDGET_S = 300
TIMEOUT_EXCEEDED = 159  # ClickHouse error code of max_execution_time
MEMORY_EXCEEDED = 241  # ... and of max_memory_usage
MEMORY_BYTES = 14_000_000_000  # per query; the machine has 24 GiB
BIG = 10_000_000  # from this size on, one run per query (the budget bounds it, repeats would not)


def generate(ch: Client, db: str, fills: int, params: dict[str, Value], seed: int = 0) -> float:
    """Load the event log of `fills` fills (otcdesk.db.generate, as `otcdesk db generate` does);
    returns the seconds it took (loading and merging)."""
    return history.generate(DriverRunner(ch), db, fills, params, seed).seconds


def timed(
    ch: Client, db: str, name: str, values: dict[str, Value], budget_s: int = BUDGET_S
) -> tuple[float, int, int | None]:
    """(wall seconds, rows the server read, rows returned) of one report; a report the server stops
    at `budget_s` (max_execution_time) gives (budget_s, rows read so far, None): a lower bound."""
    runner = DriverRunner(ch, {"max_execution_time": budget_s})
    started = time.perf_counter()
    try:
        rows = query_rows(runner, db, REPORTS[name], values)
    except QueryError as exc:
        code = getattr(exc.__cause__, "code", None)
        if code not in (TIMEOUT_EXCEEDED, MEMORY_EXCEEDED):
            raise
        # stopped at the budget, or refused past MEMORY_BYTES: reported as the budget (a lower bound)
        return float(budget_s), runner.rows_read, None
    elapsed = time.perf_counter() - started
    return elapsed, runner.rows_read, len(rows)


def recon_kinds(ch: Client, db: str, values: dict[str, Value]) -> dict[str, int]:
    rows = query_rows(DriverRunner(ch), db, REPORTS["recon_breaks"], values)
    return dict(Counter(row[2] for row in rows))


def measure_size(
    ctx: BenchContext,
    ch: Client,
    db: str,
    fills: int,
    values: dict[str, dict[str, Value]],
    advance: Callable[[float], None],
    *,
    check: bool,
) -> list[Figure]:
    """Generate `fills` fills and time each report; `check`: first prove recon_breaks finds exactly
    the injected breaks (once, on the smallest size: the generator is the same at every size)."""
    generated_s = generate(ch, db, fills, REPORTS["recon_breaks"].params(ctx.settings, ReportOptions()))
    advance(1)
    if check:
        found = recon_kinds(ch, db, values["recon_breaks"])
        injected = bad_fees(fills)
        if found != {"FEE": injected}:
            raise RuntimeError(f"recon_breaks over the generated log found {found}, expected {{'FEE': {injected}}}")
    repeats = 1 if fills >= BIG else ctx.repeats
    figures = []
    for name, report_values in values.items():
        runs = [timed(ch, db, name, report_values) for _ in range(repeats)]
        advance(1)
        label = f"{name} over {fills:,} fills"
        stopped = any(r[2] is None for r in runs)
        extra: dict[str, Any] = {
            "fills": fills,
            "deals": fills // FILLS_PER_DEAL,
            "rows_read": [r[1] for r in runs],
            "rows_returned": runs[0][2],
            "generate_s": round(generated_s, 1),
            "repeats": repeats,
            "stopped_at_budget": stopped,
        }
        note = "wall time to the last row, via otcdesk.analytics.reports"
        if stopped:
            note = (
                f"STOPPED by max_execution_time={BUDGET_S}s or refused past max_memory_usage="
                f"{MEMORY_BYTES / 1e9:g} GB: the value is a lower bound; " + note
            )
        figures.append(
            Figure(
                "sql",
                label,
                "s",
                tuple(r[0] for r in runs),
                target=TARGET_10M if fills >= BIG else TARGET_1M if fills >= 1_000_000 else None,
                note=note,
                extra=extra,
            )
        )
        figures.append(
            Figure(
                "sql",
                f"{label}: rows scanned",
                "rows/s",
                tuple(r[1] / r[0] for r in runs),
                note="rows the server read (progress packets) / wall time",
                extra=extra,
            )
        )
    return figures


def run(ctx: BenchContext) -> list[Figure]:
    sizes = (10_000,) if ctx.smoke else (1_000_000, 10_000_000)
    advance = ctx.task(f"sql: {len(sizes)} sizes x {len(REPORT_NAMES)} reports", len(sizes) * (1 + len(REPORT_NAMES)))
    figures: list[Figure] = []
    with ctx.scratch_database("sql") as (_, db):
        ch = _client(ctx.settings, db)
        try:
            options = ReportOptions(bucket_us=3_600_000_000)
            values = {name: REPORTS[name].params(ctx.settings, options) for name in REPORT_NAMES}
            for i, fills in enumerate(sizes):
                figures += measure_size(ctx, ch, db, fills, values, advance, check=i == 0)
        finally:
            ch.disconnect()
    return figures


def _client(settings: Settings, db: str) -> Client:
    """A writer client with a long receive timeout (OPTIMIZE FINAL of 10M rows outlasts the default)
    and MEMORY_BYTES per query instead of the stack's 4 GB (infra/clickhouse/users.xml.tmpl): over
    10M fills recon_breaks' per-fill aggregation needs more, and a query refused for memory
    measures nothing (recon_breaks' one-pass form asked for 3.78 GiB)."""
    ep = client.endpoint(settings)
    return Client(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password.get_secret_value(),
        database=db,
        send_receive_timeout=BUDGET_S + 600,
        client_name="otcdesk-bench",
        settings={"max_memory_usage": MEMORY_BYTES},
    )
