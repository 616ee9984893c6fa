"""The per-deal tables on the current engine (chDB): migrations 0004 and 0005 move a database that
already holds events forward (their backfills equal what the materialized views write), the reports
that read per-deal tables (or, for the blotter, only the newest deals) answer exactly as the same
report over the raw events (tests/fixtures/*_raw.sql: the query before the per-deal tables) on a
session with redelivered copies and re-reported fills (deals recounted from the raw fills) and on a
generated history (every deal read from deal_hedge), also inside `--since`/`--until` windows; the
blotter shows the newest `--limit` deals; and the generator writes the intended shape. The same on
the 18.16 server: tests/integration/test_deal_tables.py."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from otcdesk.analytics import reports
from otcdesk.analytics.queries import load, parse
from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import ChdbRunner, SqlRunner
from otcdesk.errors import UserError
from tests.recon_session import INSTRUMENTS, build_session, insert_all, load_session

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OTCDESK = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "otcdesk"
SESSION = build_session()
OPTIONS = reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000)
#: reports that read per-deal tables (the blotter: the newest deals only), each with its raw-event reference query
ON_DEAL_TABLES = ("spread_captured", "breaks_over_time", "blotter")
GENERATED_FILLS = 4_000


def raw_and_deal_answers(
    runner: SqlRunner, db: str, name: str, options: reports.ReportOptions = OPTIONS
) -> tuple[list[tuple], list[tuple]]:
    params = reports.get(name).params(SESSION.settings, options)
    raw = parse(name, (FIXTURES / f"{name}_raw.sql").read_text()).render(db, params)
    return runner.query(raw), reports.query_rows(runner, db, reports.get(name), params)


def recount_flags(runner: SqlRunner, db: str) -> list[int]:
    return [
        int(r[0])
        for r in runner.query(
            f"SELECT finalizeAggregation(fill_rows) != finalizeAggregation(fill_ids) FROM {db}.deal_hedge FINAL"
        )
    ]


@pytest.fixture(scope="module")
def session_db(chdb: ChdbRunner) -> str:
    name = f"unit_deals_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    return name


@pytest.fixture(scope="module")
def generated_db(chdb: ChdbRunner) -> str:
    name = f"unit_generated_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name)
    params = reports.get("recon_breaks").params(SESSION.settings, OPTIONS)
    generate.generate(chdb, name, GENERATED_FILLS, params, seed=3)
    return name


@pytest.mark.parametrize("name", ON_DEAL_TABLES)
def test_report_equals_the_raw_events_on_a_session_with_copies(chdb: ChdbRunner, session_db: str, name: str) -> None:
    assert any(recount_flags(chdb, session_db))  # copies and re-reported fills: the recount path runs
    raw, deal = raw_and_deal_answers(chdb, session_db, name)
    assert raw and deal == raw


@pytest.mark.parametrize("name", ON_DEAL_TABLES)
def test_report_equals_the_raw_events_on_a_generated_history(chdb: ChdbRunner, generated_db: str, name: str) -> None:
    assert not any(recount_flags(chdb, generated_db))  # every deal answered from its one row
    raw, deal = raw_and_deal_answers(chdb, generated_db, name)
    assert raw and deal == raw


def test_migration_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, session_db: str) -> None:
    name = f"unit_forward_{uuid.uuid4().hex[:8]}"
    before = [m for m in load_migrations() if m.version < 4]
    migrate(chdb, name, before)
    insert_all(chdb, name, SESSION.event_log())
    outcomes = migrate(chdb, name)
    assert next((o.version, o.status) for o in outcomes if o.version >= 4) == (4, "applied")
    for name_of in ON_DEAL_TABLES:
        assert raw_and_deal_answers(chdb, name, name_of)[1] == raw_and_deal_answers(chdb, session_db, name_of)[1]
    # the backfill holds the same states as the views (row counts aside): same deals, same trades
    deals = (
        "SELECT rfq_id, finalizeAggregation(trade_price), finalizeAggregation(fill_ids) FROM {}.deal_hedge FINAL"
        " ORDER BY rfq_id"
    )
    assert chdb.query(deals.format(name)) == chdb.query(deals.format(session_db))


def test_generated_history_has_exactly_the_injected_breaks(chdb: ChdbRunner, generated_db: str) -> None:
    params = reports.get("recon_breaks").params(SESSION.settings, OPTIONS)
    rows = reports.query_rows(chdb, generated_db, reports.get("recon_breaks"), params)
    assert {r[2] for r in rows} == {"FEE"} and len(rows) == generate.bad_fees(GENERATED_FILLS)
    counts = dict(
        chdb.query(
            f"SELECT 'fills', count() FROM {generated_db}.fills UNION ALL "
            f"SELECT 'trades', count() FROM {generated_db}.trades"
        )
    )
    assert counts == {"fills": GENERATED_FILLS, "trades": GENERATED_FILLS // generate.FILLS_PER_DEAL}


def test_every_report_runs_on_a_generated_history(chdb: ChdbRunner, generated_db: str) -> None:
    for name, report in reports.REPORTS.items():
        assert reports.run(chdb, generated_db, report, SESSION.settings, OPTIONS).rows, name


@pytest.mark.parametrize("fills, seed", [(0, 0), (6, 0), (-4, 0), (4, -1)])
def test_generator_refuses_bad_sizes(fills: int, seed: int) -> None:
    with pytest.raises(UserError, match=r"--fills|--seed"):
        generate.statements("x", fills, {k: ["a"] for k in generate.FEE_PARAMS}, seed)


# -- windows, the blotter's --limit, migration 0005 -------------------------------------------


def session_span(runner: SqlRunner, db: str) -> tuple[int, int]:
    return runner.query(f"SELECT min(ts_us), max(ts_us) FROM {db}.recon")[0]


@pytest.mark.parametrize("name", ON_DEAL_TABLES)
@pytest.mark.parametrize("cut", [0.25, 0.5, 0.9])
def test_report_equals_the_raw_events_inside_a_window(chdb: ChdbRunner, session_db: str, name: str, cut: float) -> None:
    """A window filters each deal's latest result (breaks_over_time) or trade (the others), as over the raw events."""
    first, last = session_span(chdb, session_db)
    middle = first + int((last - first) * cut)
    for options in (
        reports.ReportOptions(since_us=middle, bucket_us=OPTIONS.bucket_us, instruments=INSTRUMENTS),
        reports.ReportOptions(until_us=middle, bucket_us=OPTIONS.bucket_us, instruments=INSTRUMENTS),
    ):
        raw, deal = raw_and_deal_answers(chdb, session_db, name, options)
        assert deal == raw, (name, options)


