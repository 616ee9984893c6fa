"""Column-wise inserts into ClickHouse for the sink, with the one distinction its loop needs:
retry (server down, overloaded) or stop (the statement itself is wrong).

`DriverRunner.insert` sends rows; the sink already holds its batch as columns per table and
clickhouse-driver's `columnar=True` takes them as they are (no row-to-column pass; the driver
writes into copies of the columns, so a retried insert sends the same untouched values), so the
sink talks to the driver directly here and maps its exceptions the way `otcdesk.db.runner` does.
Decimal columns held as unscaled ints go as `UnscaledColumns` to a `SinkClient`, which writes them
itself (consumers/sink_native.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError, NetworkError, ServerException, SocketTimeoutError

from consumers.sink_batch import Batch, Row, TableColumns, transpose
from consumers.sink_native import UnscaledColumns, sink_client
from otcdesk.db import client as db_client
from otcdesk.db.rows import insert_sql
from otcdesk.db.runner import QueryError, first_line
from otcdesk.errors import TransientError
from otcdesk.events import Event
from otcdesk.settings import Settings

#: Server errors that go away on their own: TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES,
#: MEMORY_LIMIT_EXCEEDED, TOO_MANY_PARTS (merges behind: wait, as ClickHouse itself advises).
RETRYABLE_SERVER_CODES = frozenset({159, 202, 241, 252})
_NETWORK = (NetworkError, SocketTimeoutError, EOFError, OSError)


class EventWriter(Protocol):
    """What the sink needs from the event log (a fake in the unit tests)."""

    def check(self) -> None:
        """Fail fast on a permanent problem (missing database); tolerate a server that is down."""
        ...

    def insert(self, cls: type[Event], rows: TableColumns | Sequence[Row]) -> None:
        """Store rows of one event type; TransientError = retry later, QueryError = give up."""
        ...


class ClickHouseWriter:
    """clickhouse-driver native protocol, one connection, reconnecting on the next call."""

    def __init__(self, settings: Settings, database: str) -> None:
        self.endpoint = db_client.endpoint(settings)
        self.database = database
        # The client's default database stays the endpoint's: the sink's may not exist yet
        # when the sink starts, and every statement names its table fully qualified anyway.
        self.client: Client = sink_client(self.endpoint, database=db_client.ADMIN_DATABASE)

    @property
    def address(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def check(self) -> None:
        try:
            exists = self._call(f"EXISTS TABLE {self.database}.dlq")[0][0]
        except TransientError:
            return  # down now: the insert loop waits for it, logging each attempt
        if not exists:
            raise QueryError(f"no event log in database {self.database!r}: run `otcdesk db migrate`")

    def insert(self, cls: type[Event], rows: TableColumns | Sequence[Row]) -> None:
        if isinstance(rows, TableColumns):
            columns = UnscaledColumns(rows.columns, rows.scales) if rows.scales else rows.columns
        else:
            columns = transpose(list(rows))
        self._call(insert_sql(cls, self.database), columns, columnar=True)

    def _call(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        try:
            return self.client.execute(sql, params, **kwargs)
        except _NETWORK as exc:
            self.client.disconnect()
            raise TransientError(f"ClickHouse at {self.address} is not answering ({first_line(exc)})") from exc
        except ServerException as exc:
            if exc.code in RETRYABLE_SERVER_CODES:
                raise TransientError(f"ClickHouse at {self.address} is busy: {first_line(exc)}") from exc
            raise QueryError(f"ClickHouse refused: {first_line(exc)}") from exc
        except DriverError as exc:
            raise QueryError(f"clickhouse-driver: {first_line(exc)}") from exc


class StoreJob:
    """One batch's inserts, one attempt, on a background thread: the sink consumes and decodes the
    next batch meanwhile (the driver releases the GIL while the server parses and writes the block).

    It never retries, pauses or commits: the sink settles it on its own thread, committing after a
    success and running its usual retry loop over the tables still `pending()` after a failure."""

    def __init__(self, writer: EventWriter, batch: Batch, clock: Callable[[], float]) -> None:
        self.writer = writer
        self.batch = batch
        self.clock = clock
        self.stored: list[type[Event]] = []
        self.error: Exception | None = None
        self.acked_at: float | None = None
        self.thread = threading.Thread(target=self._run, name="sink-insert", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            for cls, rows in self.batch.rows.items():
                if rows:  # empty: the fast decoder opened the table, then refused its only record
                    self.writer.insert(cls, rows)
                self.stored.append(cls)
            self.acked_at = self.clock()
        except Exception as exc:  # noqa: BLE001 - handed to the sink's thread by wait()
            self.error = exc

    @property
    def finished(self) -> bool:
        return not self.thread.is_alive()  # also true for a job never started

    def wait(self) -> None:
        if self.thread.ident is not None:
            self.thread.join()

    def pending(self) -> dict[type[Event], TableColumns]:
        """The tables not stored yet (after a failed attempt)."""
        return {cls: rows for cls, rows in self.batch.rows.items() if cls not in self.stored}
