"""Decimal columns sent to ClickHouse as the unscaled integers Avro already carries.

ClickHouse's Decimal(P, S) travels in the native format as its unscaled integer, little-endian:
Int32 for P <= 9, Int64 for P <= 18, Int128 for P <= 38. An Avro `bytes` decimal(P, S) is the
same integer in big-endian two's complement. The sink's decoder (consumers/sink_decode.py) reads
that integer and keeps it (no Python `Decimal`), and this module writes it as the server expects,
where clickhouse-driver's Decimal column would turn every value into `int(Decimal(str(x)) * 10**S)`
first. No float is involved anywhere: the value stored is the Avro value to the last digit, and
the scale of the column the server announces is checked against the Avro scale (a different scale
is rescaled exactly as the driver rescales: up exactly, down truncated toward zero).

`UnscaledColumns` marks a columnar insert whose listed columns hold unscaled ints (None for a
NULL of a Nullable column, a list for an Array/Nested column); `SinkClient.send_data` writes
those itself and every other column through the driver's own column writer, in the block format
the driver's `BlockOutputStream` writes. Any other insert goes the driver's way untouched.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from itertools import accumulate, chain
from typing import Any, BinaryIO

from clickhouse_driver import Client, defines
from clickhouse_driver.block import BlockInfo, ColumnOrientedBlock
from clickhouse_driver.columns.service import write_column
from clickhouse_driver.errors import TypeMismatchError
from clickhouse_driver.protocol import ClientPacketTypes
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str, write_binary_uint8

from consumers.sink_batch import from_unscaled
from otcdesk.db import client as db_client
from otcdesk.settings import ClickHouseEndpoint

_DECIMAL = re.compile(r"Decimal\((\d+),\s*(\d+)\)")


class UnscaledColumns(list):
    """The columns of one columnar insert; `scales`: column index -> Avro scale of the unscaled
    ints that column holds."""

    __slots__ = ("scales",)

    def __init__(self, columns: Sequence[list[Any]], scales: Mapping[int, int]) -> None:
        super().__init__(columns)
        self.scales = dict(scales)


def _rescale(items: list[Any], have: int, want: int) -> list[Any]:
    if have == want:
        return items
    if want > have:
        factor = 10 ** (want - have)
        return [None if x is None else x * factor for x in items]
    divisor = 10 ** (have - want)
    return [None if x is None else (x // divisor if x >= 0 else -(-x // divisor)) for x in items]


def write_unscaled(spec: str, items: list[Any], scale: int, buf: BinaryIO) -> bool:
    """Write one column of unscaled ints as the native format holds `spec`; False when the
    spec is not one this writer knows (the caller then lets the driver write Decimals)."""
    if spec.startswith("Nullable(") and spec.endswith(")"):
        inner = spec[9:-1]
        if not _DECIMAL.fullmatch(inner):
            return False
        buf.write(bytes([x is None for x in items]))
        return write_unscaled(inner, [0 if x is None else x for x in items], scale, buf)
    if spec.startswith("Array(") and spec.endswith(")"):
        inner = spec[6:-1]
        if not _DECIMAL.fullmatch(inner):
            return False
        buf.write(struct.pack(f"<{len(items)}Q", *accumulate(map(len, items))))
        return write_unscaled(inner, list(chain.from_iterable(items)), scale, buf)
    match = _DECIMAL.fullmatch(spec)
    if match is None:
        return False
    precision, column_scale = int(match[1]), int(match[2])
    values = _rescale(items, scale, column_scale)
    try:
        if precision <= 9:
            buf.write(struct.pack(f"<{len(values)}i", *values))
        elif precision <= 18:
            buf.write(struct.pack(f"<{len(values)}q", *values))
        elif precision <= 38:
            buf.write(b"".join([x.to_bytes(16, "little", signed=True) for x in values]))
        else:
            buf.write(b"".join([x.to_bytes(32, "little", signed=True) for x in values]))
    except (struct.error, OverflowError) as exc:
        raise TypeMismatchError(f"unscaled value out of range for {spec}: {exc}") from exc
    return True


class SinkClient(Client):
    """clickhouse-driver's Client, writing the unscaled Decimal columns of an `UnscaledColumns`
    insert itself (see the module docstring); everything else is the driver's."""

    def send_data(self, sample_block: Any, data: Any, types_check: bool = False, columnar: bool = False) -> int:
        if not (columnar and isinstance(data, UnscaledColumns)):
            return super().send_data(sample_block, data, types_check=types_check, columnar=columnar)
        connection = self.connection
        size = connection.context.client_settings["insert_block_size"]
        rows = len(data[0]) if data else 0
        inserted = 0
        for start in range(0, rows, size):
            # copies (the driver writes into the lists it is given, e.g. NULL -> 0): a retried
            # insert must send the same values
            chunk = [column[start : start + size] for column in data]
            self._send_block(sample_block.columns_with_types, chunk, data.scales, types_check)
            inserted += len(chunk[0])
            self.receive_profile_events()
        connection.send_data(ColumnOrientedBlock())  # empty block: end of data
        self.receive_profile_events()
        return inserted

    def _send_block(
        self,
        columns_with_types: Sequence[tuple[str, str]],
        columns: list[list[Any]],
        scales: Mapping[int, int],
        types_check: bool,
    ) -> None:
        """What `Connection.send_data` + `BlockOutputStream.write` do, column by column."""
        connection = self.connection
        if len(columns) != len(columns_with_types):
            raise ValueError(f"Expected {len(columns_with_types)} columns, got {len(columns)}")
        rows = len(columns[0])
        if any(len(column) != rows for column in columns):
            raise ValueError("Different rows length")
        revision = connection.server_info.used_revision
        write_varint(ClientPacketTypes.DATA, connection.fout)
        if revision >= defines.DBMS_MIN_REVISION_WITH_TEMPORARY_TABLES:
            write_binary_str("", connection.fout)
        out = connection.block_out
        buf = out.fout
        if revision >= defines.DBMS_MIN_REVISION_WITH_BLOCK_INFO:
            BlockInfo().write(buf)
        write_varint(len(columns), buf)
        write_varint(rows, buf)
        for i, (name, spec) in enumerate(columns_with_types):
            write_binary_str(name, buf)
            write_binary_str(spec, buf)
            if revision >= defines.DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION:
                write_binary_uint8(0, buf)
            items = columns[i]
            scale = scales.get(i)
            if scale is not None and write_unscaled(spec, items, scale, buf):
                continue
            if scale is not None:  # a column type this writer does not know: the driver's way
                items = from_unscaled(items, scale)
            write_column(connection.context, name, spec, items, buf, types_check=types_check)
        out.finalize()


def sink_client(ep: ClickHouseEndpoint, *, database: str | None = None) -> SinkClient:
    """`otcdesk.db.client.client`'s connection, as a SinkClient."""
    return SinkClient(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password.get_secret_value(),
        database=database or ep.database,
        connect_timeout=db_client.CONNECT_TIMEOUT_S,
        send_receive_timeout=db_client.SEND_RECEIVE_TIMEOUT_S,
        client_name="otcdesk",
    )
