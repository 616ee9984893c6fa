"""`otcdesk sql`'s own checks before sending, and the one line that names the limit that stopped a
query (the server's error codes and words as ClickHouse 18.16 sends them)."""

from __future__ import annotations

import pytest

from otcdesk.analytics import sql_guard
from otcdesk.analytics.adhoc import explain
from otcdesk.analytics.limit_errors import explain_limit
from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.errors import UserError

LIMITS = ReadOnlyLimits()


@pytest.mark.parametrize(
    "sql, levels",
    [
        ("SELECT 1", 0),
        ("SELECT f(g(1), [2, (3)])", 3),
        ("SELECT CASE WHEN a THEN CASE WHEN b THEN 1 END END, (2)", 2),
        ("SELECT ')))((((' , \"((\", `((`", 0),  # literals and quoted identifiers
        ("SELECT 'it\\'s (', 'it''s ((' -- (((\n, 1 /* ((( */", 0),
        ("SELECT " + "(" * 5000, 5000),  # unterminated: as deep as it opens
        ("SELECT ((1)) + ((2))", 2),
        ("SELECT ')", 0),  # an unclosed literal ends the text
        ("SELECT x)))) + (1", 1),  # stray closers never go below zero
        ("SELECT émoji(1)", 1),
    ],
)
def test_nesting_levels(sql: str, levels: int) -> None:
    assert sql_guard.nesting_levels(sql) == levels


def test_the_desks_deepest_query_passes_and_the_exponential_shapes_do_not() -> None:
    from otcdesk.analytics import reports
    from otcdesk.settings import Settings

    report = reports.get("recon_breaks")
    sql = reports.report_sql("otcdesk", report, report.params(Settings(), reports.ReportOptions()))
    assert sql_guard.nesting_levels(sql) <= LIMITS.max_nesting_levels
    for shape in ("CASE WHEN 1 THEN ", "CAST(", "SUBSTRING(", "("):
        with pytest.raises(UserError, match="max_nesting_levels = 16"):
            sql_guard.check("SELECT " + shape * 17, LIMITS)


def test_too_long_is_refused_before_sending_with_the_limit() -> None:
    sql_guard.check("SELECT 1" + "+1" * 4000, LIMITS)  # 8,008 bytes: the server decides (max_ast_depth)
    with pytest.raises(UserError) as err:
        sql_guard.check("SELECT 1" + "+1" * 59_000, LIMITS)
    assert str(err.value) == (
        "refused: the query is 118,008 bytes, over max_query_size = 8,192 bytes (the read-only user's limit)"
    )
    with pytest.raises(UserError, match="over max_query_size"):
        sql_guard.check("SELECT '" + "é" * 4100 + "'", LIMITS)  # bytes, not characters


@pytest.mark.parametrize(
    "code, said, says",
    [
        (62, "Syntax error: failed at position 8194: 1+1+1. Max query size exceeded.", "max_query_size = 8,192 bytes"),
        (167, "AST is too deep. Maximum: 500.", "max_ast_depth = 500 levels"),
        (168, "AST is too big. Maximum: 10000.", "max_ast_elements = 10,000"),
        (168, "AST is too big. Maximum: 100000: (after expansion of aliases).", "max_expanded_ast_elements = 100,000"),
        (159, "Timeout exceeded: elapsed 30.000135 seconds, maximum: 30", "max_execution_time = 30 s"),
        (
            396,
            "Limit for result exceeded, max rows: 1.00 million, current rows: 1.05 million.",
            "max_result_rows = 1,000,000 rows",
        ),
        (
            396,
            "Limit for result exceeded, max bytes: 953.67 MiB, current bytes: 1.00 GiB.",
            "max_result_bytes = 1,000,000,000 bytes",
        ),
        (
            241,
            "Memory limit (for query) exceeded: would use 2.00 GiB (attempt to allocate chunk of 1073741824 "
            "bytes), maximum: 1.86 GiB.",
            "max_memory_usage = 2,000,000,000 bytes",
        ),
        (
            241,
            "Memory limit (for user) exceeded: would use 4.00 GiB, maximum: 3.73 GiB.",
            "max_memory_usage_for_user = 4,000,000,000 bytes",
        ),
        (
            202,
            "Too many simultaneous queries for user otcdesk_ro. Current: 8, maximum: 8",
            "max_concurrent_queries_for_user = 8",
        ),
    ],
)
def test_a_limit_error_is_one_line_naming_the_limit_and_its_value(code: int, said: str, says: str) -> None:
    line = explain(code, said, "otcdesk_ro", "h:1", size_bytes=118_008, limits=LIMITS)
    assert says in line and "\n" not in line, line
    assert line.startswith(("refused: ", "stopped: ")), line


def test_other_errors_keep_the_servers_words() -> None:
    assert explain_limit(62, "Syntax error: failed at position 1: SELEC 1.", 8, LIMITS) is None
    assert explain_limit(60, "Table otcdesk.nope doesn't exist.", 30, LIMITS) is None
    assert explain_limit(202, "Too many simultaneous queries. Maximum: 100", 30, LIMITS) is None


@pytest.mark.parametrize(
    "code, said",
    [
        (159, "Timeout exceeded: elapsed 30.000135 seconds, maximum: 30"),
        (241, "Memory limit (for query) exceeded: would use 2.00 GiB, maximum: 1.86 GiB."),
        (396, "Limit for result exceeded, max rows: 1.00 million, current rows: 1.05 million."),
    ],
)
def test_a_query_that_read_too_much_says_how_to_narrow_it(code: int, said: str) -> None:
    line = explain(code, said, "otcdesk_ro", "h:1", size_bytes=100, limits=LIMITS)
    assert ("narrow it: " in line or "add a LIMIT or aggregate" in line) and "\n" not in line, line
