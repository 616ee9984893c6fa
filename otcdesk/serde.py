"""Avro single-object encoding with fastavro, and the schema catalogue it needs.

Wire format (Avro spec, "Single object encoding"): the two bytes ``C3 01``, the 8-byte
CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form (little-endian, exactly
the bytes fastavro's ``fingerprint`` hex spells), then the Avro binary body. Any Avro library can
decode it without a registry: the fingerprint names the writer schema, found here among every
version kept under ``otcdesk/schemas/avro/<event>/vN.avsc`` and resolved to the newest version of the
same event (the reader schema).

Every failure to decode becomes one ``DecodeError`` with a short machine reason; every failure
to encode becomes one ``EncodeError``: callers never see fastavro's own exceptions (the
quix-streams serializer does the same for the same reason: one thing to catch).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from otcdesk.errors import DeskError, RejectedError
from otcdesk.events import BY_SCHEMA, Event, from_avro, to_avro
from otcdesk.resources import AVRO, shipped_dir
from otcdesk.serde_decimal import install as install_decimal_writer

install_decimal_writer()

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
SCHEMA_ROOT = shipped_dir(*AVRO)  # otcdesk/schemas/avro, shipped in the wheel


class DecodeError(DeskError):
    """Bytes that are not a decodable event; `reason` is short and stable (for dlq and metrics)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EncodeError(RejectedError):
    """A record that does not fit its schema (missing field, wrong type, decimal out of range)."""


@dataclass(frozen=True)
class SchemaVersion:
    """One `.avsc` file: an event's schema at one version."""

    event: str  # folder name, e.g. "trade"
    version: int
    full_name: str  # e.g. "otcdesk.events.TradeBooked"
    parsed: Any  # fastavro's parsed schema, for writing
    read_parsed: Any  # the same schema with timestamps read as plain epoch-microsecond ints
    fingerprint: bytes  # 8 bytes, wire order
    path: Path
    decimal_limits: tuple[tuple[str, Decimal], ...]  # top-level decimal field -> exclusive bound


def _timestamps_as_longs(node: Any) -> Any:
    """A copy of a schema whose `timestamp-micros` longs read back as ints, not datetimes.

    The desk keeps time as epoch microseconds everywhere; fastavro would build a `datetime` per
    timestamp on read (slow, and then converted back). `logicalType` is not part of the Parsing
    Canonical Form, so the copy has the same fingerprint: the wire stays standard Avro.
    """
    if isinstance(node, list):
        return [_timestamps_as_longs(n) for n in node]
    if isinstance(node, dict):
        if node.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
            return node["type"]
        return {k: _timestamps_as_longs(v) for k, v in node.items()}
    return node


def _decimal_limits(schema: dict[str, Any]) -> tuple[tuple[str, Decimal], ...]:
    """Bounds fastavro does not enforce: |value| < 10**(precision - scale).

    fastavro refuses a value with too many fractional digits but lets an integer part overflow
    the declared precision through; ClickHouse's Decimal(P, S) would then reject the row, far
    from where the bad value was made. Checked here for top-level fields (nested levels are
    produced by code that quantizes them).
    """
    limits = []
    for field in schema["fields"]:
        for branch in field["type"] if isinstance(field["type"], list) else [field["type"]]:
            if isinstance(branch, dict) and branch.get("logicalType") == "decimal":
                bound = Decimal(10) ** (branch["precision"] - branch.get("scale", 0))
                limits.append((field["name"], bound))
    return tuple(limits)


class SchemaCatalog:
    """Every schema version under a folder, by event name and by fingerprint."""

    def __init__(self, root: Path = SCHEMA_ROOT) -> None:
        self.root = root
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.versions: dict[str, list[SchemaVersion]] = {}
        for path in sorted(root.glob("*/v*.avsc"), key=lambda p: (p.parent.name, int(p.stem[1:]))):
            self._add(path)
        if not self.versions:
            raise DeskError(f"no Avro schemas found under {root}")

    def _add(self, path: Path) -> None:
        raw = json.loads(path.read_text())
        # Parsed once with fastavro's default "parsed" marker: schemaless_reader/writer re-parse a
        # schema without it on *every* call, which cost 2-5x the Avro work itself per event.
        parsed = parse_schema(raw)
        read_parsed = parse_schema(_timestamps_as_longs(raw))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        version = SchemaVersion(
            event=path.parent.name,
            version=int(path.stem[1:]),
            full_name=f"{raw.get('namespace', '')}.{raw['name']}".lstrip("."),
            parsed=parsed,
            read_parsed=read_parsed,
            fingerprint=fp,
            path=path,
            decimal_limits=_decimal_limits(raw),
        )
        if fp in self.by_fingerprint:  # same canonical form twice: a copy, not a new version
            raise DeskError(f"{path} has the same canonical form as {self.by_fingerprint[fp].path}")
        self.by_fingerprint[fp] = version
        self.versions.setdefault(version.event, []).append(version)

    def latest(self, event: str) -> SchemaVersion:
        try:
            return self.versions[event][-1]
        except KeyError:
            raise EncodeError("unknown_schema", f"no schema folder {event!r} under {self.root}") from None


