"""Every report and `otcdesk sql` on the real ClickHouse 18.16 server, on a throwaway database
holding the faulted session of tests/recon_session.py: each report (run as `otcdesk report` runs
it: the writer with readonly=1) returns the same rows as on the current engine (chDB), and the
CLI's happy paths and refusals (a write through `sql`, bad SQL, an unknown table) are one line and
exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from otcdesk.analytics import reports
from otcdesk.db import client
from otcdesk.db.runner import ChdbRunner, DriverRunner
from otcdesk.settings import Settings
from tests.recon_session import INSTRUMENTS, build_session, load_session

pytestmark = pytest.mark.integration

SESSION = build_session()
OPTIONS = reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000)


@pytest.fixture(scope="module")
def db(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_reports_{uuid.uuid4().hex[:8]}"
    load_session(server, name, SESSION)
    yield name
    server.execute(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def reader(stack: Settings, db: str) -> Iterator[DriverRunner]:
    """What `otcdesk report` uses: the writer, every statement with readonly=1."""
    runner = client.report_reader(stack, db)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def current(db: str) -> Iterator[tuple[ChdbRunner, str]]:
    runner = ChdbRunner.in_memory()
    load_session(runner, db, SESSION)
    yield runner, db
    runner.close()


@pytest.mark.parametrize("name", list(reports.REPORTS))
def test_report_on_18_16_as_read_only_equals_the_current_engine(
    reader: DriverRunner, db: str, current: tuple[ChdbRunner, str], name: str
) -> None:
    report = reports.get(name)
    started = time.perf_counter()
    old = reports.run(reader, db, report, SESSION.settings, OPTIONS)
    print(f"{name}: {len(old.rows)} rows in {time.perf_counter() - started:.3f} s on {reader.engine}")
    new = reports.run(current[0], current[1], report, SESSION.settings, OPTIONS)
    assert old.rows and old.rows == new.rows


def cli(settings: Settings, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    ep = settings.clickhouse
    env = os.environ | {
        "OTCDESK_STACK": "external",
        "CLICKHOUSE_URL": f"clickhouse://default@{ep.host}:{ep.port}/{db}",
        "OTCDESK_CLICKHOUSE_PASSWORD": ep.password.get_secret_value(),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-c", "from otcdesk.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def one_line_exit_2(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_report_cli(stack: Settings, db: str, tmp_path: Path) -> None:
    blotter = cli(stack, db, "report", "blotter", "--json")
    assert blotter.returncode == 0, blotter.stderr
    deals = json.loads(blotter.stdout)
    assert len(deals) == len(SESSION.deals) and all(isinstance(d["pnl_quote"], str) for d in deals)
    png = tmp_path / "inventory.png"
    inventory = cli(stack, db, "report", "inventory_pnl", "--bucket", "10m", "--csv", "--plot", str(png))
    assert inventory.returncode == 0, inventory.stderr
    assert inventory.stdout.startswith("bucket_start,bucket_start_us,symbol,inventory_base")
    assert png.read_bytes()[:4] == b"\x89PNG"
    late = cli(stack, db, "report", "recon_breaks", "--as-of", str(SESSION.timeout_us), "--json")
    assert late.returncode == 0, late.stderr
    assert {r["kind"] for r in json.loads(late.stdout)} >= {"MISSING_FILL", "QUANTITY", "FEE"}
    table = cli(stack, db, "report", "hit_ratio")
    assert table.returncode == 0 and "size_bucket" in table.stdout and "ACME" in table.stdout, table.stderr


def test_sql_reads(stack: Settings, db: str, server: DriverRunner) -> None:
    done = cli(stack, db, "sql", f"SELECT count() AS fills FROM {db}.fills FINAL", "--json")
    assert done.returncode == 0, done.stderr
    fills = sum(len(d.fills) for d in SESSION.deals)
    assert json.loads(done.stdout) == [{"fills": fills}]
    # the URL's database is the default one; decimals print exactly, without 18.16's trailing zeros
    top = cli(stack, db, "sql", "SELECT max(price_quote) AS top FROM fills FINAL WHERE symbol = 'BTC/USD'", "--csv")
    assert top.returncode == 0, top.stderr
    assert top.stdout == f"top\n{max(f.price_quote for d in SESSION.deals for f in d.fills).normalize()}\n"


@pytest.mark.parametrize(
    "statement, says",
    [
        ("DROP TABLE {db}.fills", "read-only user"),
        ("INSERT INTO {db}.fills (event_id) VALUES ('x')", "read-only user"),
        ("CREATE TABLE {db}.x (a Int8) ENGINE = Memory", "read-only user"),
        ("ALTER TABLE {db}.fills DELETE WHERE 1", "read-only user"),
        ("SET max_threads = 1", "read-only user"),
        ("SELEC count() FROM {db}.fills", "bad SQL"),
        ("SELECT 1; DROP TABLE {db}.fills", "bad SQL"),
        ("SELECT * FROM {db}.no_such_table", "refused the query"),
    ],
)
def test_sql_refusals_are_one_line(stack: Settings, db: str, server: DriverRunner, statement: str, says: str) -> None:
    before = server.query(f"SELECT count() FROM {db}.fills")
    one_line_exit_2(cli(stack, db, "sql", statement.format(db=db)), says)
    assert server.query(f"SELECT count() FROM {db}.fills") == before  # nothing changed


def test_unknown_database_is_one_line(stack: Settings, db: str) -> None:
    one_line_exit_2(cli(stack, f"{db}_gone", "sql", "SELECT 1"), "no such database")
    one_line_exit_2(cli(stack, f"{db}_gone", "report", "blotter"), "doesn't exist")
