"""The ClickHouse DDL on the current engine (chDB, in-process): every migration runs, every table
mirrors the newest Avro schema of its event, dedup by event_id works with FINAL, and the migrator
is idempotent and refuses edited history. tests/integration/test_db.py runs the same on 18.16."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from otcdesk.db import rows
from otcdesk.db.migrate import (
    MIGRATIONS_DIR,
    ChecksumMismatchError,
    MigrationError,
    applied_migrations,
    check_database_name,
    load_migrations,
    migrate,
    split_statements,
)
from otcdesk.db.runner import ChdbRunner, SqlRunner
from otcdesk.events import EVENT_TYPES, DeadLetter, Event
from otcdesk.serde import SCHEMA_ROOT
from tests.samples import sample_events

REPO = Path(__file__).resolve().parents[2]
AVRO_DIR = SCHEMA_ROOT
DOCS = REPO / "docs" / "clickhouse.md"
#: Columns every table adds after the event's own fields, with their types.
TAIL = {
    "ts": "DateTime('UTC')",
    "_topic": "LowCardinality(String)",
    "_partition": "Int32",
    "_offset": "Int64",
    "inserted_at": "DateTime('UTC')",
}
_PRIMITIVES = {"string": "String", "bytes": "String", "int": "Int32", "long": "Int64"}


# -- the Avro -> ClickHouse rule, written independently of the DDL ----------------------------


def newest_schema(schema_dir: str) -> dict[str, Any]:
    files = sorted((AVRO_DIR / schema_dir).glob("v*.avsc"), key=lambda p: int(p.stem[1:]))
    return json.loads(files[-1].read_text())


def _ch_type(avro: Any, named: dict[str, Any]) -> str:
    if isinstance(avro, list):
        (inner,) = [t for t in avro if t != "null"]
        inner_type = _ch_type(inner, named)
        if inner_type.startswith("LowCardinality("):  # ClickHouse nests them the other way round
            return f"LowCardinality(Nullable({inner_type[len('LowCardinality(') : -1]}))"
        return f"Nullable({inner_type})"
    if isinstance(avro, str):
        return _PRIMITIVES.get(avro) or _ch_type(named[avro.split(".")[-1]], named)
    if avro.get("logicalType") == "decimal":
        return f"Decimal({avro['precision']}, {avro['scale']})"
    if avro["type"] == "enum":
        named[avro["name"]] = avro
        return "LowCardinality(String)"
    if avro["type"] == "array":
        return f"Array({_ch_type(avro['items'], named)})"
    return _ch_type(avro["type"], named)


def _record_of_array(avro: Any, named: dict[str, Any]) -> dict[str, Any] | None:
    """The record an `array<record>` field holds (registering it), else None."""
    if not (isinstance(avro, dict) and avro.get("type") == "array"):
        return None
    items = avro["items"]
    if isinstance(items, str):
        items = named.get(items.split(".")[-1], items)
    if isinstance(items, dict) and items.get("type") == "record":
        named[items["name"]] = items
        return items
    return None


def expected_columns(schema: dict[str, Any]) -> dict[str, str]:
    """Column -> type the table must have for this Avro record (Nested for arrays of records)."""
    named: dict[str, Any] = {}
    out: dict[str, str] = {}
    for field in schema["fields"]:
        record = _record_of_array(field["type"], named)
        if record is None:
            out[field["name"]] = _ch_type(field["type"], named)
            continue
        for sub in record["fields"]:
            out[f"{field['name']}.{sub['name']}"] = f"Array({_ch_type(sub['type'], named)})"
    return out


def table_columns(runner: SqlRunner, database: str, table: str) -> list[tuple[str, str, str]]:
    """(name, type, default_kind) in table order; system.columns has the same shape on 18.16."""
    return [
        (str(n), str(t), str(k))
        for n, t, k in runner.query(
            f"SELECT name, type, default_kind FROM system.columns WHERE database = '{database}' AND table = '{table}'"
        )
    ]


def doc_queries() -> list[str]:
    """The ```sql examples of docs/clickhouse.md, which must run on both engines."""
    return re.findall(r"```sql\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)


def run_doc_query(runner: SqlRunner, database: str, sql: str) -> list[tuple[Any, ...]]:
    return runner.query(sql.replace("otcdesk.", f"{database}."))


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chdb() -> Iterator[ChdbRunner]:
    runner = ChdbRunner.in_memory()
    yield runner
    runner.close()


