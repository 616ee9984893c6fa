"""Avro single-object records straight into the sink's ClickHouse columns.

For every schema version that is its event's newest (no schema resolution needed) and whose
fields are the event's columns, one Python function is generated from the `.avsc`: it reads the
body field by field with the varints inlined and appends each value to its column, with nothing in
between (no record dict, no row tuple). Its values are those `serde.decode_record` followed by
`record_row_builder` gives, with two exceptions that spare objects nobody needs: strings stay the
UTF-8 bytes Avro carries (checked to be valid UTF-8; clickhouse-driver sends bytes to a String
column as they are, so a `str` would only be encoded again), and decimals stay the unscaled
integer Avro carries (`int.from_bytes` of its two's complement, checked below 10**precision and
the field's bound), which is the value ClickHouse's Decimal(P, S) stores: consumers/sink_native.py
writes it, and `ColumnDecoder.scales` names those columns. Enums come as their symbol, arrays as
lists, nested records split into their `Nested` columns, then topic, partition and offset.
Varints of one byte (lengths, enum indexes, union branches) go through a table or are compared as
that byte; a timestamp's 8-byte varint is gathered from one little-endian int with masks.

It is a fast path, not a second judge: anything it does not like (truncated or trailing bytes, a
bad enum index or a symbol the Python enum lacks, an out-of-range decimal, invalid UTF-8, ...)
raises before the first append, and the sink then decodes that record the reference way, which
either stores it or dead-letters it with the reference reason. Records of older schema versions,
of events without a table, and anything not a `bytes` single-object record take that path too.
tests/unit/test_sink_decode.py holds both paths equal on every event type and on thousands of
damaged records.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from otcdesk.db.rows import TABLES, event_fields
from otcdesk.events import BY_SCHEMA, Event
from otcdesk.serde import HEADER_LEN, AvroSerde, SchemaVersion

#: (message bytes, column appends, topic, partition, offset) -> None; raises on anything unusual.
ColumnsDecode = Callable[[bytes, tuple[Callable[[Any], None], ...], str, int, int], None]


#: zigzag value of every one-byte varint
_ZIGZAG = tuple((n >> 1) ^ -(n & 1) for n in range(128))


class Unsupported(Exception):
    """A schema shape the generator does not handle: its records take the reference path."""


@dataclass(frozen=True, slots=True)
class ColumnDecoder:
    """One schema version's generated decoder and the event type (table) it fills."""

    cls: type[Event]
    width: int  # columns, provenance included
    decode: ColumnsDecode
    source: str  # the generated code, for reading and for tests
    #: column index -> Avro scale of the unscaled ints it holds (decimals); not hashed (a dict)
    scales: Mapping[int, int] = dataclasses.field(default_factory=dict, compare=False)