class AvroSerde:
    """Encode and decode single-object Avro; typed (`Event`) and plain (`dict`) flavours."""

    def __init__(self, catalog: SchemaCatalog | None = None) -> None:
        self.catalog = catalog or SchemaCatalog()

    # -- plain records ------------------------------------------------------------------------
    def encode_record(self, event: str, record: dict[str, Any]) -> bytes:
        schema = self.catalog.latest(event)
        for name, bound in schema.decimal_limits:
            value = record.get(name)
            if value is not None and isinstance(value, Decimal) and value.is_finite() and abs(value) >= bound:
                raise EncodeError("decimal_overflow", f"{event}.{name}={value} exceeds its precision")
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(schema.fingerprint)
        try:
            schemaless_writer(out, schema.parsed, record)
        except Exception as exc:  # fastavro raises ValueError, TypeError, KeyError, AttributeError...
            raise EncodeError("schema_mismatch", f"{event}: {type(exc).__name__}: {exc}") from exc
        return out.getvalue()

    def decode_record(self, data: bytes | bytearray | memoryview | None) -> tuple[SchemaVersion, dict[str, Any]]:
        """Writer schema found by fingerprint, resolved to the newest version of its event."""
        if data is None:
            raise DecodeError("null_value", "a record without a value (a tombstone)")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError("not_bytes", type(data).__name__)
        if len(data) < HEADER_LEN:
            raise DecodeError("truncated_header", f"{len(data)} bytes")
        if data[:2] != MAGIC:
            raise DecodeError("bad_magic", bytes(data[:2]).hex())
        writer = self.catalog.by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError("unknown_fingerprint", bytes(data[2:HEADER_LEN]).hex())
        reader = self.catalog.latest(writer.event)
        body = io.BytesIO(data)
        body.seek(HEADER_LEN)
        try:
            if reader is writer:
                record = schemaless_reader(body, writer.read_parsed, None)
            else:
                record = schemaless_reader(body, writer.read_parsed, reader.read_parsed)
        except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, ValueError, ...
            raise DecodeError("bad_body", f"{writer.event} v{writer.version}: {type(exc).__name__}: {exc}") from exc
        if body.tell() != len(data):
            raise DecodeError("trailing_bytes", f"{len(data) - body.tell()} bytes after the record")
        if not isinstance(record, dict):
            raise DecodeError("bad_body", "not a record")
        for name, bound in reader.decimal_limits:  # what encode refuses, another writer may send
            value = record.get(name)
            if isinstance(value, Decimal) and not abs(value) < bound:
                raise DecodeError(
                    "decimal_overflow", f"{reader.event}.{name} has {len(value.as_tuple().digits)} digits"
                )
        return reader, record

    def peek(self, data: bytes) -> tuple[str, str, int]:
        """(event name, event_id, ts_us) of a record without decoding the rest of it.

        Every event schema starts with `event_id` (string) and `ts_us` (long), so they sit at
        the front of the body: a stage that only needs to order a record, or to keep the latest
        of many (the books of `prices`), decodes it when it reads it, if ever."""
        if not isinstance(data, (bytes, bytearray)) or len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise DecodeError("bad_header", "not a single-object Avro record")
        writer = self.catalog.by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError("unknown_fingerprint", bytes(data[2:HEADER_LEN]).hex())
        try:
            length, at = _zigzag(data, HEADER_LEN)
            event_id = bytes(data[at : at + length]).decode()
            ts_us, _ = _zigzag(data, at + length)
        except (IndexError, UnicodeDecodeError) as exc:
            raise DecodeError("bad_body", f"{writer.event}: {type(exc).__name__}") from exc
        return writer.event, event_id, ts_us

    # -- typed events -------------------------------------------------------------------------
    def encode(self, event: Event) -> bytes:
        return self.encode_record(event.SCHEMA, to_avro(event))

    def decode(self, data: bytes | bytearray | memoryview | None) -> Event:
        schema, record = self.decode_record(data)
        try:
            return from_avro(BY_SCHEMA[schema.event], record)
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError("bad_value", f"{schema.event}: {type(exc).__name__}: {exc}") from exc


def _zigzag(data: bytes | bytearray, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at `at`: (value, offset after it)."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7
        if shift > 63:
            raise IndexError("varint too long")


@lru_cache(maxsize=1)
def default_serde() -> AvroSerde:
    """The process-wide serde over the repository's schemas (parsing them once)."""
    return AvroSerde()
