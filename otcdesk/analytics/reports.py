"""`otcdesk report NAME`: which query each report runs, with which parameters, and how it plots.

A report is a query file of schemas/clickhouse/queries/ of the same name plus the parameters the
desk's settings give it (size buckets, the recon rules, the venue report prefix). Time-series
reports name the columns a plot draws. Running one needs only a `SqlRunner`, so the tests run
every report on the 18.16 server and on chDB alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from otcdesk.analytics.queries import QUERIES_DIR, Value, load
from otcdesk.analytics.recon_params import Instruments, fee_schedule_runs, recon_params
from otcdesk.db.runner import ExternalTable, Row, SqlRunner
from otcdesk.errors import UserError
from otcdesk.events import SettlementState
from otcdesk.settings import Settings
from otcdesk.venue_sim import VENUE_SOURCE_PREFIX

#: Far enough in the future for "no upper bound" and still an Int64 on every engine.
NO_END_US = 2**62
DEFAULT_BUCKET_US = 60 * 1_000_000
#: The blotter is a screen: the newest deals only (`--limit 0`: every deal).
DEFAULT_BLOTTER_LIMIT = 1000
#: What `--limit 0` becomes in the SQL (a LIMIT needs a number): more deals than any history holds.
ALL_ROWS = 2**62
#: Queries a report runs before its own (schemas/clickhouse/queries/passes/), not reports themselves.
PASSES_DIR = QUERIES_DIR / "passes"


@dataclass(frozen=True)
class ReportOptions:
    """What a person chose at the command line (times in epoch us)."""

    since_us: int = 0
    until_us: int = NO_END_US
    bucket_us: int = DEFAULT_BUCKET_US
    as_of_us: int = 0  # recon_breaks: 0 = each deal at its latest event time
    #: recon_breaks' instruments; None = the venues' fixtures through ccxt, as the recon stage loads them
    instruments: Instruments | None = None
    limit: int = DEFAULT_BLOTTER_LIMIT  # blotter: the newest deals shown, 0 = all


@dataclass(frozen=True)
class Plot:
    """A time series: x is an epoch-us column, one line per value of `series`, a panel per y."""

    x: str
    series: str
    y: tuple[str, ...]
    stacked: bool = False  # bars stacked by series (counts), else a line per series


ParamsOf = Callable[[Settings, ReportOptions], Mapping[str, Value]]


#: The parameter sets a first pass runs with, from the report's values (one run each).
RunsOf = Callable[[Mapping[str, Value]], Sequence[Mapping[str, Value]]]


@dataclass(frozen=True)
class FirstPass:
    """A query of passes/ run before a report's own, whose rows the report reads as an external
    table of the same name. It takes a subset of the report's parameters, or with `runs` runs once
    per parameter set that gives, its rows concatenated. `decides`: the report has nothing to find
    when every deciding pass has no row, so it is not run (else it runs with the tables empty).

    Why not a subquery: 18.16 runs an IN's subquery again at every place it appears, and the
    report needs the set in the PREWHERE of each table it reads; an external table is built once."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, ClickHouse type) of its rows
    decides: bool = True
    runs: RunsOf | None = None


def _none(_settings: Settings, _options: ReportOptions) -> Mapping[str, Value]:
    return {}


@dataclass(frozen=True)
class Report:
    name: str
    params_of: ParamsOf = _none
    plot: Plot | None = None
    passes: tuple[FirstPass, ...] = ()

    @property
    def title(self) -> str:
        return load(self.name).title

    def params(self, settings: Settings, options: ReportOptions) -> dict[str, Value]:
        return {"since_us": options.since_us, "until_us": options.until_us, **self.params_of(settings, options)}


@dataclass(frozen=True)
class Result:
    report: Report
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def size_buckets(settings: Settings) -> dict[str, Value]:
    """The quote engine's size tiers (notional at mid) as hit-ratio buckets: '0-1M', '1M-5M', ..."""
    edges = sorted({threshold for threshold, _ in settings.quote.size_tier_bps} | {Decimal(0)})
    labels = [f"{_short(lo)}-{_short(hi)}" for lo, hi in pairwise(edges)]
    labels.append(f">={_short(edges[-1])}")
    return {"bucket_edges_quote": edges, "bucket_labels": labels}


def _short(amount: Decimal) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if amount >= size:
            return f"{format((amount / size).normalize(), 'f')}{unit}"
    return format(amount.normalize(), "f")


