"""Typed events <-> ClickHouse rows, with the column lists derived from the event dataclasses.

The tables mirror the Avro schemas field for field (tests/unit/test_ddl.py proves it), and the
dataclasses in otcdesk.events mirror the same schemas, so the columns are computed here instead of
written a third time: a field is a column, except a tuple of records, which is a ClickHouse
`Nested` stored as one array column per record field (`bids.price_quote`, `bids.qty_base`).
The only hand-written part is which table each event type goes to.
"""

from __future__ import annotations

import dataclasses
import operator
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from otcdesk.db.runner import quote_ident
from otcdesk.events import (
    DeadLetter,
    Event,
    Fill,
    HedgeOrder,
    PriceUpdate,
    Quote,
    QuoteRejected,
    QuoteResponse,
    ReconResult,
    Rfq,
    RfqPriced,
    SettlementUpdated,
    TradeBooked,
    cache_per_class,
    from_avro,
)

#: Event type -> table. Not the topic: `quotes` carries three event types with different fields.
TABLES: Mapping[type[Event], str] = {
    Rfq: "rfq",
    PriceUpdate: "prices",
    RfqPriced: "priced_rfqs",
    Quote: "quotes",
    QuoteRejected: "quote_rejects",
    QuoteResponse: "quote_responses",
    TradeBooked: "trades",
    HedgeOrder: "orders",
    Fill: "fills",
    SettlementUpdated: "settlements",
    ReconResult: "recon",
    DeadLetter: "dlq",
}
#: Kafka provenance columns every table has after the event's own fields.
PROVENANCE_COLUMNS = ("_topic", "_partition", "_offset")


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where the sink read an event; an event written from elsewhere has none ('' / -1 / -1)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1


@dataclass(frozen=True, slots=True)
class Field:
    """One dataclass field and the column(s) it becomes."""

    name: str
    record: type | None  # the nested dataclass when the field is a tuple of records (Nested)
    is_bytes: bool

    @property
    def columns(self) -> tuple[str, ...]:
        if self.record is None:
            return (self.name,)
        return tuple(f"{self.name}.{sub.name}" for sub in dataclasses.fields(self.record))


def _nested_record(hint: Any) -> type | None:
    """The record type of `tuple[Record, ...]`, else None (scalars, tuples of enums)."""
    if typing.get_origin(hint) is tuple:
        (item, *_rest) = typing.get_args(hint)
        if dataclasses.is_dataclass(item) and isinstance(item, type):
            return item
    return None


def _is_bytes(hint: Any) -> bool:
    return hint is bytes or bytes in typing.get_args(hint)


@cache_per_class
def event_fields(cls: type[Event]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        Field(f.name, _nested_record(hints[f.name]), _is_bytes(hints[f.name])) for f in dataclasses.fields(cls)
    )


def table_of(cls: type[Event]) -> str:
    return TABLES[cls]


def data_columns(cls: type[Event]) -> tuple[str, ...]:
    """The event's own columns, in Avro field order."""
    return tuple(c for f in event_fields(cls) for c in f.columns)


def columns(cls: type[Event]) -> tuple[str, ...]:
    """Every column an insert sends: the event's, then the provenance (ts and inserted_at are
    computed by ClickHouse)."""
    return data_columns(cls) + PROVENANCE_COLUMNS


def _plain(value: Any) -> Any:
    """Enums as their symbol, tuples as lists; Decimal, bytes, ints and None pass through."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _field_values(event: Event, field: Field) -> list[Any]:
    value = getattr(event, field.name)
    if field.record is None:
        return [_plain(value)]
    return [[_plain(getattr(item, sub.name)) for item in value] for sub in dataclasses.fields(field.record)]


def to_row(event: Event, provenance: Provenance | None = None) -> tuple[Any, ...]:
    """One row in `columns(type(event))` order, ready for clickhouse-driver's insert."""
    where = provenance or Provenance()
    values = [v for f in event_fields(type(event)) for v in _field_values(event, f)]
    return (*values, where.topic, where.partition, where.offset)


#: (decoded Avro record, topic, partition, offset) -> the row `to_row` gives for the same event.
RecordRowBuilder = Callable[[Mapping[str, Any], str, int, int], tuple[Any, ...]]


def _enum_symbols(hint: Any) -> frozenset[str] | None:
    """The symbols of a StrEnum field (plain, optional or a tuple of them), else None."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, StrEnum):
            return frozenset(candidate._value2member_map_)
    return None


def _check_symbols(value: Any, symbols: frozenset[str], where: str) -> None:
    """What `from_avro`'s StrEnum conversion would refuse (None is an absent optional)."""
    values = value if isinstance(value, list) else (value,)
    for item in values:
        if item is not None and item not in symbols:
            raise ValueError(f"{item!r} is not a valid {where}")


