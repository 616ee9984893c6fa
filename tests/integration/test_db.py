"""The ClickHouse event log on the real server at Settings().clickhouse (18.16 locally and on CI):
the same DDL checks as tests/unit/test_ddl.py (which runs them on chDB), plus clickhouse-driver
inserts of every event type, row-wise and columnar, read back with exact Decimals and raw bytes.

Each run migrates its own throwaway database and drops it, so the desk's data is never touched."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from otcdesk.db import client, rows
from otcdesk.db.migrate import ChecksumMismatchError, load_migrations, migrate
from otcdesk.db.runner import DriverRunner, QueryError
from otcdesk.events import EVENT_TYPES, Event
from otcdesk.settings import Settings
from tests.samples import sample_events
from tests.unit.test_ddl import (
    TAIL,
    _copy_migrations,
    _unicode_unsafe,
    doc_queries,
    expected_columns,
    newest_schema,
    run_doc_query,
    table_columns,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


def _drop(runner: DriverRunner, database: str) -> None:
    runner.execute(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def db(server: DriverRunner) -> Iterator[str]:
    name = f"otcdesk_it_{uuid.uuid4().hex[:10]}"
    migrate(server, name)
    yield name
    _drop(server, name)


def _ids(cls: type[Event]) -> str:
    return cls.__name__


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=_ids)
def test_table_mirrors_the_newest_avro_schema(server: DriverRunner, db: str, cls: type[Event]) -> None:
    columns = table_columns(server, db, rows.table_of(cls))
    actual = {name: ch_type for name, ch_type, _ in columns}
    tail = {name: actual.pop(name, None) for name in TAIL}
    assert actual == expected_columns(newest_schema(cls.SCHEMA))
    assert tail == TAIL
    insertable = [n for n, _, kind in columns if kind != "MATERIALIZED" and n != "inserted_at"]
    assert list(rows.columns(cls)) == insertable


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.SCHEMA)
def test_same_event_twice_counts_once_with_final(server: DriverRunner, db: str, event: Event) -> None:
    event = _unicode_unsafe(event)
    cls = type(event)
    table = f"{db}.{rows.table_of(cls)}"
    marked = f"dedup-{event.event_id}"
    copy = _renamed(event, marked)
    for offset in (10, 11):  # the sink redelivers the same record after a crash
        row = rows.to_row(copy, rows.Provenance(event.TOPIC, 0, offset))
        server.client.execute(rows.insert_sql(cls, db), [row])
    where = f"event_id = '{marked}'"
    assert server.query(f"SELECT count() FROM {table} WHERE {where}") == [(2,)]
    assert server.query(f"SELECT count() FROM {table} FINAL WHERE {where}") == [(1,)]
    server.execute(f"OPTIMIZE TABLE {table} FINAL")
    assert server.query(f"SELECT count() FROM {table} WHERE {where}") == [(1,)]


def _renamed(event: Event, event_id: str) -> Event:
    return replace(event, event_id=event_id)


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.SCHEMA)
def test_every_event_round_trips_with_exact_decimals(server: DriverRunner, db: str, event: Event) -> None:
    event = _renamed(_unicode_unsafe(event), f"rt-{event.event_id}")
    cls = type(event)
    row = rows.to_row(event, rows.Provenance(event.TOPIC, 2, 7))
    server.client.execute(rows.insert_sql(cls, db), [row])
    (row,) = server.query(rows.select_sql(cls, db, where=f"event_id = '{event.event_id}'"))
    assert rows.from_row(cls, row) == event
    ((topic, partition, offset, ts),) = server.query(
        f"SELECT _topic, _partition, _offset, toUnixTimestamp(ts) FROM {db}.{rows.table_of(cls)}"
        f" WHERE event_id = '{event.event_id}'"
    )
    assert (topic, partition, offset, ts) == (event.TOPIC, 2, 7, event.ts_us // 1_000_000)


def test_columnar_batch_of_every_type_reads_back_equal(server: DriverRunner, db: str) -> None:
    for event in sample_events():
        event = _renamed(_unicode_unsafe(event), f"col-{event.event_id}")
        cls = type(event)
        server.client.execute(rows.insert_sql(cls, db), rows.to_columns([event]), columnar=True)
        (row,) = server.query(rows.select_sql(cls, db, where=f"event_id = '{event.event_id}'"))
        assert rows.from_row(cls, row) == event


def test_migrate_twice_is_a_noop(server: DriverRunner, db: str) -> None:
    assert {o.status for o in migrate(server, db)} == {"skipped"}
    recorded = server.query(f"SELECT version FROM {db}.schema_migrations ORDER BY version")
    assert [v for (v,) in recorded] == [m.version for m in load_migrations()]


def test_edited_applied_migration_is_refused(server: DriverRunner, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    name = f"otcdesk_it_edit_{uuid.uuid4().hex[:8]}"
    try:
        migrate(server, name, load_migrations(directory))
        init = directory / "0001_init.sql"
        init.write_text(init.read_text() + "\n-- edited\n")
        with pytest.raises(ChecksumMismatchError, match=r"0001_init\.sql changed"):
            migrate(server, name, load_migrations(directory))
    finally:
        _drop(server, name)


def test_read_only_user_reads_but_cannot_write(settings: Settings, server: DriverRunner, db: str) -> None:
    reader = client.connect(client.endpoint(settings, read_only=True), database=db)
    try:
        assert reader.query("SELECT count() FROM rfq") is not None
        event = sample_events()[0]
        with pytest.raises(QueryError, match=r"(?i)readonly"):
            reader.insert(f"{db}.rfq", rows.columns(type(event)), [rows.to_row(event)])
    finally:
        reader.close()


@pytest.fixture(scope="module")
def deal(server: DriverRunner) -> Iterator[str]:
    """A database holding only the sample deal, for the documented analytics queries."""
    name = f"otcdesk_it_docs_{uuid.uuid4().hex[:8]}"
    migrate(server, name)
    for event in sample_events():
        server.client.execute(rows.insert_sql(type(event), name), [rows.to_row(event)])
    yield name
    _drop(server, name)


@pytest.mark.parametrize("sql", doc_queries(), ids=lambda q: q.split("FROM otcdesk.")[1].split()[0])
def test_documented_query_runs_on_the_server(server: DriverRunner, deal: str, sql: str) -> None:
    assert run_doc_query(server, deal, sql)