def fresh_database(runner: SqlRunner, prefix: str) -> str:
    return check_database_name(f"{prefix}_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def db(chdb: ChdbRunner) -> Iterator[str]:
    name = fresh_database(chdb, "unit")
    migrate(chdb, name)
    yield name
    chdb.execute(f"DROP DATABASE IF EXISTS {name}")


def _ids(cls: type[Event]) -> str:
    return cls.__name__


# -- migrations files ---------------------------------------------------------------------------


def test_migrations_are_numbered_in_order_and_start_with_init() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert migrations[0].filename == "0001_init.sql"
    assert all(len(m.checksum) == 64 for m in migrations)


def test_split_ignores_semicolons_in_comments_and_strings() -> None:
    sql = "-- a; comment\nCREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory;\n-- only a comment;\n SELECT 1 ;"
    assert split_statements(sql) == ["CREATE TABLE a (s String DEFAULT 'x;y') ENGINE = Memory", "SELECT 1"]


def test_database_placeholder_is_substituted_and_validated() -> None:
    (init, *_rest) = load_migrations()
    statements = init.statements("desk_x")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS desk_x"
    assert all("{db}" not in s for s in statements)
    with pytest.raises(MigrationError, match="plain identifier"):
        check_database_name("desk; DROP DATABASE otcdesk")


def test_misnamed_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNNN_lower_snake"):
        load_migrations(tmp_path)


# -- the tables mirror the Avro contract --------------------------------------------------------


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=_ids)
def test_table_mirrors_the_newest_avro_schema(chdb: ChdbRunner, db: str, cls: type[Event]) -> None:
    actual = {name: ch_type for name, ch_type, _ in table_columns(chdb, db, rows.table_of(cls))}
    tail = {name: actual.pop(name, None) for name in TAIL}
    assert actual == expected_columns(newest_schema(cls.SCHEMA))
    assert tail == TAIL


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=_ids)
def test_row_columns_are_the_insertable_columns_in_table_order(chdb: ChdbRunner, db: str, cls: type[Event]) -> None:
    insertable = [
        n for n, _, kind in table_columns(chdb, db, rows.table_of(cls)) if kind != "MATERIALIZED" and n != "inserted_at"
    ]
    assert list(rows.columns(cls)) == insertable


@pytest.mark.parametrize("cls", EVENT_TYPES, ids=_ids)
def test_tables_dedup_by_event_id_within_a_month(chdb: ChdbRunner, db: str, cls: type[Event]) -> None:
    ((engine, sorting_key, partition_key),) = chdb.query(
        "SELECT engine, sorting_key, partition_key FROM system.tables"
        f" WHERE database = '{db}' AND name = '{rows.table_of(cls)}'"
    )
    assert engine == "ReplacingMergeTree"
    assert sorting_key.replace(" ", "").split(",")[-1] == "event_id"
    assert partition_key == "toYYYYMM(ts)"


# -- behaviour on the current engine ------------------------------------------------------------


def _insert(runner: SqlRunner, db: str, event: Event, provenance: rows.Provenance | None = None) -> None:
    cls = type(event)
    runner.insert(f"{db}.{rows.table_of(cls)}", rows.columns(cls), [rows.to_row(event, provenance)])


def _unicode_unsafe(event: Event) -> Event:
    """Dead letters carry arbitrary bytes; make them invalid UTF-8 with quotes and backslashes."""
    if isinstance(event, DeadLetter):
        return replace(event, raw_value=b"\xc3\x01\xff\x00'\\\n", source_key=b"\xfe")
    return event


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.SCHEMA)
def test_same_event_twice_counts_once_with_final(chdb: ChdbRunner, db: str, event: Event) -> None:
    table = f"{db}.{rows.table_of(type(event))}"
    _insert(chdb, db, event, rows.Provenance(event.TOPIC, 0, 10))
    _insert(chdb, db, event, rows.Provenance(event.TOPIC, 0, 11))  # redelivered after a crash
    assert chdb.query(f"SELECT count() FROM {table}") == [(2,)]  # two parts until a merge
    assert chdb.query(f"SELECT count() FROM {table} FINAL") == [(1,)]
    assert chdb.query(f"SELECT argMax(_offset, inserted_at) FROM {table}") in ([(10,)], [(11,)])
    chdb.execute(f"OPTIMIZE TABLE {table} FINAL")
    assert chdb.query(f"SELECT count() FROM {table}") == [(1,)]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.SCHEMA)
