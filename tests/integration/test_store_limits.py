"""The store is safe from its users, on a throwaway ClickHouse 18.16 (otcdesk.stack.throwaway: the
stack's own users.xml and server command, on free ports; the shared server is never at risk).

Hostile SQL as the read-only user fails with one line naming the limit that stopped it, through
`otcdesk sql` and, past the CLI's own checks, straight at the server, which stays up. The admin
`default` takes only the password kept in the state file. A query the client stops (signal or
deadline) leaves system.processes at once; a client killed outright, at max_execution_time.

The throwaway server and the CLI run the desk's profile with the limits that take time to reach
scaled down (SCALED: a shorter max_execution_time, less memory, fewer result rows, and a history
sized to pass them), so each is reached in seconds; the limits that keep the parser alive keep
their shipped values. tests/unit/test_store_access.py keeps the shipped profile the same in the
local and the compose server config.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException

from otcdesk.analytics import limit_errors
from otcdesk.db import client
from otcdesk.errors import StackError
from otcdesk.settings import Settings
from otcdesk.stack import processes, state_file
from otcdesk.stack.throwaway import ThrowawayClickHouse
from tests.cli_main import run_main
from tests.integration.conftest import _unavailable

#: exclusive: which limit stops a query first (rows, memory, or max_execution_time's 30 s) depends
#: on how fast the server runs it: on a loaded machine a memory-bound query can reach the 30 s first.
pytestmark = [pytest.mark.integration, pytest.mark.exclusive, pytest.mark.timeout(600)]

#: The read-only limits reached by running long, scaled down (see the module docstring).
SCALED = {"max_execution_time_s": 10, "max_result_rows": 100_000, "max_memory_usage_bytes": 250_000_000}
SCALED_ENV = {f"OTCDESK_READ_ONLY__{name.upper()}": str(value) for name, value in SCALED.items()}
LIMITS = Settings().read_only.model_copy(update=SCALED)
CAP = LIMITS.max_query_size_bytes
SCAN = "SELECT count() FROM system.numbers WHERE number < 1000000000000"
WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED = 193, 194, 516

HOSTILE = {
    "59k_terms": ("SELECT 1" + "+1" * 59_000, f"over max_query_size = {CAP:,} bytes"),
    "200k_terms": ("SELECT 1" + "+1" * 200_000, f"over max_query_size = {CAP:,} bytes"),
    "4k_terms": ("SELECT 1" + "+1" * 4_000, f"deeper than max_ast_depth = {LIMITS.max_ast_depth} levels"),
    "nested_parens": ("SELECT " + "(" * 4000 + "1" + ")" * 4000, "max_nesting_levels = 16"),
    "nested_calls": ("SELECT " + "abs(" * 1600 + "1" + ")" * 1600, "max_nesting_levels = 16"),
    "nested_case": ("SELECT " + "CASE WHEN 1 THEN " * 30, "max_nesting_levels = 16"),
    "aliases_expand": (
        "SELECT 1 AS a0, " + ", ".join(f"a{i} + a{i} AS a{i + 1}" for i in range(30)),
        f"max_expanded_ast_elements = {LIMITS.max_expanded_ast_elements:,}",
    ),
    "numbers_scan": (SCAN, f"max_execution_time = {LIMITS.max_execution_time_s} s"),
    "huge_result": ("SELECT number FROM system.numbers", f"max_result_rows = {LIMITS.max_result_rows:,} rows"),
    "memory_hog": (
        "SELECT length(groupArray(number)) FROM system.numbers",
        f"max_memory_usage = {LIMITS.max_memory_usage_bytes:,} bytes",
    ),
    "table_function_hog": (
        "SELECT groupArray(number) FROM numbers(1000000000)",
        "refused (read-only user otcdesk_ro): Table functions are forbidden",
    ),
}
#: What the CLI refuses before sending, sent straight to the server: each would crash 18.16 with
#: its default 8 MiB thread stack (measured: 944 levels of `[`/`(`, 912 of `f(`, 43,776 terms).
PAST_THE_CLI = {
    "59k_terms": ("SELECT 1" + "+1" * 59_000, limit_errors.SYNTAX_ERROR),
    "200k_terms": ("SELECT 1" + "+1" * 200_000, limit_errors.SYNTAX_ERROR),
    "brackets_to_the_size_limit": ("SELECT " + "[" * (CAP - 7), limit_errors.SYNTAX_ERROR),
    "calls_2700_deep": ("SELECT " + "f(" * 2700 + "1" + ")" * 2700, limit_errors.TOO_DEEP_AST),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayClickHouse]:
    server = ThrowawayClickHouse(tmp_path_factory.mktemp("store"), Settings().model_copy(update={"read_only": LIMITS}))
    try:
        try:
            server.start()
        except StackError as exc:  # no clickhouse-server: fails under CI, skips elsewhere
            _unavailable(exc)
        admin = _driver(server, "default", server.access.admin_password)
        admin.execute("CREATE DATABASE IF NOT EXISTS otcdesk")
        admin.disconnect()
        yield server
    finally:
        server.stop()


def _driver(server: ThrowawayClickHouse, user: str = "otcdesk_ro", password: str = "") -> Client:
    return Client(
        host=server.endpoint.host,
        port=server.endpoint.port,
        user=user,
        password=password,
        database="default",
        send_receive_timeout=120,
    )


def assert_up(server: ThrowawayClickHouse) -> None:
    """The same server process still answers (a crash would have ended it: nothing restarts it)."""
    assert processes.is_ours(server.pid, server.marker), "clickhouse-server is gone"
    assert server.probe().ok


def otcdesk_sql(server: ThrowawayClickHouse, query: str) -> tuple[int, list[str]]:
    """(exit code, output lines) of `otcdesk sql QUERY` through main(), as the console script runs
    it (in-process: a 200k-term query is longer than one command-line argument may be)."""
    code, out, err = run_main(["sql", query], server.env() | SCALED_ENV)
    return code, [line for line in (out + err).splitlines() if line.strip()]


@pytest.mark.parametrize("query, says", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_sql_stops_with_one_line_naming_the_limit(store: ThrowawayClickHouse, query: str, says: str) -> None:
    began = time.monotonic()
    code, lines = otcdesk_sql(store, query)
    print(f"{len(query):,} bytes: {lines} after {time.monotonic() - began:.1f} s")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert "Traceback" not in lines[0]
    assert_up(store)


@pytest.mark.parametrize("query, code", PAST_THE_CLI.values(), ids=list(PAST_THE_CLI))
def test_the_server_itself_refuses_what_would_crash_it(store: ThrowawayClickHouse, query: str, code: int) -> None:
    ro = _driver(store)
    try:
        with pytest.raises(ServerException) as err:
            ro.execute(query)
    finally:
        ro.disconnect()
    assert err.value.code == code, err.value
    if code == limit_errors.SYNTAX_ERROR and len(query) > CAP:
        assert limit_errors.QUERY_SIZE_WORDS in str(err.value)
    assert_up(store)


#: `otcdesk sql` over a generated trade history (otcdesk.db.generate) on the throwaway server
HISTORY_FILLS = 150_000  # more fills than LIMITS.max_result_rows; 200 pairs each pass its memory
OVER_HISTORY = {
    "every_fill": (
        "SELECT * FROM {db}.fills",
        f"max_result_rows = {LIMITS.max_result_rows:,} rows; add a LIMIT or aggregate",
    ),
    "fill_pairs_in_memory": (
        "SELECT uniqExact(fill_id, i) FROM {db}.fills ARRAY JOIN range(200) AS i",
        f"max_memory_usage = {LIMITS.max_memory_usage_bytes:,} bytes; narrow it: ",
    ),
}


@pytest.fixture(scope="module")
def history(store: ThrowawayClickHouse) -> str:
    """HISTORY_FILLS fills (with their deals' trades, orders, settlements) in the throwaway server."""
    from otcdesk.analytics.reports import REPORTS, ReportOptions
    from otcdesk.db.generate import generate
    from otcdesk.db.migrate import migrate

    desk = Settings(stack="local", state_dir=store.home)
    runner = client.admin(desk, timeout_s=600)
    try:
        migrate(runner, "otcdesk_history")
        generate(runner, "otcdesk_history", HISTORY_FILLS, REPORTS["recon_breaks"].params(desk, ReportOptions()))
    finally:
        runner.close()
    return "otcdesk_history"


@pytest.mark.parametrize("query, says", OVER_HISTORY.values(), ids=list(OVER_HISTORY))
def test_a_query_reading_too_much_of_a_history_stops_with_how_to_narrow_it(
    store: ThrowawayClickHouse, history: str, query: str, says: str
) -> None:
    code, lines = otcdesk_sql(store, query.format(db=history))
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: stopped: ") and says in lines[0], lines
    assert_up(store)
    # the same history, narrowed as the message says, answers
    code, lines = otcdesk_sql(store, f"SELECT count() FROM {history}.fills WHERE rfq_id = 'rfq-7'")
    assert code == 0, lines


def test_the_read_only_user_runs_with_the_desks_limits(store: ThrowawayClickHouse) -> None:
    ro = _driver(store)
    try:
        profile = LIMITS.profile()
        rows = ro.execute("SELECT name, value FROM system.settings WHERE name IN %(names)s", {"names": tuple(profile)})
    finally:
        ro.disconnect()
    assert dict(rows) == profile


def test_the_admin_needs_the_password_kept_in_the_state_file(store: ThrowawayClickHouse) -> None:
    assert stat.S_IMODE(store.state_file.stat().st_mode) == 0o600
    password = str(state_file.read(store.state_file)["clickhouse_password"])
    assert password not in store.layout.users.read_text()  # the server's config holds its SHA-256 only
    for wrong in ("", "not-" + password):
        admin = _driver(store, "default", wrong)
        with pytest.raises(ServerException) as err:
            admin.execute("SELECT 1")
        assert err.value.code in (WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED), err.value
    admin = _driver(store, "default", password)
    assert admin.execute("SELECT 1") == [(1,)]
    admin.disconnect()
    # every desk client (sink, migrations, reports) resolves the password as a local stack's would
    desk = Settings(stack="local", state_dir=store.home)
    assert (desk.clickhouse.user, desk.clickhouse.port) == ("default", store.endpoint.port)
    runner = client.admin(desk)
    assert runner.query("SELECT 1") == [(1,)]
    runner.close()


# -- queries stopped by the client ----------------------------------------------------------------


def _scans(server: ThrowawayClickHouse) -> list[tuple[str, float]]:
    """(query id, elapsed s) of the read-only user's scans that system.processes still lists."""
    admin = _driver(server, "default", server.access.admin_password)
    try:
        return admin.execute(
            "SELECT query_id, elapsed FROM system.processes WHERE user = 'otcdesk_ro' "
            "AND query LIKE 'SELECT count() FROM system.numbers%'"
        )
    finally:
        admin.disconnect()


def _wait(condition: Callable[[], object], timeout_s: float) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.02)
    return time.monotonic() - began


