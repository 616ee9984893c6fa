"""Money through the sink into ClickHouse 18.16, to the last digit.

The sink sends Decimal columns as the unscaled ints Avro carries (consumers/sink_native.py). Every
Decimal field of every event type (scales 12, 10, 8 and 6, Nullable and Nested ones included) gets
edge values - zero, the smallest step either side of it, the largest magnitude the precision holds
either side - and is stored by the real sink loop (a fake consumer feeding the encoded records,
the real ClickHouse writer) once through the generated decoder and once through the reference
decode; the stored rows must read back as the very events Avro decodes. The scratch database
keeps the event tables only (see `database`)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from consumers.sink import Sink, SinkOptions
from consumers.sink_writer import ClickHouseWriter
from otcdesk.db import client, rows
from otcdesk.db.migrate import migrate
from otcdesk.db.runner import DriverRunner
from otcdesk.events import Event
from otcdesk.serde import default_serde
from otcdesk.settings import Settings
from tests.samples import sample_events
from tests.unit.test_sink import FakeClock, FakeConsumer, FakeEnds, FakeMessage, FakeProducer

pytestmark = pytest.mark.integration

SERDE = default_serde()


def _decimal_types(schema: Any, names: dict[str, Any]) -> dict[str, Any]:
    """field name -> (precision, scale) of every decimal field of a record schema (unions too), or
    for an array of records, the same mapping of the record's fields."""
    found: dict[str, Any] = {}
    for field in schema["fields"]:
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            branch = names.get(branch, branch) if isinstance(branch, str) else branch
            if isinstance(branch, dict) and branch.get("logicalType") == "decimal":
                found[field["name"]] = (int(branch["precision"]), int(branch.get("scale", 0)))
            elif isinstance(branch, dict) and branch.get("type") == "array":
                items = branch["items"]
                items = names.get(items, items) if isinstance(items, str) else items
                if isinstance(items, dict) and "name" in items:
                    names[items["name"]] = items
                if isinstance(items, dict) and items.get("type") == "record":
                    nested = _decimal_types(items, names)
                    if nested:
                        found[field["name"]] = nested
            elif isinstance(branch, dict) and "name" in branch:
                names[branch["name"]] = branch
    return found


def _edge(precision: int, scale: int, k: int) -> Decimal:
    step = Decimal(1).scaleb(-scale)
    top = Decimal(10**precision - 1).scaleb(-scale)
    return [Decimal(0).scaleb(-scale), step, -step, top, -top][k % 5]


def _with_edges(obj: Any, types: dict[str, Any], k: int) -> Any:
    changes = {}
    for name, kind in types.items():
        value = getattr(obj, name)
        if isinstance(kind, dict):
            changes[name] = tuple(_with_edges(v, kind, k + i) for i, v in enumerate(value))
        else:
            changes[name] = _edge(*kind, k)
    return dataclasses.replace(obj, **changes)


def _edge_events(tag: str) -> list[Event]:
    out: list[Event] = []
    for event in sample_events():
        raw = json.loads(SERDE.catalog.latest(event.SCHEMA).path.read_text())
        types = _decimal_types(raw, {})
        for k in range(5 if types else 1):
            out.append(_with_edges(dataclasses.replace(event, event_id=f"it-{tag}-{event.event_id}-{k}"), types, k))
    return out


@pytest.fixture
def database(stack: Settings) -> Iterator[tuple[DriverRunner, str]]:
    runner = client.admin(stack)
    name = f"otcdesk_it_sinkdec_{uuid.uuid4().hex[:10]}"
    migrate(runner, name)
    # The per-deal views multiply and sum what the sink stores; products of edge values overflow
    # their Decimal arithmetic (as they would from any writer): only the event tables here.
    for (view,) in runner.query(
        f"SELECT name FROM system.tables WHERE database = '{name}' AND engine = 'MaterializedView'"
    ):
        runner.execute(f"DROP TABLE {name}.`{view}`")
    try:
        yield runner, name
    finally:
        runner.execute(f"DROP DATABASE IF EXISTS {name}")
        runner.close()


@pytest.mark.parametrize("path", ["generated decoder", "reference decode"])
def test_edge_decimals_are_stored_to_the_last_digit(
    stack: Settings, database: tuple[DriverRunner, str], path: str
) -> None:
    ch, db = database
    events = _edge_events(uuid.uuid4().hex[:8])
    assert sum(1 for e in events for f in dataclasses.fields(e) if isinstance(getattr(e, f.name), Decimal)) > 100
    messages = [FakeMessage(e.TOPIC, 0, i, SERDE.encode(e)) for i, e in enumerate(events)]
    sink = Sink(
        stack,
        SinkOptions("g", db, max_seconds=20.0),
        consumer=FakeConsumer(messages),
        writer=ClickHouseWriter(stack, db),
        producer=FakeProducer(),
        ends=FakeEnds(),
        clock=FakeClock(),
    )
    if path == "reference decode":
        sink.decoders = {}  # every record the reference way: Decimals converted to unscaled ints on the way in
    assert sink.scales  # the Decimal columns travel as unscaled ints
    summary = sink.run()
    assert summary.total_rows == len(events) and summary.dead_letters == 0
    for event in events:
        cls = type(event)
        (row,) = ch.query(rows.select_sql(cls, db, where=f"event_id = '{event.event_id}'"))
        stored = rows.from_row(cls, row)
        assert stored == SERDE.decode(SERDE.encode(event)) == event
        for field in dataclasses.fields(cls):
            value = getattr(stored, field.name)
            if isinstance(value, Decimal):  # same value, digit for digit (no float anywhere on the way)
                assert value == getattr(event, field.name)


def test_a_retried_insert_sends_the_same_values(stack: Settings, database: tuple[DriverRunner, str]) -> None:
    """The writer copies what the driver may overwrite (a NULL becomes 0 in the list it writes):
    the same columns inserted twice, as after a failed attempt, store the same rows twice."""
    ch, db = database
    events = _edge_events(uuid.uuid4().hex[:8])  # NULLs in Decimal, String and Int columns among them
    sink = Sink(
        stack,
        SinkOptions("g", db, max_seconds=5.0),
        consumer=FakeConsumer([]),
        writer=ClickHouseWriter(stack, db),
        producer=FakeProducer(),
        ends=FakeEnds(),
        clock=FakeClock(),
    )
    sink._take_all([FakeMessage(e.TOPIC, 0, i, SERDE.encode(e)) for i, e in enumerate(events)])
    writer = ClickHouseWriter(stack, db)
    for cls, table in sink.batch.rows.items():
        writer.insert(cls, table)
        writer.insert(cls, table)
    for event in events:
        stored = ch.query(rows.select_sql(type(event), db, where=f"event_id = '{event.event_id}'", final=False))
        assert (
            len(stored) == 2 and rows.from_row(type(event), stored[0]) == rows.from_row(type(event), stored[1]) == event
        )
