"""The analytics package without a server: query files and their headers, parameter rendering,
every report on the current engine (chDB) with the columns its header promises, output formats,
time arguments, and the CLI's one-line errors for input that never reaches ClickHouse."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest

from otcdesk.analytics import queries, reports
from otcdesk.analytics.adhoc import explain
from otcdesk.analytics.queries import QueryFileError, literal, load, parse
from otcdesk.analytics.recon_params import recon_params, tx_hash_regex
from otcdesk.analytics.render import choose_format, plain, plot, show
from otcdesk.analytics.timespec import duration_us, instant_us
from otcdesk.db.migrate import MigrationError
from otcdesk.db.runner import ChdbRunner
from otcdesk.errors import UserError
from otcdesk.hedging import hedge_lot
from otcdesk.settings import Settings
from otcdesk.settlement import policy
from tests.recon_session import INSTRUMENTS, build_session, load_session

#: CPU only (subprocesses with a 60 s timeout at most): make test runs it in the background phase.
pytestmark = pytest.mark.background

OTCDESK = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "otcdesk"
REQUIRED = {
    "recon_breaks",
    "blotter",
    "hit_ratio",
    "spread_captured",
    "hedge_slippage",
    "fill_quality",
    "settlement_latency",
    "breaks_over_time",
    "inventory_pnl",
}
SESSION = build_session()
OPTIONS = reports.ReportOptions(instruments=INSTRUMENTS, bucket_us=600 * 1_000_000)


# -- query files -------------------------------------------------------------------------------


def test_every_required_query_exists_and_is_a_report() -> None:
    assert set(queries.names()) >= REQUIRED
    assert set(queries.names()) == set(reports.REPORTS)


@pytest.mark.parametrize("name", queries.names())
def test_header_documents_columns_and_exactly_the_parameters_used(name: str) -> None:
    query = load(name)
    assert query.title and query.about and query.columns
    assert all(meaning for _, meaning in (*query.columns, *query.params))
    used = set(queries.PLACEHOLDER.findall(query.body))
    assert used == set(query.param_names), f"{name}: placeholders {used} vs header {query.param_names}"
    assert "{db}." in query.body and not query.body.startswith("--")


@pytest.mark.parametrize("name", queries.names(reports.PASSES_DIR))
def test_a_first_pass_belongs_to_one_report_and_takes_its_parameters(name: str) -> None:
    query = load(name, reports.PASSES_DIR)
    owners = [(r, p) for r in reports.REPORTS.values() for p in r.passes if p.name == name]
    assert len(owners) == 1, f"{name}: first pass of {[r.name for r, _ in owners]}"
    report, first = owners[0]
    assert query.column_names == tuple(column for column, _ in first.columns)
    assert set(queries.PLACEHOLDER.findall(query.body)) == set(query.param_names)
    given = report.params(Settings(), OPTIONS)
    if first.runs is None:
        assert set(query.param_names) <= set(given)
    else:
        runs = first.runs(given)
        assert runs and all(set(run) == set(query.param_names) for run in runs)


@pytest.mark.parametrize("name", queries.names())
def test_each_report_gives_its_queries_every_parameter_and_no_other(name: str) -> None:
    """What the report's query and its single-run passes read, plus what its per-run passes build
    their runs from (each of those missing, the runs cannot be built)."""
    report = reports.get(name)
    given = report.params(Settings(), OPTIONS)
    read = set(load(name).param_names)
    read.update(*(load(p.name, reports.PASSES_DIR).param_names for p in report.passes if p.runs is None))
    assert read <= set(given)
    for extra in set(given) - read:
        runs_of = [p.runs for p in report.passes if p.runs is not None]
        without = {k: v for k, v in given.items() if k != extra}
        assert runs_of, f"{name}: parameter {extra} is read by no query"
        with pytest.raises(KeyError):
            for runs in runs_of:
                runs(without)


#: FINAL's choice made by hand, over a few rows: one copy per event_id, the one inserted last
LAST_COPY = re.compile(
    r"\A[^;]*?ORDER BY rfq_id, event_id, inserted_at DESC, _offset DESC\s+LIMIT 1 BY rfq_id, event_id\s*\n\s*\)"
)


def _deduplicated(body: str, at: int) -> bool:
    """The read at `at` is the whole subquery up to its closing line, and that keeps the last copy."""
    end = re.compile(r"\n\s*\)").search(body, at)
    return end is not None and LAST_COPY.match(body[at : end.end()]) is not None


def test_exact_queries_read_every_event_table_with_final() -> None:
    """ReplacingMergeTree dedups at merge time: until then only FINAL sees each event once, or a
    subquery that keeps the copy FINAL keeps (LIMIT 1 BY event_id, the last inserted). A per-deal
    table (deal_*) is read without FINAL only where its largest part is (docs/clickhouse.md)."""
    for name in queries.names():
        body = "\n".join([load(name).body, *(load(p.name, reports.PASSES_DIR).body for p in reports.get(name).passes)])
        found = list(re.finditer(r"\{db\}\.(\w+)(\s+FINAL\b)?", body))
        reads = [(m[1], m[2] or ("LIMIT 1 BY" if _deduplicated(body, m.end()) else "")) for m in found]
        assert reads and all(final or table.startswith("deal_") for table, final in reads), f"{name}: {reads}"
        if any(table.startswith("deal_") and not final for table, final in reads):
            assert "_part NOT IN" in body and "FINAL" in body, name


def test_render_substitutes_database_and_literals() -> None:
    query = parse(
        "q",
        "-- q: a query\n-- about it\n-- columns:\n--   x   a value\n-- params:\n"
        "--   v   a value\n--   names   some names\nSELECT %(v)s AS x FROM {db}.t WHERE n IN %(names)s",
    )
    sql = query.render("scratch", {"v": D("1E-8"), "names": ["a'b", "c\\d"]})
    assert sql == "SELECT '0.00000001' AS x FROM scratch.t WHERE n IN ['a\\'b', 'c\\\\d']"
    with pytest.raises(QueryFileError, match="missing parameters \\['names'\\]"):
        query.render("scratch", {"v": 1})
    with pytest.raises(QueryFileError, match="unknown parameters \\['w'\\]"):
        query.render("scratch", {"v": 1, "names": ["a"], "w": 2})
    with pytest.raises(MigrationError, match="plain identifier"):
        query.render("scratch; DROP TABLE x", {"v": 1, "names": ["a"]})


def test_literals() -> None:
    assert literal(7) == "7" and literal(True) == "1" and literal(D("-0.50")) == "'-0.50'"
    assert literal([[D("1"), D("10")], [D("0")]]) == "[['1', '10'], ['0']]"
    with pytest.raises(QueryFileError, match="empty list"):
        literal([])


def test_header_parsing_refuses_a_file_without_its_title() -> None:
    with pytest.raises(QueryFileError, match="first line"):
        parse("blotter", "SELECT 1")
    with pytest.raises(QueryFileError, match="no query named"):
        load("../etc/passwd")


# -- every report on the current engine -----------------------------------------------------


@pytest.fixture(scope="module")
def db(chdb: ChdbRunner) -> str:
    name = f"unit_reports_{uuid.uuid4().hex[:8]}"
    load_session(chdb, name, SESSION)
    return name


def column_names(runner: ChdbRunner, sql: str, report: reports.Report) -> list[str]:
    """The names the engine gives the query's columns (its first passes' tables there, empty)."""
    for first in report.passes:
        columns = ", ".join(f"{c} {t}" for c, t in first.columns)
        runner.execute(f"CREATE TEMPORARY TABLE {first.name} ({columns})")
    try:
        result = runner.session.query(sql, "JSONCompact")
    finally:
        for first in report.passes:
            runner.execute(f"DROP TEMPORARY TABLE {first.name}")
    return [m["name"] for m in json.loads(result.bytes())["meta"]]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_report_runs_with_the_columns_its_header_promises(chdb: ChdbRunner, db: str, name: str) -> None:
    report = reports.get(name)
    result = reports.run(chdb, db, report, SESSION.settings, OPTIONS)
    assert result.rows, f"{name} returned nothing on the session"
    sql = reports.report_sql(db, report, report.params(SESSION.settings, OPTIONS))
    assert column_names(chdb, sql, report) == list(load(name).column_names)
    assert all(len(row) == len(result.columns) for row in result.rows)


def test_blotter_pnl_equals_the_streams(chdb: ChdbRunner, db: str) -> None:
    """Same P&L as otcdesk.recon, except where a fill's twin under another id inflates the hedge."""
    result = reports.run(chdb, db, reports.get("blotter"), SESSION.settings, OPTIONS)
    at = {c: i for i, c in enumerate(result.columns)}
    pnl = {row[at["rfq_id"]]: row[at["pnl_quote"]] for row in result.rows}
    for r in SESSION.stream_results():
        if not any(b.kind == "DUPLICATE_FILL" for b in r.breaks):
            assert pnl[r.rfq_id] == r.pnl_quote, r.rfq_id


