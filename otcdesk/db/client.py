"""ClickHouse clients built from the settings: the writer (migrations, sink, reports) and the
read-only user of `otcdesk sql`.

clickhouse-driver connects lazily, so a wrong address would only surface in the middle of a
migration or a sink flush; `connect` pings once so an unreachable server is a `TransientError`
at the door, with the address and the command that starts the local stack.
"""

from __future__ import annotations

import logging

from clickhouse_driver import Client
from pydantic import SecretStr

from otcdesk.db.runner import DriverRunner
from otcdesk.settings import ClickHouseEndpoint, Settings, get_settings

#: The read-only user (readonly=1 profile with the limits of otcdesk/db/read_only.py) of `otcdesk sql`.
READ_ONLY_USER = "otcdesk_ro"
#: Sent with every statement of a report: the server refuses writes whoever the user is.
REPORT_SETTINGS = {"readonly": 1}
#: Database that always exists: migrations connect here, since theirs may not exist yet.
ADMIN_DATABASE = "default"

# clickhouse-driver logs every refused connection with a full traceback; without a handler Python
# prints it to stderr before our one-line TransientError. Applications that configure logging
# still receive the records through the root logger.
logging.getLogger("clickhouse_driver").addHandler(logging.NullHandler())

CONNECT_TIMEOUT_S = 5.0
SEND_RECEIVE_TIMEOUT_S = 60.0


def endpoint(settings: Settings | None = None, *, read_only: bool = False) -> ClickHouseEndpoint:
    """The writer's endpoint from the settings, or the same server as the read-only user
    (passwordless, loopback only on the local stack)."""
    ep = (settings or get_settings()).clickhouse
    if read_only:
        return ep.model_copy(update={"user": READ_ONLY_USER, "password": SecretStr("")})
    return ep


def client(ep: ClickHouseEndpoint, *, database: str | None = None, timeout_s: float = SEND_RECEIVE_TIMEOUT_S) -> Client:
    """A native-protocol client (not yet connected); `database` defaults to the endpoint's, `timeout_s`
    is how long one statement may go without a packet from the server."""
    return Client(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password.get_secret_value(),
        database=database or ep.database,
        connect_timeout=CONNECT_TIMEOUT_S,
        send_receive_timeout=timeout_s,
        client_name="otcdesk",
    )


def connect(
    ep: ClickHouseEndpoint,
    *,
    database: str | None = None,
    query_settings: dict[str, int] | None = None,
    timeout_s: float = SEND_RECEIVE_TIMEOUT_S,
) -> DriverRunner:
    """A connected runner; raises TransientError if the server does not answer, QueryError if
    it refuses (unknown user, missing database)."""
    runner = DriverRunner(client(ep, database=database, timeout_s=timeout_s), query_settings)
    runner.query("SELECT 1")
    return runner


def admin(settings: Settings | None = None, *, timeout_s: float = SEND_RECEIVE_TIMEOUT_S) -> DriverRunner:
    """The writer connected to `default`, for migrations that may create the desk's database (a
    migration that backfills a per-deal table, or `db generate`, waits longer: `timeout_s`)."""
    return connect(endpoint(settings), database=ADMIN_DATABASE, timeout_s=timeout_s)


def writer(settings: Settings | None = None) -> DriverRunner:
    """The writer connected to the desk's database (the ClickHouse sink)."""
    return connect(endpoint(settings))


def reader(settings: Settings | None = None) -> DriverRunner:
    """The read-only user connected to the desk's database (analytics, `db status` for users)."""
    return connect(endpoint(settings, read_only=True))


def report_reader(settings: Settings | None = None, database: str | None = None) -> DriverRunner:
    """`otcdesk report`: the desk's own SQL (recon_breaks alone is 18 KB, and over millions of
    fills runs for minutes), so the writer runs it, with readonly=1 on every statement, outside
    the ad hoc limits of otcdesk_ro."""
    return connect(endpoint(settings), database=database, query_settings=REPORT_SETTINGS)