class _Emitter:
    """Python source for one record body; `consts` become the function's globals."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names  # named Avro types seen so far (full and short names)
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {"_from_bytes": int.from_bytes, "_ZZ": _ZIGZAG}
        self.counter = 0

    def temp(self, stem: str = "t") -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, value: Any, stem: str) -> str:
        name = self.temp(stem.upper())
        self.consts[name] = value
        return name

    def line(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def long(self, indent: int, target: str, *, wide: bool = False) -> None:
        """A zigzag varint, inlined: one byte through a table, longer ones in a loop. `wide`: a
        timestamp, 8 bytes for any date from 1978 to 3111, whose 7-bit groups are gathered from
        one little-endian int with masks instead of a loop over the bytes."""
        if wide:
            self.line(indent, f"{target} = _from_bytes(b[p:p + 8], 'little')")
            # bytes 0-6 continue, byte 7 ends the varint; a record cut short there leaves p past
            # its end, which the final length check refuses
            self.line(indent, f"if {target} & 0x8080808080808080 == 0x0080808080808080:")
            self.line(indent + 1, f"p += 8; {target} &= 0x7F7F7F7F7F7F7F7F")
            self.line(
                indent + 1, f"{target} = ({target} & 0x007F007F007F007F) | (({target} & 0x7F007F007F007F00) >> 1)"
            )
            self.line(
                indent + 1, f"{target} = ({target} & 0x00003FFF00003FFF) | (({target} & 0x3FFF00003FFF0000) >> 2)"
            )
            self.line(
                indent + 1, f"{target} = ({target} & 0x000000000FFFFFFF) | (({target} & 0x0FFFFFFF00000000) >> 4)"
            )
            self.line(indent + 1, f"{target} = ({target} >> 1) ^ -({target} & 1)")
            self.line(indent, "else:")
            indent += 1
        more, shift = self.temp("m"), self.temp("h")
        self.line(indent, f"{target} = b[p]; p += 1")
        self.line(indent, f"if {target} > 127:")
        self.line(indent + 1, f"{target} &= 127; {shift} = 7")
        self.line(indent + 1, "while True:")
        self.line(indent + 2, f"{more} = b[p]; p += 1; {target} |= ({more} & 127) << {shift}")
        self.line(indent + 2, f"if {more} < 128: break")
        self.line(indent + 2, f"{shift} += 7")
        self.line(indent + 2, f"if {shift} > 63: raise ValueError('varint longer than 10 bytes')")
        self.line(indent + 1, f"{target} = ({target} >> 1) ^ -({target} & 1)")
        self.line(indent, "else:")
        self.line(indent + 1, f"{target} = _ZZ[{target}]")

    def raw_bytes(self, indent: int, target: str) -> None:
        size, end = self.temp("n"), self.temp("e")
        self.long(indent, size)
        self.line(indent, f"if {size} < 0: raise ValueError('negative length')")
        self.line(indent, f"{end} = p + {size}; {target} = b[p:{end}]; p = {end}")

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.names:
            return self.names[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self.resolve(schema["type"])
        return schema

    def register(self, schema: dict[str, Any]) -> None:
        name, namespace = schema["name"], schema.get("namespace", "")
        self.names[name] = schema
        self.names[f"{namespace}.{name}" if namespace and "." not in name else name] = schema

    def value(
        self, indent: int, schema: Any, target: str, symbols: frozenset[str] | None, bound: Decimal | None = None
    ) -> frozenset[int]:
        """Decode one value of `schema` into `target` (a plain value: no records here); `bound`:
        the exclusive limit of a decimal's absolute value (serde's decimal_limits). Returns the
        scales of the decimals it holds as unscaled ints (empty: none)."""
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return self.union(indent, schema, target, symbols, bound)
        kind = schema if isinstance(schema, str) else schema["type"]
        logical = None if isinstance(schema, str) else schema.get("logicalType")
        if kind in ("long", "int") and logical in (None, "timestamp-micros"):
            self.long(indent, target, wide=logical == "timestamp-micros")
        elif kind == "string" and logical is None:
            self.raw_bytes(indent, target)  # kept as UTF-8 bytes, checked: the driver sends bytes as they are
            self.line(indent, f"if not {target}.isascii(): {target}.decode()")
        elif kind == "bytes" and logical is None:
            self.raw_bytes(indent, target)
        elif kind == "bytes" and logical == "decimal":
            return self.decimal(indent, schema, target, bound)
        elif kind == "null":
            self.line(indent, f"{target} = None")
        elif kind == "enum":
            self.enum(indent, schema, target, symbols)
        elif kind == "array" and not self._holds_records(schema["items"]):
            return self.array(indent, [target], item=lambda i, item: self.value(i, schema["items"], item, symbols))[0]
        else:
            raise Unsupported(f"{kind}/{logical}")
        return frozenset()

    def _holds_records(self, items: Any) -> bool:
        resolved = self.resolve(items)
        return isinstance(resolved, dict) and resolved.get("type") == "record"

    def decimal(self, indent: int, schema: Mapping[str, Any], target: str, bound: Decimal | None) -> frozenset[int]:
        # The unscaled integer Avro carries is the value ClickHouse's Decimal(P, S) stores: it is kept
        # as it is (consumers/sink_native.py writes it), no Decimal made. |unscaled| < 10**P, and below
        # the field's bound when it has one; a larger one (fastavro would round it to P digits, or
        # serde refuses it) takes the reference path.
        precision, scale = int(schema["precision"]), int(schema.get("scale", 0))
        limit = 10**precision
        if bound is not None:  # |value| < bound <=> |unscaled| < bound * 10**scale
            scaled = bound.scaleb(scale)
            if scaled != scaled.to_integral_value():
                raise Unsupported(f"decimal bound {bound} at scale {scale}")
            limit = min(limit, int(scaled))
        unscaled = self.const(limit, "limit")
        self.raw_bytes(indent, target)
        self.line(indent, f"{target} = _from_bytes({target}, 'big', signed=True)")
        self.line(indent, f"if not -{unscaled} < {target} < {unscaled}: raise ValueError('decimal overflow')")
        return frozenset({scale})

    def enum(self, indent: int, schema: dict[str, Any], target: str, symbols: frozenset[str] | None) -> None:
        if "name" in schema:
            self.register(schema)
        allowed = {i: s for i, s in enumerate(schema["symbols"]) if symbols is None or s in symbols}
        if len(schema["symbols"]) <= 64:  # every index one varint byte: the symbol by that byte
            table = self.const({2 * i: s for i, s in allowed.items()}, "sym")
            self.line(indent, f"{target} = {table}[b[p]]; p += 1")  # KeyError: longer, out of range, not a member
            return
        table = self.const(allowed, "sym")
        self.long(indent, target)
        self.line(indent, f"{target} = {table}[{target}]")  # KeyError: out of range or not a Python member

    def union(
        self, indent: int, branches: list[Any], target: str, symbols: frozenset[str] | None, bound: Decimal | None
    ) -> frozenset[int]:
        if len(branches) > 64:
            raise Unsupported("a union of more than 64 branches")
        index = self.temp("u")
        self.line(indent, f"{index} = b[p]; p += 1")  # branch i is the one varint byte 2*i; others refused
        found: list[frozenset[int]] = []
        for i, branch in enumerate(branches):
            self.line(indent, f"{'if' if i == 0 else 'elif'} {index} == {2 * i}:")
            scales = self.value(indent + 1, branch, target, symbols, bound)
            if self.resolve(branch) != "null":
                found.append(scales)
        self.line(indent, "else: raise ValueError('union index')")
        scales = frozenset().union(*found)
        if scales and (len(scales) > 1 or not all(found)):  # one column holds one kind of value
            raise Unsupported(f"union of a decimal with other values: {branches}")
        return scales

    def array(
        self,
        indent: int,
        targets: list[str],
        *,
        item: Callable[[int, str], frozenset[int]] | None = None,
        record: list[tuple[Any, frozenset[str] | None]] | None = None,
    ) -> list[frozenset[int]]:
        """Blocks of items; `item` decodes one into a temp appended to targets[0], `record`
        decodes the fields of a record item, one target list per field. Returns the decimal
        scales of each target's items."""
        count, size = self.temp("c"), self.temp("s")
        for target in targets:
            self.line(indent, f"{target} = []")
        self.line(indent, "while True:")
        self.long(indent + 1, count)
        self.line(indent + 1, f"if {count} == 0: break")
        self.line(indent + 1, f"if {count} < 0:")
        self.line(indent + 2, f"{count} = -{count}")
        self.long(indent + 2, size)
        self.line(indent + 1, f"for _ in range({count}):")
        if record is None:
            assert item is not None
            value = self.temp("x")
            scales = item(indent + 2, value)
            self.line(indent + 2, f"{targets[0]}.append({value})")
            return [scales]
        values = [self.temp("x") for _ in record]
        found = [
            self.value(indent + 2, schema, value, symbols)
            for (schema, symbols), value in zip(record, values, strict=True)
        ]
        for target, value in zip(targets, values, strict=True):
            self.line(indent + 2, f"{target}.append({value})")
        return found


