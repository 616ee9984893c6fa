"""The per-deal tables on the real ClickHouse 18.16 server, on throwaway databases: the reports that
read per-deal tables (the blotter: the newest deals only) equal the same report over the raw events
(tests/fixtures/*_raw.sql) on the faulted session written through the sink's own writer (copies
included: those deals are recounted from the raw fills) and on a generated history; migrations 0004
and 0005 backfill a database that already holds events; `otcdesk report blotter --limit N` shows the
newest N deals; `otcdesk db generate` is one command. The chDB side: tests/unit/test_deal_tables.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from otcdesk.db import generate
from otcdesk.db.migrate import load_migrations, migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.settings import Settings
from tests.integration.test_recon_sql import sink_insert
from tests.recon_session import build_session
from tests.unit.test_deal_tables import ON_DEAL_TABLES, raw_and_deal_answers, recount_flags

pytestmark = pytest.mark.integration

SESSION = build_session()
GENERATED_FILLS = 40_000


@pytest.fixture(scope="module")
def session_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_deals_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name)
        sink_insert(stack, name, SESSION.event_log())
        yield name
    finally:  # also when loading failed: the shared server keeps nothing
        server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def generated_db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    """Through the CLI, as a person reproduces the benchmark's history."""
    name = f"otcdesk_it_generated_{uuid.uuid4().hex[:8]}"
    try:
        done_cli = otcdesk(
            stack, "db", "generate", "--fills", str(GENERATED_FILLS), "--seed", "5", "--database", name, "--json"
        )
        assert done_cli.returncode == 0, done_cli.stderr
        done = json.loads(done_cli.stdout)
        assert (done["fills"], done["deals"], done["seed"]) == (GENERATED_FILLS, GENERATED_FILLS // 4, 5)
        yield name
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def otcdesk(stack: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`otcdesk ARGS` on the stack's server as an external one, as tests/integration/test_analytics.py runs it."""
    ep = stack.clickhouse
    env = os.environ | {
        "OTCDESK_STACK": "external",
        "OTCDESK_CLICKHOUSE_PASSWORD": ep.password.get_secret_value(),
        "CLICKHOUSE_URL": f"clickhouse://default@{ep.host}:{ep.port}/{ep.database}",
    }
    return subprocess.run(
        [sys.executable, "-c", "from otcdesk.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.parametrize("name", ON_DEAL_TABLES)
def test_report_equals_the_raw_events_on_the_sinks_session(server: DriverRunner, session_db: str, name: str) -> None:
    assert any(recount_flags(server, session_db))
    raw, deal = raw_and_deal_answers(server, session_db, name)
    assert raw and deal == raw


@pytest.mark.parametrize("name", ON_DEAL_TABLES)
def test_report_equals_the_raw_events_on_a_generated_history(
    server: DriverRunner, generated_db: str, name: str
) -> None:
    assert not any(recount_flags(server, generated_db))
    raw, deal = raw_and_deal_answers(server, generated_db, name)
    assert raw and deal == raw


def test_migration_backfills_a_database_that_already_holds_events(
    stack: Settings, server: DriverRunner, session_db: str
) -> None:
    name = f"otcdesk_it_forward_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, [m for m in load_migrations() if m.version < 4])
        sink_insert(stack, name, SESSION.event_log())
        assert ("deal_hedge",) not in server.query(f"SELECT name FROM system.tables WHERE database = '{name}'")
        assert (4, "applied") in [(o.version, o.status) for o in migrate(server, name)]
        for report in ON_DEAL_TABLES:
            assert raw_and_deal_answers(server, name, report)[1] == raw_and_deal_answers(server, session_db, report)[1]
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_generate_refuses_the_desks_own_database(stack: Settings) -> None:
    done = otcdesk(stack, "db", "generate", "--fills", "4", "--database", stack.clickhouse.database)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "desk's own event log" in lines[0], lines


def test_generated_history_shape(server: DriverRunner, generated_db: str) -> None:
    tables = {t: server.query(f"SELECT count() FROM {generated_db}.{t}")[0][0] for t in generate.TABLES}
    deals = GENERATED_FILLS // generate.FILLS_PER_DEAL
    assert tables == {
        "quotes": deals,
        "trades": deals,
        "orders": 2 * deals,
        "fills": GENERATED_FILLS,
        "settlements": 2 * deals,
        "recon": deals,
    }


@pytest.mark.parametrize("name", ["hedge_slippage", "settlement_latency", "hit_ratio", "blotter"])
def test_a_since_window_reads_only_the_months_it_touches(stack: Settings, generated_db: str, name: str) -> None:
    """The generated history lies in November 2026: a window from December on reads none of its parts."""
    from otcdesk.analytics import reports
    from otcdesk.db import client

    reader = client.report_reader(stack, generated_db)
    try:
        december = reports.ReportOptions(since_us=1_796_083_200_000_000)  # 2026-12-01 UTC
        result = reports.run(reader, generated_db, reports.get(name), stack, december)
        read = reader.rows_read  # a first pass's rows too
        everything = reports.run(reader, generated_db, reports.get(name), stack, reports.ReportOptions())
        read_all = reader.rows_read - read
    finally:
        reader.close()
    assert result.rows == [] and everything.rows
    print(f"{name}: {read:,} rows read with the window, {read_all:,} without")
    assert read <= read_all - GENERATED_FILLS // 4, (read, read_all)  # at least the windowed table's parts skipped


def test_migration_0005_backfills_a_database_that_already_holds_events(
    stack: Settings, server: DriverRunner, session_db: str
) -> None:
    name = f"otcdesk_it_forward5_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, [m for m in load_migrations() if m.version < 5])
        sink_insert(stack, name, SESSION.event_log())
        assert ("deal_recon",) not in server.query(f"SELECT name FROM system.tables WHERE database = '{name}'")
        assert (5, "applied") in [
            (o.version, o.status) for o in migrate(server, name, [m for m in load_migrations() if m.version <= 5])
        ]
        for report in ("breaks_over_time", "blotter"):
            raw, deal = raw_and_deal_answers(server, name, report)
            assert raw and deal == raw == raw_and_deal_answers(server, session_db, report)[1]
        latest = "SELECT rfq_id, version, judged_us, status, break_kinds FROM {}.deal_recon FINAL ORDER BY rfq_id"
        assert server.query(latest.format(name)) == server.query(latest.format(session_db))
    finally:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_blotter_limit_on_the_cli(stack: Settings, generated_db: str) -> None:
    """The newest deals first, as many as --limit says (the generated deals are 1 ms apart)."""
    two = otcdesk(stack, "report", "blotter", "--limit", "2", "--json", "--database", generated_db)
    assert two.returncode == 0, two.stderr
    rows = json.loads(two.stdout)
    deals = GENERATED_FILLS // generate.FILLS_PER_DEAL
    assert [r["rfq_id"] for r in rows] == [f"rfq-{deals - 1}", f"rfq-{deals - 2}"]
    default = otcdesk(stack, "report", "blotter", "--csv", "--database", generated_db)
    assert default.returncode == 0 and len(default.stdout.strip().splitlines()) == 1 + 1000, default.stderr
    every = otcdesk(stack, "report", "blotter", "--limit", "0", "--csv", "--database", generated_db)
    assert every.returncode == 0 and len(every.stdout.strip().splitlines()) == 1 + deals, every.stderr
    bad = otcdesk(stack, "report", "blotter", "--limit", "-5", "--database", generated_db)
    lines = [line for line in (bad.stdout + bad.stderr).splitlines() if line.strip()]
    assert bad.returncode == 2 and len(lines) == 1 and "--limit" in lines[0], lines
