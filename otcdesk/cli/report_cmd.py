"""`otcdesk report NAME`: the desk's analytics over the ClickHouse event log (docs/analytics.md).

Each report runs one named query of schemas/clickhouse/queries/ as the read-only user and prints
a table, `--json` or `--csv`; time-series reports also draw `--plot FILE.png`. `otcdesk report
list` names them. The blotter is a screen: the newest `--limit` deals (1000 unless told, 0 for
all). Bad input (unknown report, a time that does not parse, `--plot` on a report that is not a
time series, a negative `--limit`) is one red line and exit code 2, as is an unreachable server.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from otcdesk.analytics import reports
from otcdesk.analytics.render import choose_format, plot, show
from otcdesk.analytics.request import report_request, run_report
from otcdesk.cli.params import whole
from otcdesk.errors import UserError
from otcdesk.settings import get_settings

_err = Console(stderr=True)


def report(
    name: str = typer.Argument(..., help="A report name (otcdesk report list), or `list`."),
    since: str | None = typer.Option(None, "--since", help="From: 2h (ago), 2025-11-24T16:00:00Z or epoch us."),
    until: str | None = typer.Option(None, "--until", help="Before: same forms as --since."),
    bucket: str = typer.Option("1m", "--bucket", help="Time-series bucket width: 30s, 5m, 1h, 1d."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="recon_breaks: judge every deal at this time (default: each at its latest event)."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        callback=whole(ge=0, le=reports.ALL_ROWS),
        help=f"blotter: the newest N deals (default {reports.DEFAULT_BLOTTER_LIMIT}; 0: every deal).",
    ),
    database: str | None = typer.Option(None, "--database", help="Database (default: the CLICKHOUSE_URL one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows (decimals as strings)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV with a header line."),
    plot_to: Path | None = typer.Option(None, "--plot", help="Time-series reports: also draw FILE.png."),
) -> None:
    """Analytics from ClickHouse: blotter, hit ratio, spreads, slippage, fills, settlement, breaks, P&L."""
    fmt = choose_format(as_json, as_csv)
    if name == "list":
        show("Reports", ["report", "title", "plot"], reports.listing(), fmt)
        return
    chosen, options = report_request(name, since, until, bucket, as_of, limit)
    if plot_to is not None and chosen.plot is None:
        series = ", ".join(r.name for r in reports.REPORTS.values() if r.plot)
        raise UserError(f"--plot: {name} is not a time series (plots: {series})")
    db, result = run_report(get_settings(), chosen, options, database)
    show(f"{chosen.title} ({db})", result.columns, result.rows, fmt)
    if plot_to is not None and chosen.plot is not None:
        spec = chosen.plot
        plot(plot_to, chosen.title, result.columns, result.rows, spec.x, spec.series, spec.y, stacked=spec.stacked)
        _err.print(f"plot written to {plot_to}", highlight=False)
