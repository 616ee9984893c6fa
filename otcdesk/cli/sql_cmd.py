"""`otcdesk sql "SELECT ..."`: ad-hoc SQL on the event log as the read-only user `otcdesk_ro`.

Writes are refused by ClickHouse itself (readonly=1), bad SQL comes back as the server's message;
either is one red line and exit code 2, as is an unreachable server (otcdesk/analytics/adhoc.py).
"""

from __future__ import annotations

import typer

from otcdesk.analytics.adhoc import run_sql
from otcdesk.analytics.render import choose_format, show
from otcdesk.db.migrate import check_database_name
from otcdesk.settings import get_settings


def sql(
    query: str = typer.Argument(..., help='One statement, e.g. "SELECT count() FROM otcdesk.fills FINAL".'),
    database: str | None = typer.Option(None, "--database", help="Default database (default: the CLICKHOUSE_URL one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows (decimals as strings)."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV with a header line."),
) -> None:
    """Run one read-only query and print its rows."""
    fmt = choose_format(as_json, as_csv)
    answer = run_sql(get_settings(), query, check_database_name(database) if database else None)
    show(f"{len(answer.rows)} rows", answer.columns, answer.rows, fmt)