def test_recon_parameters_come_from_the_same_rules_as_recon() -> None:
    params = recon_params(Settings(), INSTRUMENTS)
    assert params["lot_sizes"] == [hedge_lot(s, INSTRUMENTS) for s in params["lot_symbols"]]
    assert params["fee_currencies"][params["fee_keys"].index("BINANCE BTC/USD")] == "USDT"
    pattern = re.compile(tx_hash_regex())
    for network in ("BTC", "ETH", "TRON", "WIRE"):
        for tx in ("ab" * 32, "0x" + "ab" * 32, "AB" * 32, "", "0x12"):
            assert bool(pattern.fullmatch(f"{network}:{tx}")) == policy.is_valid_tx_hash(network, tx), (network, tx)


def test_hit_ratio_buckets_follow_the_quote_size_tiers() -> None:
    buckets = reports.size_buckets(Settings())
    assert buckets["bucket_labels"] == ["0-1M", "1M-5M", "5M-20M", "20M-50M", ">=50M"]
    assert buckets["bucket_edges_quote"][0] == 0


# -- output -----------------------------------------------------------------------------------


def test_decimals_print_plain_without_trailing_zeros() -> None:
    assert [plain(D("4.000000000000")), plain(D("1E+2")), plain(D("-0.000")), plain(D("0.00000001"))] == [
        "4",
        "100",
        "0",
        "0.00000001",
    ]
    assert plain([D("1.50"), "x"]) == ["1.5", "x"]


