"""Column-wise inserts into ClickHouse for the sink, with the one distinction its loop needs:
retry (server down, overloaded) or stop (the statement itself is wrong).

`DriverRunner.insert` sends rows; the sink already holds a batch per table and clickhouse-driver's
`columnar=True` skips the driver's own row-to-column pass, so the sink talks to the driver
directly here and maps its exceptions the way `otcdesk.db.runner` does.
"""

from __future__ import annotations

from typing import Any, Protocol

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import NetworkError, ServerException, SocketTimeoutError

from consumers.sink_batch import Row, transpose
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

    def insert(self, cls: type[Event], rows: list[Row]) -> None:
        """Store rows of one event type; TransientError = retry later, QueryError = give up."""
        ...


class ClickHouseWriter:
    """clickhouse-driver native protocol, one connection, reconnecting on the next call."""

    def __init__(self, settings: Settings, database: str) -> None:
        self.endpoint = db_client.endpoint(settings)
        self.database = database
        # The client's default database stays the endpoint's: the sink's may not exist yet
        # when the sink starts, and every statement names its table fully qualified anyway.
        self.client: Client = db_client.client(self.endpoint, database=db_client.ADMIN_DATABASE)

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

    def insert(self, cls: type[Event], rows: list[Row]) -> None:
        self._call(insert_sql(cls, self.database), transpose(rows), columnar=True)

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
