"""One tiny interface over the two ClickHouse engines the project must run on.

`DriverRunner` talks to a real server through clickhouse-driver (18.16 locally and on CI, a current
release under docker-compose); `ChdbRunner` runs the current engine in-process through chDB, so
unit tests prove the same SQL on a modern ClickHouse without a server. The migrator, the status
command and the tests only see `SqlRunner`, which keeps engine quirks in this one module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError, NetworkError, ServerException, SocketTimeoutError

from otcdesk.errors import DeskError, TransientError

Row = tuple[Any, ...]

#: LowCardinality is experimental before 19.x; 18.16 refuses it in DDL without this setting, and
#: a current server refuses the setting itself (unknown setting), so it is sent only to old servers.
_LEGACY_DDL_SETTINGS = {"allow_experimental_low_cardinality_type": 1}
_LEGACY_MAJOR = 19


class QueryError(DeskError):
    """ClickHouse refused a statement (syntax, unknown table, bad value): retrying cannot help."""


@dataclass(frozen=True)
class ExternalTable:
    """Rows sent with one query as a temporary table it reads by name (`rfq_id IN name`).

    A server gets them as the native protocol's external data, which a readonly=1 query may read
    (it may not create a table); chDB gets a temporary table of its session for the query."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, ClickHouse type)
    rows: Sequence[Row]


class SqlRunner(Protocol):
    """What the project needs from a ClickHouse engine: statements, reads and row inserts."""

    @property
    def engine(self) -> str:
        """Human label such as 'ClickHouse 18.16.1 at 127.0.0.1:9000' or 'chDB 26.9.2.1'."""
        ...

    def execute(self, sql: str) -> None:
        """Run one statement that returns nothing (DDL, ALTER, OPTIMIZE)."""
        ...

    def query(self, sql: str, external: Sequence[ExternalTable] = ()) -> list[Row]:
        """Run one SELECT, with `external` tables it may read; values come back as Python types
        (Decimal stays Decimal)."""
        ...

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows given in `columns` order into a fully qualified table."""
        ...


def quote_ident(name: str) -> str:
    """Backquote an identifier: Nested columns (`bids.price_quote`) contain a dot."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def first_line(exc: BaseException) -> str:
    """The server's message without the 18.16 stack trace that follows it."""
    text = str(exc).split("Stack trace:", 1)[0]
    return " ".join(text.split())


# -- real server -------------------------------------------------------------------------------


class DriverRunner:
    """A clickhouse-driver `Client` (native protocol) behind `SqlRunner`. `query_settings` go with
    every statement (`{"readonly": 1}`: the server refuses any write through this runner)."""

    def __init__(self, client: Client, query_settings: dict[str, Any] | None = None) -> None:
        self.client = client
        self.query_settings = dict(query_settings or {})
        self._ddl_settings: dict[str, Any] | None = None
        #: rows the server read for this runner's SELECTs so far (its progress packets)
        self.rows_read = 0

    @property
    def engine(self) -> str:
        info = self._server_info()
        version = f"{info.version_major}.{info.version_minor}.{info.version_patch}"
        return f"ClickHouse {version} at {self.address}"

    @property
    def address(self) -> str:
        host, port = self.client.connection.hosts[0]
        return f"{host}:{port}"

    def _server_info(self) -> Any:
        if self.client.connection.server_info is None:
            self._call("SELECT 1")
        return self.client.connection.server_info

    def ddl_settings(self) -> dict[str, Any]:
        """Settings DDL needs on this server version (none on a current one)."""
        if self._ddl_settings is None:
            major = int(self._server_info().version_major)
            self._ddl_settings = dict(_LEGACY_DDL_SETTINGS) if major < _LEGACY_MAJOR else {}
        return self._ddl_settings

    def _call(
        self,
        sql: str,
        params: Any = None,
        settings: dict[str, Any] | None = None,
        external: Sequence[ExternalTable] = (),
    ) -> Any:
        tables = [
            {
                "name": t.name,
                "structure": list(t.columns),
                "data": [dict(zip((c for c, _ in t.columns), row, strict=True)) for row in t.rows],
            }
            for t in external
        ]
        try:
            return self.client.execute(sql, params, settings=settings, external_tables=tables or None)
        except (NetworkError, SocketTimeoutError, EOFError, OSError) as exc:
            raise TransientError(
                f"ClickHouse at {self.address} is not answering ({first_line(exc)});"
                " is it running? try `otcdesk stack up`"
            ) from exc
        except ServerException as exc:
            raise QueryError(f"ClickHouse refused: {first_line(exc)}") from exc
        except DriverError as exc:
            raise QueryError(f"clickhouse-driver: {first_line(exc)}") from exc

    def execute(self, sql: str) -> None:
        self._call(sql, settings=self.ddl_settings() | self.query_settings)  # readonly, if any, last

    def query(self, sql: str, external: Sequence[ExternalTable] = ()) -> list[Row]:
        try:
            return [tuple(r) for r in self._call(sql, settings=self.query_settings or None, external=external)]
        finally:
            last = self.client.last_query
            self.rows_read += last.progress.rows if last is not None else 0

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        cols = ", ".join(quote_ident(c) for c in columns)
        self._call(f"INSERT INTO {table} ({cols}) VALUES", [tuple(r) for r in rows], self.query_settings or None)

    def close(self) -> None:
        self.client.disconnect()