def test_csv_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    show("t", ["a", "b"], [(D("1.10"), None), ("x,y", 2)], "csv", out)
    assert out.getvalue() == 'a,b\n1.1,\n"x,y",2\n'
    show("t", ["a"], [(D("2.50"),)], "json")
    assert json.loads(capsys.readouterr().out) == [{"a": "2.5"}]  # money stays a string
    with pytest.raises(UserError, match="exclude each other"):
        choose_format(True, True)


def test_plot_writes_a_png(tmp_path: Path) -> None:
    rows = [(1_764_000_000_000_000 + i * 60_000_000, sym, D(i), D(-i)) for i in range(3) for sym in ("A", "B")]
    path = plot(tmp_path / "p.png", "t", ["t_us", "s", "y1", "y2"], rows, "t_us", "s", ["y1", "y2"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bars = plot(tmp_path / "b.png", "t", ["t_us", "s", "y1", "y2"], rows, "t_us", "s", ["y1"], stacked=True)
    assert bars.stat().st_size > 0
    with pytest.raises(UserError, match="PNG"):
        plot(tmp_path / "p.jpg", "t", ["t_us"], [], "t_us", "s", ["y"])


# -- time arguments and server errors ----------------------------------------------------------


def test_time_arguments() -> None:
    now = 1_764_000_000_000_000
    assert instant_us("2h", "--since", now) == now - 7200 * 1_000_000
    assert instant_us("2025-11-24T16:00:00Z", "--since", now) == now
    assert instant_us("2025-11-24 16:00:00.5", "--since", now) == now + 500_000
    assert instant_us(str(now), "--since", 0) == now
    assert duration_us("1.5h", "--bucket") == 5400 * 1_000_000
    for bad in ("yesterday", "2025-13-01", "-5m", "12"):
        with pytest.raises(UserError, match="--since"):
            instant_us(bad, "--since", now)
    with pytest.raises(UserError, match="--bucket"):
        duration_us("0s", "--bucket")


def test_server_errors_become_one_readable_line() -> None:
    readonly = explain(164, "Cannot drop table in readonly mode.", "otcdesk_ro", "h:1")
    assert readonly == "refused (read-only user otcdesk_ro): Cannot drop table in readonly mode."
    assert "users.xml" in explain(516, "Authentication failed", "u", "h:1")
    syntax = "Syntax error: failed at position 1: SELEC 1. Expected one of: SYSTEM query, SELECT subquery"
    assert explain(62, syntax, "u", "h:1") == "bad SQL: Syntax error: failed at position 1: SELEC 1."
    assert len(explain(60, "x" * 1000, "u", "h:1")) < 200


# -- CLI input that is refused before ClickHouse is asked anything --------------------------------


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OTCDESK), *args], capture_output=True, text=True, timeout=60, env=os.environ | {"COLUMNS": "200", **env}
    )


@pytest.mark.parametrize(
    "args, says",
    [
        (["report", "nope"], "unknown report 'nope'"),
        (["report", "blotter", "--since", "last tuesday"], "--since 'last tuesday'"),
        (["report", "blotter", "--plot", "x.png"], "blotter is not a time series"),
        (["report", "inventory_pnl", "--bucket", "0m"], "--bucket"),
        (["report", "blotter", "--as-of", "1h"], "--as-of applies to recon_breaks only"),
        (["report", "list", "--json", "--csv"], "exclude each other"),
        (["report", "blotter", "--database", "x;DROP"], "plain identifier"),
        (["sql", " "], "give a query"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_unreachable_clickhouse_is_one_line_and_exit_2() -> None:
    for args in (["sql", "SELECT 1"], ["report", "blotter"]):
        done = cli(*args, OTCDESK_STACK="external", CLICKHOUSE_URL="clickhouse://default@127.0.0.1:1/otcdesk")
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "127.0.0.1:1" in lines[0] and "not answering" in lines[0], done.stderr


def test_report_list() -> None:
    done = cli("report", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {r["report"]: r for r in json.loads(done.stdout)}
    assert set(listed) == set(reports.REPORTS)
    assert listed["inventory_pnl"]["plot"] == "time series" and listed["blotter"]["plot"] == ""
