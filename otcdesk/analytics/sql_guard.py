"""What `otcdesk sql` refuses before sending a query: too long, or nested too deep.

The server refuses an over-long query itself (max_query_size), so the size check only saves a
round trip. The nesting check is the CLI's own: ClickHouse 18.16's parser backtracks on nested
constructs, and some take time exponential in their depth (measured, unterminated:
`CAST(` 20 deep 6 s, `CASE WHEN 1 THEN ` 20 deep 4.5 s, 30 deep not done after hours; `(` is
polynomial: 4,000 deep 19 s), during which no server limit applies and the query cannot be
killed. The desk's own deepest query (recon_breaks) nests 10 levels.

Nesting counts `(`, `[` and `CASE` (closed by `)`, `]`, `END`) outside string literals, quoted
identifiers and comments.
"""

from __future__ import annotations

import re

from otcdesk.analytics.limit_errors import too_long, too_nested
from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.errors import UserError

_WORD = re.compile(r"\w+")


def check(sql: str, limits: ReadOnlyLimits) -> None:
    """UserError naming the limit when the query exceeds one the CLI checks."""
    size = len(sql.encode())
    if size > limits.max_query_size_bytes:
        raise UserError(too_long(size, limits))
    levels = nesting_levels(sql)
    if levels > limits.max_nesting_levels:
        raise UserError(too_nested(levels, limits))


def nesting_levels(sql: str) -> int:
    """The deepest nesting of brackets and CASE ... END in the text."""
    depth = deepest = 0
    i, end = 0, len(sql)
    while i < end:
        char = sql[i]
        if char in "'\"`":
            i = _after_quoted(sql, i)
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = end if newline < 0 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            i = end if close < 0 else close + 2
        elif char.isalpha() or char == "_":
            word = _WORD.match(sql, i)
            assert word is not None  # a letter or _ starts a word
            name = word.group().upper()
            depth += 1 if name == "CASE" else -1 if name == "END" and depth else 0
            i = word.end()
        else:
            depth += 1 if char in "([" else -1 if char in ")]" and depth else 0
            i += 1
        deepest = max(deepest, depth)
    return deepest


def _after_quoted(sql: str, start: int) -> int:
    """Index after the literal or quoted identifier opening at `start` (backslash escapes and
    doubled quotes, as ClickHouse reads them); the end of the text if it is never closed."""
    quote, i = sql[start], start + 1
    while i < len(sql):
        if sql[i] == "\\" or (sql[i] == quote and sql.startswith(quote * 2, i)):
            i += 2
        elif sql[i] == quote:
            return i + 1
        else:
            i += 1
    return len(sql)