# -- in-process current engine (chDB) -----------------------------------------------------------

_WRAPPERS = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
_INTEGER = re.compile(r"^U?Int(?:8|16|32|64|128|256)$")


def _decode(ch_type: str, value: Any) -> Any:
    """A JSONCompact value as the Python type clickhouse-driver would give (by the column type)."""
    if value is None:
        return None
    while (m := _WRAPPERS.match(ch_type)) is not None:
        ch_type = m.group(1)
    if ch_type.startswith("Array("):
        return [_decode(ch_type[6:-1], v) for v in value]
    if ch_type.startswith("Decimal"):
        return Decimal(value)
    if _INTEGER.match(ch_type):
        return int(value)  # 64-bit integers arrive quoted
    if ch_type.startswith("Float"):
        return float(value)  # parsed as Decimal above so that Decimal columns stay exact
    return value


def _literal(value: Any) -> str:
    """A Python value as a ClickHouse SQL literal; decimals in plain notation keep every digit."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str | bytes):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return "'" + "".join(_escape_byte(b) for b in raw) + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"no ClickHouse literal for {type(value).__name__}")


def _escape_byte(b: int) -> str:
    if b in (0x27, 0x5C):  # ' and \
        return "\\" + chr(b)
    return chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02X}"


class ChdbRunner:
    """A chDB session (current ClickHouse in-process) behind `SqlRunner`; for tests and dev."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @classmethod
    def in_memory(cls) -> ChdbRunner:
        from chdb import session  # test dependency only: imported when asked for

        return cls(session.Session())

    @property
    def engine(self) -> str:
        return f"chDB {self.query('SELECT version()')[0][0]}"

    def _run(self, sql: str, fmt: str) -> Any:
        try:
            return self.session.query(sql, fmt)
        except Exception as exc:  # chDB raises a bare RuntimeError for every server error
            raise QueryError(f"chDB refused: {first_line(exc)}") from exc

    def execute(self, sql: str) -> None:
        self._run(sql, "TabSeparated")

    def query(self, sql: str, external: Sequence[ExternalTable] = ()) -> list[Row]:
        for table in external:
            columns = ", ".join(f"{quote_ident(c)} {t}" for c, t in table.columns)
            self.execute(f"CREATE TEMPORARY TABLE {quote_ident(table.name)} ({columns})")
        try:
            for table in external:
                self.insert(quote_ident(table.name), [c for c, _ in table.columns], table.rows)
            return self._rows(sql)
        finally:
            for table in external:
                self.execute(f"DROP TEMPORARY TABLE IF EXISTS {quote_ident(table.name)}")

    def _rows(self, sql: str) -> list[Row]:
        result = self._run(sql, "JSONCompact")
        text = result.bytes().decode("utf-8", "replace") if result is not None else ""
        if not text.strip():
            return []
        doc = json.loads(text, parse_float=Decimal)
        types = [m["type"] for m in doc["meta"]]
        return [tuple(_decode(t, v) for t, v in zip(types, row, strict=True)) for row in doc["data"]]

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        values = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
        if values:
            cols = ", ".join(quote_ident(c) for c in columns)
            self.execute(f"INSERT INTO {table} ({cols}) VALUES {values}")

    def close(self) -> None:
        self.session.close()