@cache_per_class
def record_row_builder(cls: type[Event]) -> RecordRowBuilder:
    """The row of `cls` straight from fastavro's decoded dict, without building the typed event.

    Why: the sink stores every event it reads; `to_row(from_avro(cls, record))` builds a frozen
    dataclass (and one per nested record) only to take it apart again, which cost as much as the
    Avro decode itself. Here the top-level values come out of the dict in one `itemgetter` call
    (fastavro already gives enums as their symbol, arrays as lists, decimals as Decimal, bytes as
    bytes: what `to_row` produces), nested records are split into their `Nested` columns, and the
    checks `from_avro` would make are kept: a missing or extra field, or an enum symbol the Python
    enum lacks, raises KeyError/TypeError/ValueError like it (the sink dead-letters those).
    """
    hints = typing.get_type_hints(cls)
    fields = event_fields(cls)
    take = operator.itemgetter(*(f.name for f in fields))
    enums = [
        (i, symbols, f.name)
        for i, f in enumerate(fields)
        if f.record is None and (symbols := _enum_symbols(hints[f.name])) is not None
    ]
    nested = [(i, _nested_splitter(f)) for i, f in enumerate(fields) if f.record is not None]
    width = len(fields)
    name = cls.__name__

    def build(record: Mapping[str, Any], topic: str, partition: int, offset: int) -> tuple[Any, ...]:
        if len(record) != width:
            raise TypeError(f"{name}: {len(record)} fields decoded, {width} expected")
        values = take(record) if width > 1 else (take(record),)
        for i, symbols, field_name in enums:
            _check_symbols(values[i], symbols, f"{name}.{field_name}")
        if not nested:
            return (*values, topic, partition, offset)
        row: list[Any] = []
        start = 0
        for i, split in nested:
            row += values[start:i]
            row += split(values[i])
            start = i + 1
        row += values[start:]
        return (*row, topic, partition, offset)

    return build


def _nested_splitter(field: Field) -> Callable[[list[Mapping[str, Any]]], list[list[Any]]]:
    """A list of nested records -> one list per record field (the `Nested` columns)."""
    assert field.record is not None
    hints = typing.get_type_hints(field.record)
    subs = [(sub.name, _enum_symbols(hints[sub.name])) for sub in dataclasses.fields(field.record)]
    where = field.record.__name__

    def split(items: list[Mapping[str, Any]]) -> list[list[Any]]:
        columns = [[item[sub] for item in items] for sub, _ in subs]
        for column, (sub, symbols) in zip(columns, subs, strict=True):
            if symbols is not None:
                _check_symbols(column, symbols, f"{where}.{sub}")
        return columns

    return split


def to_columns(events: Sequence[Event], provenance: Sequence[Provenance] | None = None) -> list[list[Any]]:
    """The same rows transposed, for `execute(..., columnar=True)` batches of one event type."""
    marks = provenance or [Provenance()] * len(events)
    rows = [to_row(e, p) for e, p in zip(events, marks, strict=True)]
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


def insert_sql(cls: type[Event], database: str) -> str:
    """`INSERT INTO db.table (cols) VALUES` for clickhouse-driver (data passed separately)."""
    cols = ", ".join(quote_ident(c) for c in columns(cls))
    return f"INSERT INTO {database}.{table_of(cls)} ({cols}) VALUES"


def select_sql(cls: type[Event], database: str, where: str = "", final: bool = True) -> str:
    """A SELECT of the event's columns that `from_row` reads back. Bytes columns come as hex:
    raw Kafka bytes are rarely UTF-8, and both the driver and chDB's JSON decode strings as text."""
    exprs = [f"hex({quote_ident(c)})" if f.is_bytes else quote_ident(c) for f in event_fields(cls) for c in f.columns]
    sql = f"SELECT {', '.join(exprs)} FROM {database}.{table_of(cls)}"
    return sql + (" FINAL" if final else "") + (f" WHERE {where}" if where else "")


def _read_field(field: Field, values: Sequence[Any]) -> Any:
    if field.record is not None:
        names = [sub.name for sub in dataclasses.fields(field.record)]
        return [dict(zip(names, item, strict=True)) for item in zip(*values, strict=True)]
    (value,) = values
    if field.is_bytes and value is not None:
        return bytes.fromhex(value)
    return value


def from_row(cls: type[Event], row: Sequence[Any]) -> Event:
    """The event back from a `select_sql` row (Nested arrays zipped into records again)."""
    record: dict[str, Any] = {}
    position = 0
    for field in event_fields(cls):
        width = len(field.columns)
        record[field.name] = _read_field(field, row[position : position + width])
        position += width
    return from_avro(cls, record)