def _start_scan(server: ThrowawayClickHouse, **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "otcdesk.cli.main", "sql", SCAN],
        text=True,
        env=os.environ | server.env() | SCALED_ENV | {"COLUMNS": "200"} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait(lambda: _scans(server), 30)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_query_the_client_stops_leaves_the_server(store: ThrowawayClickHouse, sig: signal.Signals) -> None:
    proc = _start_scan(store)
    try:
        time.sleep(1)
        proc.send_signal(sig)
        gone_s = _wait(lambda: not _scans(store), 10)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    print(f"{sig.name}: the scan left system.processes {gone_s:.2f} s after the signal")
    assert (
        proc.returncode == 2
        and err.strip() == f"error: interrupted ({sig.name}): the query was cancelled on the server"
    )
    assert gone_s < 3
    assert_up(store)


def test_the_clients_deadline_cancels_the_query_on_the_server(store: ThrowawayClickHouse) -> None:
    """A client deadline (max_execution_time_s + cancel_grace_s) below the server's limit: the
    client's Cancel, not the server's timer, ends the query."""
    proc = _start_scan(store, OTCDESK_READ_ONLY__MAX_EXECUTION_TIME_S="2", OTCDESK_READ_ONLY__CANCEL_GRACE_S="1")
    try:
        _out, err = proc.communicate(timeout=30)
        gone_s = _wait(lambda: not _scans(store), 10)
    finally:
        proc.kill()
    print(f"client deadline: the scan left system.processes {gone_s:.2f} s after the client exited")
    assert proc.returncode == 2 and err.strip().startswith("error: stopped: no answer within 3"), err
    assert "max_execution_time = 2 s + 1 s); the query was cancelled on the server" in err
    assert gone_s < 2


def test_a_killed_clients_query_ends_at_max_execution_time(store: ThrowawayClickHouse) -> None:
    """SIGKILL leaves no chance to send Cancel: the server's own limit ends the query."""
    proc = _start_scan(store)
    ((query_id, elapsed_s),) = _scans(store)
    proc.kill()
    proc.wait(timeout=10)
    killed_at = time.monotonic()
    gone_s = _wait(lambda: not _scans(store), LIMITS.max_execution_time_s + 10)
    lifetime_s = elapsed_s + time.monotonic() - killed_at
    print(f"SIGKILL: the scan {query_id} ran {lifetime_s:.1f} s in all, {gone_s:.1f} s after the kill")
    assert lifetime_s < LIMITS.max_execution_time_s + 3
    assert_up(store)