def _recon(settings: Settings, options: ReportOptions) -> Mapping[str, Value]:
    instruments = options.instruments
    if instruments is None:
        from otcdesk.venues.providers import offline_instruments  # ccxt: loaded only for this report

        instruments = offline_instruments()
    # the recon stage judges with its timeouts floored to wall time at the session's sim speed
    return recon_params(settings.with_timeout_floor(), instruments, options.as_of_us)


def _blotter(_settings: Settings, options: ReportOptions) -> Mapping[str, Value]:
    if options.limit < 0:
        raise UserError(f"--limit must be 0 (every deal) or more, got {options.limit}")
    return {"settlement_states": [s.value for s in SettlementState], "limit": options.limit or ALL_ROWS}


def _bucket(_settings: Settings, options: ReportOptions) -> Mapping[str, Value]:
    return {"bucket_us": options.bucket_us}


#: recon_breaks' first passes: FILL rows off their fee schedule (once per instrument, each reading
#: only its instrument's rows outside the fee-rate band), and the deals the bounds cannot prove free
#: of every other break. Either one finding something runs the report.
RECON_PASSES = (
    FirstPass(
        "fee_breaks",
        (
            ("event_id", "String"),
            ("_offset", "Int64"),
            ("rfq_id", "String"),
            ("fill_id", "String"),
            ("expected", "String"),
            ("actual", "String"),
            ("detail", "String"),
        ),
        runs=fee_schedule_runs,
    ),
    FirstPass("recon_candidates", (("rfq_id", "String"),)),
)

REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report("blotter", _blotter, passes=(FirstPass("blotter_deals", (("rfq_id", "String"),)),)),
        Report("hit_ratio", lambda s, _o: size_buckets(s)),
        Report("spread_captured"),
        Report(
            "hedge_slippage",
            passes=(FirstPass("hedge_recount", (("rfq_id", "String"), ("deal", "UInt64")), decides=False),),
        ),
        Report(
            "fill_quality",
            lambda _s, _o: {"venue_source_prefix": VENUE_SOURCE_PREFIX},
            passes=(FirstPass("fill_recount", (("deal", "UInt64"),), decides=False),),
        ),
        Report("settlement_latency"),
        Report("recon_breaks", _recon, passes=RECON_PASSES),
        Report("breaks_over_time", _bucket, Plot("bucket_start_us", "kind", ("breaks",), stacked=True)),
        Report("inventory_pnl", _bucket, Plot("bucket_start_us", "symbol", ("inventory_base", "pnl_quote"))),
    )
}


def get(name: str) -> Report:
    report = REPORTS.get(name)
    if report is None:
        raise UserError(f"unknown report {name!r}: see `otcdesk report list`")
    return report


def run(runner: SqlRunner, database: str, report: Report, settings: Settings, options: ReportOptions) -> Result:
    return Result(
        report, load(report.name).column_names, query_rows(runner, database, report, report.params(settings, options))
    )


def query_rows(runner: SqlRunner, database: str, report: Report, values: Mapping[str, Value]) -> list[Row]:
    """The report's rows for these parameter values, its first passes (if any) run first."""
    external = tuple(ExternalTable(p.name, p.columns, pass_rows(runner, database, p, values)) for p in report.passes)
    deciding = [table.rows for p, table in zip(report.passes, external, strict=True) if p.decides]
    if deciding and not any(deciding):
        return []
    return runner.query(report_sql(database, report, values), external)


def report_sql(database: str, report: Report, values: Mapping[str, Value]) -> str:
    """The report's own query, rendered with the parameters it reads (its passes take others)."""
    query = load(report.name)
    return query.render(database, {k: values[k] for k in query.param_names})


def pass_rows(runner: SqlRunner, database: str, first: FirstPass, values: Mapping[str, Value]) -> list[Row]:
    """A first pass's rows: one run with the report's values it takes, or one per set of `runs`."""
    query = load(first.name, PASSES_DIR)
    runs = first.runs(values) if first.runs is not None else [{k: values[k] for k in query.param_names}]
    return [row for run in runs for row in runner.query(query.render(database, run))]


def listing() -> Sequence[tuple[str, str, str]]:
    """(name, title, time series or not) of every report, for `otcdesk report list`."""
    return [(r.name, r.title, "time series" if r.plot else "") for r in REPORTS.values()]
