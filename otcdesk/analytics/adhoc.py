"""`otcdesk sql "SELECT ..."`: a person's own query, run as the read-only ClickHouse user.

The safety is the server's, not ours: `otcdesk_ro` has the `readonly` profile (infra/clickhouse/),
so ClickHouse itself refuses INSERT, DDL, OPTIMIZE and even SET, whatever the text, and stops a
query at the profile's limits (otcdesk/db/read_only.py); this module turns the server's error
codes into one readable line that names the limit. What it checks itself is only what the
server cannot (sql_guard: nesting that 18.16 parses in exponential time) and the client's side of
a query that runs too long or is interrupted: Cancel is sent, so the query stops on the server
too (otcdesk/db/cancellable.py). No statement is filtered by its content. Every failure is a
`DeskError`, which the CLI prints as one red line with exit code 2: `UserError` for what the
query did, `TransientError` when the server does not answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clickhouse_driver.errors import Error as DriverError, NetworkError, ServerException, SocketTimeoutError

from otcdesk.analytics import sql_guard
from otcdesk.analytics.limit_errors import explain_limit, timed_out
from otcdesk.db import cancellable, client
from otcdesk.db.read_only import ReadOnlyLimits
from otcdesk.db.runner import first_line
from otcdesk.errors import TransientError, UserError
from otcdesk.settings import Settings

#: ClickHouse error codes (ErrorCodes.cpp) that deserve more than the server's own words.
READONLY = 164
SYNTAX_ERROR = 62
UNKNOWN_DATABASE = 81
LOGIN_CODES = frozenset({192, 193, 195, 516})  # unknown user, wrong password, address not allowed, auth failed
#: A longer server message is cut: the CLI's error is one line, and rich breaks lines at the
#: terminal's width (18.16 lists every token it expected after a syntax error).
MAX_MESSAGE = 120


@dataclass(frozen=True)
class Answer:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def explain(
    code: int, server_message: str, user: str, address: str, size_bytes: int = 0, limits: ReadOnlyLimits | None = None
) -> str:
    """One line for a refused query, by the server's error code."""
    limit = explain_limit(code, server_message, size_bytes, limits or ReadOnlyLimits())
    if limit is not None:
        return limit
    said = server_message.split(" Expected one of:")[0]
    said = said if len(said) <= MAX_MESSAGE else said[:MAX_MESSAGE] + "…"
    if code == READONLY:
        return f"refused (read-only user {user}): {said}"  # short: one line even on an 80-column terminal
    if code == SYNTAX_ERROR:
        return f"bad SQL: {said}"
    if code in LOGIN_CODES:
        return (
            f"ClickHouse at {address} does not let {user} in: {said} (the server's users.xml must"
            " define it, see infra/clickhouse/)"
        )
    if code == UNKNOWN_DATABASE:
        return f"no such database: {said} (--database, or the database of CLICKHOUSE_URL)"
    return f"ClickHouse refused the query: {said}"


def run_sql(settings: Settings, sql: str, database: str | None = None) -> Answer:
    """Rows and column names of `sql`, run as the read-only user."""
    if not sql.strip():
        raise UserError('give a query: otcdesk sql "SELECT count() FROM otcdesk.fills"')
    limits = settings.read_only
    sql_guard.check(sql, limits)
    endpoint = client.endpoint(settings, read_only=True)
    address = f"{endpoint.host}:{endpoint.port}"
    driver = client.client(endpoint, database=database or endpoint.database)
    try:
        rows, types = cancellable.select(driver, sql, limits.max_execution_time_s + limits.cancel_grace_s)
    except cancellable.Stopped as exc:
        if exc.why == "deadline":
            raise UserError(timed_out(round(exc.waited_s, 1), limits)) from None
        done = "the query was cancelled on the server" if exc.cancelled else "the query had already finished"
        raise UserError(f"interrupted ({exc.why}): {done}") from None
    except (NetworkError, SocketTimeoutError, EOFError, OSError) as exc:
        raise TransientError(
            f"ClickHouse at {address} is not answering ({first_line(exc)}); is it running? try `otcdesk stack up`"
        ) from exc
    except ServerException as exc:
        words = _server_words(exc)
        raise UserError(explain(exc.code, words, endpoint.user, address, len(sql.encode()), limits)) from exc
    except DriverError as exc:
        raise UserError(f"clickhouse-driver: {first_line(exc)}") from exc
    finally:
        driver.disconnect()
    return Answer(tuple(name for name, _ in types), [tuple(r) for r in rows])


def _server_words(exc: ServerException) -> str:
    """The message without 'Code: N.', 'DB::Exception:' and the stack trace 18.16 appends."""
    text = first_line(exc)
    for prefix in (f"Code: {exc.code}.", "DB::Exception:"):
        text = text.removeprefix(prefix).strip()
    return text
