"""A report asked for by a person, as `otcdesk report` and the web page take it: the report's name
and the text of its options, checked into a `ReportOptions` (one-line UserErrors), then run as
the report reader.
"""

from __future__ import annotations

import time

from otcdesk.analytics import reports
from otcdesk.analytics.timespec import duration_us, instant_us
from otcdesk.db import client
from otcdesk.db.migrate import check_database_name
from otcdesk.errors import UserError
from otcdesk.settings import Settings


def report_request(
    name: str,
    since: str | None = None,
    until: str | None = None,
    bucket: str = "1m",
    as_of: str | None = None,
    limit: int | None = None,
    now_us: int | None = None,
) -> tuple[reports.Report, reports.ReportOptions]:
    """The report and its options; times relative to `now_us` (default: the wall clock)."""
    chosen = reports.get(name)
    if as_of is not None and name != "recon_breaks":
        raise UserError("--as-of applies to recon_breaks only")
    if limit is not None and name != "blotter":
        raise UserError("--limit applies to blotter only")
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    options = reports.ReportOptions(
        since_us=instant_us(since, "--since", now_us) if since else 0,
        until_us=instant_us(until, "--until", now_us) if until else reports.NO_END_US,
        bucket_us=duration_us(bucket, "--bucket"),
        as_of_us=instant_us(as_of, "--as-of", now_us) if as_of else 0,
        limit=reports.DEFAULT_BLOTTER_LIMIT if limit is None else limit,
    )
    return chosen, options


def run_report(
    settings: Settings, chosen: reports.Report, options: reports.ReportOptions, database: str | None = None
) -> tuple[str, reports.Result]:
    """(database, result) of one report on the desk's database (or `database`)."""
    db = check_database_name(database or settings.clickhouse.database)
    runner = client.report_reader(settings, db)
    try:
        return db, reports.run(runner, db, chosen, settings, options)
    finally:
        runner.close()
