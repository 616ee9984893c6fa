"""recon_breaks.sql on the real ClickHouse 18.16 server: the same comparisons as
tests/unit/test_recon_sql.py (chDB), on a throwaway database the test creates and drops. The rows
are inserted exactly as the sink writes them (`rows.to_row` with Kafka provenance, the sink's
columnar insert), some twice as after a sink crash."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from consumers.sink_writer import ClickHouseWriter
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.events import Event
from otcdesk.settings import Settings
from tests.recon_session import (
    build_session,
    expected_breaks,
    recon_table_breaks,
    sink_rows,
    sql_breaks,
    without_subjects,
)

pytestmark = pytest.mark.integration

SESSION = build_session()


def sink_insert(settings: Settings, database: str, events: list[Event]) -> None:
    """Through the sink's own writer: the same statement, the same columnar batches."""
    writer = ClickHouseWriter(settings, database)
    for cls, batch in sink_rows(events).items():
        writer.insert(cls, batch)
    writer.client.disconnect()


@pytest.fixture(scope="module")
def db(stack: Settings, server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_recon_{uuid.uuid4().hex[:8]}"
    migrate(server, name)
    sink_insert(stack, name, SESSION.event_log())
    yield name
    server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_copies_are_really_stored_twice(server: DriverRunner, db: str) -> None:
    raw = server.query(f"SELECT count() FROM {db}.fills")[0][0]
    final = server.query(f"SELECT count() FROM {db}.fills FINAL")[0][0]
    assert raw > final  # FINAL (in the query) is what makes the answers exact


def test_sql_equals_stream_at_each_deals_latest_event(server: DriverRunner, db: str) -> None:
    assert sql_breaks(server, db, SESSION) == expected_breaks(SESSION.stream_results())


def test_sql_equals_stream_past_every_timeout(server: DriverRunner, db: str) -> None:
    late = SESSION.timeout_us
    assert sql_breaks(server, db, SESSION, late) == expected_breaks(SESSION.stream_results(late))


def test_sql_equals_the_recon_tables_latest_results(server: DriverRunner, db: str) -> None:
    assert without_subjects(sql_breaks(server, db, SESSION, SESSION.timeout_us)) == recon_table_breaks(server, db)