def test_blotter_shows_the_newest_deals_up_to_its_limit(chdb: ChdbRunner, session_db: str) -> None:
    every = reports.run(chdb, session_db, reports.get("blotter"), SESSION.settings, reports.ReportOptions(limit=0)).rows
    assert len(every) == len(SESSION.deals) < reports.DEFAULT_BLOTTER_LIMIT
    assert reports.run(chdb, session_db, reports.get("blotter"), SESSION.settings, OPTIONS).rows == every
    at = reports.get("blotter")
    booked = [row[0] for row in every]
    assert booked == sorted(booked, reverse=True)  # newest first
    for limit in (1, 3, len(every) - 1):
        options = reports.ReportOptions(limit=limit)
        assert reports.run(chdb, session_db, at, SESSION.settings, options).rows == every[:limit]
        raw, deal = raw_and_deal_answers(chdb, session_db, "blotter", options)
        assert deal == raw == every[:limit]


def test_blotter_limit_reaches_the_sql_through_the_report_params() -> None:
    blotter = reports.get("blotter")
    assert blotter.params(SESSION.settings, reports.ReportOptions())["limit"] == reports.DEFAULT_BLOTTER_LIMIT == 1000
    assert blotter.params(SESSION.settings, reports.ReportOptions(limit=7))["limit"] == 7
    assert blotter.params(SESSION.settings, reports.ReportOptions(limit=0))["limit"] == reports.ALL_ROWS
    with pytest.raises(UserError, match="--limit"):
        blotter.params(SESSION.settings, reports.ReportOptions(limit=-1))
    assert "LIMIT %(limit)s" in load("blotter").body and "limit" in load("blotter").param_names


@pytest.mark.parametrize(
    "args, says",
    [
        (["report", "blotter", "--limit", "-1"], "--limit must be a whole number in [0, "),
        (["report", "blotter", "--limit", str(2**63)], "--limit must be a whole number in [0, "),
        (["report", "hit_ratio", "--limit", "5"], "--limit applies to blotter only"),
    ],
)
def test_bad_limit_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = subprocess.run(
        [str(OTCDESK), *args], capture_output=True, text=True, timeout=60, env=os.environ | {"COLUMNS": "200"}
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_migration_0005_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, session_db: str) -> None:
    name = f"unit_forward5_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, [m for m in load_migrations() if m.version < 5])
    insert_all(chdb, name, SESSION.event_log())
    assert ("deal_recon",) not in chdb.query(f"SELECT name FROM system.tables WHERE database = '{name}'")
    outcomes = migrate(chdb, name, [m for m in load_migrations() if m.version <= 5])
    assert [(o.version, o.status) for o in outcomes if o.version == 5] == [(5, "applied")]
    for report in ("breaks_over_time", "blotter"):
        raw, deal = raw_and_deal_answers(chdb, name, report)
        assert raw and deal == raw == raw_and_deal_answers(chdb, session_db, report)[1]
    # the backfill holds what the view writes: every deal's highest revision
    latest = "SELECT rfq_id, version, judged_us, status, break_kinds FROM {}.deal_recon FINAL ORDER BY rfq_id"
    assert chdb.query(latest.format(name)) == chdb.query(latest.format(session_db))
    assert len(chdb.query(latest.format(name))) == len(SESSION.deals)