def test_every_event_round_trips_with_exact_decimals(chdb: ChdbRunner, db: str, event: Event) -> None:
    event = _unicode_unsafe(event)
    cls = type(event)
    _insert(chdb, db, event)
    (row,) = chdb.query(rows.select_sql(cls, db, where=f"event_id = '{event.event_id}'"))
    assert rows.from_row(cls, row) == event
    ((ts_us, ts),) = chdb.query(f"SELECT ts_us, toUnixTimestamp(ts) FROM {db}.{rows.table_of(cls)}")
    assert ts == ts_us // 1_000_000


def test_columnar_batch_is_the_rows_transposed() -> None:
    events = [e for e in sample_events() if e.SCHEMA == "rfq"] * 2
    columns = rows.to_columns(events)
    assert len(columns) == len(rows.columns(type(events[0])))
    assert [tuple(c[0] for c in columns)] == [rows.to_row(events[0])]


# -- the migrator -------------------------------------------------------------------------------


def test_migrate_twice_is_a_noop(chdb: ChdbRunner, db: str) -> None:
    before = table_columns(chdb, db, "rfq")
    again = migrate(chdb, db)
    assert {o.status for o in again} == {"skipped"}
    assert table_columns(chdb, db, "rfq") == before
    recorded = chdb.query(f"SELECT version FROM {db}.schema_migrations ORDER BY version")
    assert [v for (v,) in recorded] == [m.version for m in load_migrations()]


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "clickhouse"
    shutil.copytree(MIGRATIONS_DIR, target)
    return target


def test_edited_applied_migration_is_refused(chdb: ChdbRunner, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    name = fresh_database(chdb, "unit_edit")
    migrate(chdb, name, load_migrations(directory))
    init = directory / "0001_init.sql"
    init.write_text(init.read_text() + "\n-- a harmless-looking edit\n")
    with pytest.raises(ChecksumMismatchError, match=r"0001_init\.sql changed after it was applied"):
        migrate(chdb, name, load_migrations(directory))
    chdb.execute(f"DROP DATABASE {name}")


def test_database_newer_than_the_checkout_is_refused(chdb: ChdbRunner, db: str) -> None:
    (init, *_newer) = load_migrations()
    with pytest.raises(MigrationError, match="applied by a newer otcdesk"):
        migrate(chdb, db, [init])


def test_failed_migration_is_not_recorded_and_reruns_once_fixed(chdb: ChdbRunner, tmp_path: Path) -> None:
    directory = _copy_migrations(tmp_path)
    bad = directory / "0900_broken.sql"
    bad.write_text("CREATE TABLE IF NOT EXISTS {db}.extra (a Int8) ENGINE = NoSuchEngine;\n")
    name = fresh_database(chdb, "unit_fail")
    with pytest.raises(MigrationError, match=r"0900_broken.sql statement 1/1 failed"):
        migrate(chdb, name, load_migrations(directory))
    assert 900 not in {a.version for a in applied_migrations(chdb, name)}
    bad.write_text("CREATE TABLE IF NOT EXISTS {db}.extra (a Int8) ENGINE = Memory;\n")
    outcomes = migrate(chdb, name, load_migrations(directory))
    assert [(o.version, o.status) for o in outcomes][-1] == (900, "applied")
    chdb.execute(f"DROP DATABASE {name}")


# -- the documented queries ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def deal(chdb: ChdbRunner) -> Iterator[str]:
    """A database holding the sample deal, for the documented analytics queries."""
    name = fresh_database(chdb, "unit_docs")
    migrate(chdb, name)
    for event in sample_events():
        _insert(chdb, name, event)
    yield name
    chdb.execute(f"DROP DATABASE {name}")


@pytest.mark.parametrize("sql", doc_queries(), ids=lambda q: q.split("FROM otcdesk.")[1].split()[0])
def test_documented_query_runs_on_the_current_engine(chdb: ChdbRunner, deal: str, sql: str) -> None:
    assert run_doc_query(chdb, deal, sql)
