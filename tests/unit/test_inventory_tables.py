"""inventory_pnl over the per-deal minutes of 0009 (deal_inventory_cells, _checks, _marks) on the
current engine (chDB): the report equals the query over the raw events (tests/fixtures/
inventory_pnl_raw.sql) on the session with redelivered copies (those deals recounted from raw),
after more copies and a fill re-reported under its id in another minute, for buckets of whole
minutes (the per-deal minutes) and not (the raw rows), windows whose `until` cuts a minute, and on a
generated history (no deal recounted); 0009 backfills a database that already holds events. The
same on the 18.16 server: tests/integration/test_inventory_tables.py."""

from __future__ import annotations

import uuid

import pytest

from otcdesk.analytics import reports
from otcdesk.analytics.queries import parse
from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import ChdbRunner, SqlRunner
from tests.recon_session import INSTRUMENTS, build_session, insert_all
from tests.unit.test_deal_tables import FIXTURES

SESSION = build_session()
NAME = "inventory_pnl"
GENERATED_FILLS = 4_000
MINUTE_US = 60_000_000
#: the event tables, deal_hedge and 0009: what this report reads (other per-deal tables do not matter here)
MIGRATIONS = [m for m in load_migrations() if m.version <= 4 or m.version == 9]


def load_session(runner: SqlRunner, db: str) -> None:
    migrate(runner, db, MIGRATIONS)
    insert_all(runner, db, SESSION.event_log())


def answers(runner: SqlRunner, db: str, options: reports.ReportOptions) -> tuple[list[tuple], list[tuple]]:
    """(the raw query's rows, the report's rows) with the same parameters."""
    params = reports.get(NAME).params(SESSION.settings, options)
    raw = parse(NAME, (FIXTURES / f"{NAME}_raw.sql").read_text()).render(db, params)
    return runner.query(raw), reports.query_rows(runner, db, reports.get(NAME), params)


def windows(runner: SqlRunner, db: str) -> list[reports.ReportOptions]:
    """Whole-minute buckets (the per-deal minutes), buckets that are not (raw rows), and windows
    whose ends cut a minute, over the span of the stored events."""
    lo, hi = (int(v) for v in runner.query(f"SELECT min(ts_us), max(ts_us) FROM {db}.fills")[0])
    third = (hi - lo) // 3
    cut = lo + 2 * third + 12_345  # not on a minute
    return [
        reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=bucket, since_us=since, until_us=until)
        for bucket in (600 * 1_000_000, MINUTE_US, 3_600_000_000, 90 * 1_000_000, 7_000_000)
        for since, until in ((0, reports.NO_END_US), (lo + third, cut), (0, cut), (lo + third, reports.NO_END_US))
    ]


def recounted(runner: SqlRunner, db: str) -> int:
    return int(
        runner.query(
            f"SELECT countIf(finalizeAggregation(event_rows) != finalizeAggregation(event_ids)) "
            f"FROM {db}.deal_inventory_checks FINAL"
        )[0][0]
    )


def columns(runner: SqlRunner, db: str, table: str) -> list[str]:
    return [
        str(r[0])
        for r in runner.query(
            f"SELECT name FROM system.columns WHERE database = '{db}' AND table = '{table}' "
            "AND default_kind != 'MATERIALIZED'"
        )
    ]


def add_copies(runner: SqlRunner, db: str) -> None:
    """Redeliver a trade and a deal's fills (same event ids) and re-report one fill under its
    fill_id with a new event id, another quantity and two minutes later (another minute)."""
    deal = str(
        runner.query(  # a deal not recounted yet, with fills
            f"SELECT min(rfq_id) FROM {db}.deal_inventory_checks FINAL WHERE finalizeAggregation(event_rows) = "
            f"finalizeAggregation(event_ids) AND rfq_id IN (SELECT rfq_id FROM {db}.fills WHERE exec_type = 'FILL')"
        )[0][0]
    )
    for table in ("trades", "fills"):
        cols = ", ".join(f"`{c}`" for c in columns(runner, db, table))
        runner.execute(f"INSERT INTO {db}.{table} ({cols}) SELECT {cols} FROM {db}.{table} WHERE rfq_id = '{deal}'")
    cols = columns(runner, db, "fills")
    changed = {
        "event_id": "concat(event_id, '-again')",
        "ts_us": "ts_us + 120000000",
        "qty_base": "qty_base + toDecimal128('0.25', 12)",
    }
    select = ", ".join(changed.get(c, f"`{c}`") for c in cols)
    runner.execute(
        f"INSERT INTO {db}.fills ({', '.join(f'`{c}`' for c in cols)}) SELECT {select} FROM {db}.fills "
        f"WHERE rfq_id = '{deal}' AND exec_type = 'FILL' ORDER BY _offset LIMIT 1"
    )


def check_every_window(runner: SqlRunner, db: str) -> None:
    for options in windows(runner, db):
        raw, new = answers(runner, db, options)
        assert new == raw, options


@pytest.fixture(scope="module")
def session_db(chdb: ChdbRunner) -> str:
    name = f"unit_inventory_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name)
    return name


def test_report_equals_the_raw_events_on_a_session_with_copies(chdb: ChdbRunner, session_db: str) -> None:
    assert recounted(chdb, session_db)  # the session's redelivered copies: the recount path runs
    raw, new = answers(chdb, session_db, reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000))
    assert raw and new == raw
    check_every_window(chdb, session_db)


def test_more_copies_and_a_fill_re_reported_in_another_minute(chdb: ChdbRunner) -> None:
    name = f"unit_inventory_copies_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name)
    before = recounted(chdb, name)
    add_copies(chdb, name)
    assert recounted(chdb, name) > before
    check_every_window(chdb, name)
    chdb.execute(f"OPTIMIZE TABLE {name}.deal_inventory_checks FINAL")  # one part: the flags alone decide
    check_every_window(chdb, name)


def test_report_equals_the_raw_events_on_a_generated_history(chdb: ChdbRunner) -> None:
    name = f"unit_inventory_generated_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, MIGRATIONS)
    params = reports.get("recon_breaks").params(SESSION.settings, reports.ReportOptions(instruments=INSTRUMENTS))
    generate.generate(chdb, name, GENERATED_FILLS, params, seed=3)
    assert not recounted(chdb, name)  # every deal answered from its stored minutes
    check_every_window(chdb, name)


def test_migration_backfills_a_database_that_already_holds_events(chdb: ChdbRunner, session_db: str) -> None:
    name = f"unit_inventory_forward_{uuid.uuid4().hex[:8]}"
    migrate(chdb, name, [m for m in MIGRATIONS if m.version < 9])
    insert_all(chdb, name, SESSION.event_log())
    outcomes = migrate(chdb, name, MIGRATIONS)
    assert (9, "applied") in [(o.version, o.status) for o in outcomes]
    options = reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000)
    assert answers(chdb, name, options)[1] == answers(chdb, session_db, options)[1]
    check_every_window(chdb, name)
    # the marks are idempotent: the backfill holds the same states as the views (the checks may
    # differ: copies the raw tables merged before the backfill are not counted, nor recounted)
    query = (
        "SELECT symbol, cell_us, finalizeAggregation(mark), finalizeAggregation(mark_us) "
        "FROM {}.deal_inventory_marks FINAL ORDER BY symbol, cell_us"
    )
    assert chdb.query(query.format(name)) == chdb.query(query.format(session_db))