def _enum_symbols(hint: Any) -> frozenset[str] | None:
    """The members of a StrEnum hint (plain, optional or tuple of), as `record_row_builder` checks."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, StrEnum):
            return frozenset(candidate._value2member_map_)
    return None


def generate(version: SchemaVersion, cls: type[Event]) -> ColumnDecoder:
    """The column decoder of one schema version for `cls`; Unsupported when its shape is not
    the event's columns one to one."""
    raw = json.loads(version.path.read_text())
    fields = event_fields(cls)
    if [f["name"] for f in raw["fields"]] != [f.name for f in fields]:
        raise Unsupported(f"{version.path}: fields differ from {cls.__name__}'s")
    hints = typing.get_type_hints(cls)
    limits = dict(version.decimal_limits)
    out = _Emitter({})
    out.register(raw)
    targets: list[str] = []
    found: list[frozenset[int]] = []  # per column: the scale of its unscaled decimals
    for avro, field in zip(raw["fields"], fields, strict=True):
        if field.record is None:
            target = out.temp("v")
            found.append(out.value(1, avro["type"], target, _enum_symbols(hints[field.name]), limits.get(field.name)))
            targets.append(target)
            continue
        array = out.resolve(avro["type"])
        item = out.resolve(array.get("items")) if isinstance(array, dict) and array.get("type") == "array" else None
        if not isinstance(item, dict) or item.get("type") != "record":
            raise Unsupported(f"{field.name}: not an array of records")
        out.register(item)
        subs = dataclasses.fields(field.record)
        if [f["name"] for f in item["fields"]] != [s.name for s in subs]:
            raise Unsupported(f"{field.name}: nested fields differ")
        sub_hints = typing.get_type_hints(field.record)
        lists = [out.temp("l") for _ in subs]
        found += out.array(
            1,
            lists,
            record=[(f["type"], _enum_symbols(sub_hints[s.name])) for f, s in zip(item["fields"], subs, strict=True)],
        )
        targets.extend(lists)
    if any(len(s) > 1 for s in found):
        raise Unsupported(f"{version.path}: decimals of two scales in one column")
    scales = {i: next(iter(s)) for i, s in enumerate(found) if s}
    out.line(1, "if p != len(b): raise ValueError('length')")
    width = len(targets) + 3
    names = [f"a{i}" for i in range(width)]
    body = [f"    {', '.join(names)}, = A"]
    body += [f"    {a}({v})" for a, v in zip(names, [*targets, "topic", "partition", "offset"], strict=True)]
    source = "\n".join([f"def decode(b, A, topic, partition, offset):\n    p = {HEADER_LEN}", *out.lines, *body])
    namespace = dict(out.consts)
    code = compile(source, f"<sink decode {version.path.parent.name} v{version.version}>", "exec")
    exec(code, namespace)  # our own source, generated from the schema files
    return ColumnDecoder(cls, width, namespace["decode"], source, scales)


def decoders(serde: AvroSerde) -> dict[bytes, ColumnDecoder]:
    """fingerprint -> decoder, for every newest schema version of an event that has a table."""
    found: dict[bytes, ColumnDecoder] = {}
    for fingerprint, version in serde.catalog.by_fingerprint.items():
        cls = BY_SCHEMA.get(version.event)
        if cls is None or cls not in TABLES or serde.catalog.latest(version.event) is not version:
            continue
        try:
            found[fingerprint] = generate(version, cls)
        except Unsupported:
            continue
    return found
