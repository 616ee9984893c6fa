"""Which limit of the read-only user stopped a query, as one plain sentence naming it and its value.

The values are those of `Settings.read_only` (otcdesk/db/read_only.py), the same the local
stack's server profile is rendered from; the ClickHouse error codes are those of 18.16 and of a
current server (ErrorCodes.cpp).
"""

from __future__ import annotations

from otcdesk.db.read_only import ReadOnlyLimits

SYNTAX_ERROR = 62
TOO_MANY_ROWS = 158
TIMEOUT_EXCEEDED = 159
TOO_DEEP_AST = 167
TOO_BIG_AST = 168
TOO_MANY_SIMULTANEOUS_QUERIES = 202
MEMORY_LIMIT_EXCEEDED = 241
TOO_MANY_BYTES = 307
TOO_MANY_ROWS_OR_BYTES = 396
RESULT_CODES = frozenset({TOO_MANY_ROWS, TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES})
#: What 18.16 (and a current server) says when the text is longer than max_query_size.
QUERY_SIZE_WORDS = "Max query size exceeded"
#: How to make a query that read or held too much smaller: the tables' partition and sorting keys
#: (docs/clickhouse.md) and the per-deal table, which has one row per deal instead of every fill.
NARROW_READ = (
    "narrow it: WHERE ts >= '...' (tables are partitioned by month of ts) or rfq_id = '...' "
    "(the sorting key), or read deal_hedge (one row per deal)"
)
NARROW_MEMORY = (
    "narrow it: fewer groups or rows (WHERE on ts or rfq_id), fewer or shorter columns, "
    "aggregate before a JOIN and put the smaller table on its right"
)


def too_long(size_bytes: int, limits: ReadOnlyLimits) -> str:
    return (
        f"refused: the query is {size_bytes:,} bytes, over max_query_size = "
        f"{limits.max_query_size_bytes:,} bytes (the read-only user's limit)"
    )


def too_nested(levels: int, limits: ReadOnlyLimits) -> str:
    return (
        f"refused before sending: the query nests {levels:,} levels deep (brackets, CASE), over "
        f"max_nesting_levels = {limits.max_nesting_levels} (ClickHouse 18.16 parses deep nesting "
        "in exponential time)"
    )


def timed_out(waited_s: float, limits: ReadOnlyLimits) -> str:
    return (
        f"stopped: no answer within {waited_s:g} s (max_execution_time = {limits.max_execution_time_s} s "
        f"+ {limits.cancel_grace_s:g} s); the query was cancelled on the server; {NARROW_READ}"
    )


def explain_limit(code: int, said: str, size_bytes: int, limits: ReadOnlyLimits) -> str | None:
    """The sentence for a query stopped by one of the limits; None for any other error."""
    if code == SYNTAX_ERROR and QUERY_SIZE_WORDS in said:
        return too_long(size_bytes, limits)
    if code == TOO_DEEP_AST:
        return f"refused: the query's syntax tree is deeper than max_ast_depth = {limits.max_ast_depth} levels"
    if code == TOO_BIG_AST and "expansion" in said:
        return (
            "refused: the query expands (aliases, *) to more than max_expanded_ast_elements = "
            f"{limits.max_expanded_ast_elements:,} syntax elements"
        )
    if code == TOO_BIG_AST:
        return f"refused: the query has more than max_ast_elements = {limits.max_ast_elements:,} syntax elements"
    if code == TIMEOUT_EXCEEDED:
        return (
            f"stopped: the query ran longer than max_execution_time = {limits.max_execution_time_s} s "
            f"(the server cancelled it); {NARROW_READ}"
        )
    if code in RESULT_CODES:
        limit = (
            f"max_result_bytes = {limits.max_result_bytes:,} bytes"
            if "max bytes" in said
            else f"max_result_rows = {limits.max_result_rows:,} rows"
        )
        return f"stopped: the result is bigger than {limit}; add a LIMIT or aggregate"
    if code == MEMORY_LIMIT_EXCEEDED:
        limit = (
            f"max_memory_usage_for_user = {limits.max_memory_usage_for_user_bytes:,} bytes, all of "
            "otcdesk_ro's queries together"
            if "(for user)" in said
            else f"max_memory_usage = {limits.max_memory_usage_bytes:,} bytes"
            if "(for query)" in said
            else "the server's total memory limit"
        )
        return f"stopped: the query needed more memory than {limit}; {NARROW_MEMORY}"
    if code == TOO_MANY_SIMULTANEOUS_QUERIES and "for user" in said:
        return (
            f"refused: otcdesk_ro already runs max_concurrent_queries_for_user = "
            f"{limits.max_concurrent_queries_for_user} queries; try again when one has finished"
        )
    return None
