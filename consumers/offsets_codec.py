"""The binary records of `__consumer_offsets`: offset-commit keys and values, as the broker writes them.

Big-endian, Kafka's own schemas (`OffsetCommitKey`, `OffsetCommitValue`, `GroupMetadataKey` in
Kafka's group-coordinator module). A key starts with an int16 version:

- 0 and 1: an offset commit, `group string, topic string, partition int32`;
- 2: a group's metadata (members, generation), `group string`; its value is not decoded here.

An offset commit's value starts with its own int16 version:

| version | fields after the version |
|---|---|
| 0 | offset int64, metadata string, commit_timestamp int64 |
| 1 | offset int64, metadata string, commit_timestamp int64, expire_timestamp int64 |
| 2 | offset int64, metadata string, commit_timestamp int64 |
| 3 | offset int64, leader_epoch int32, metadata string, commit_timestamp int64 |
| 4 | as 3, with a compact string and tagged fields (flexible version) |

A `string` is an int16 length and UTF-8 bytes (-1 = null); a compact string an unsigned varint
length + 1. A null value is a tombstone: the commit (or the whole group) was deleted. Anything
else raises `CodecError`, so the reader can skip a record it does not understand.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class CodecError(ValueError):
    """A record this module cannot decode (unknown version, truncated bytes)."""


@dataclass(frozen=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True)
class GroupKey:
    group: str


@dataclass(frozen=True)
class OffsetValue:
    offset: int
    commit_ms: int
    metadata: str
    leader_epoch: int | None = None
    expire_ms: int | None = None


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.raw):
            raise CodecError(f"truncated record: {size} bytes wanted at {self.pos} of {len(self.raw)}")
        (value,) = struct.unpack_from(fmt, self.raw, self.pos)
        self.pos += size
        return int(value)

    def text(self, length: int) -> str:
        if length < 0:
            return ""
        if self.pos + length > len(self.raw):
            raise CodecError(f"truncated string: {length} bytes wanted at {self.pos} of {len(self.raw)}")
        chunk = self.raw[self.pos : self.pos + length]
        self.pos += length
        return chunk.decode("utf-8", errors="replace")

    def string(self) -> str:
        return self.text(self.take(">h"))

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(">B")
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 28:
                raise CodecError("varint too long")

    def compact_string(self) -> str:
        return self.text(self.uvarint() - 1)


def decode_key(raw: bytes | None) -> OffsetKey | GroupKey:
    if not raw:
        raise CodecError("empty key")
    reader = _Reader(raw)
    version = reader.take(">h")
    if version in (0, 1):
        return OffsetKey(reader.string(), reader.string(), reader.take(">i"))
    if version == 2:
        return GroupKey(reader.string())
    raise CodecError(f"unknown key version {version}")


def decode_value(raw: bytes | None) -> OffsetValue | None:
    """The commit of an offset key; None for a tombstone."""
    if raw is None:
        return None
    reader = _Reader(raw)
    version = reader.take(">h")
    if version in (0, 2):
        return OffsetValue(reader.take(">q"), metadata=reader.string(), commit_ms=reader.take(">q"))
    if version == 1:
        offset, metadata, commit_ms = reader.take(">q"), reader.string(), reader.take(">q")
        return OffsetValue(offset, commit_ms, metadata, expire_ms=reader.take(">q"))
    if version in (3, 4):
        offset, epoch = reader.take(">q"), reader.take(">i")
        metadata = reader.string() if version == 3 else reader.compact_string()
        return OffsetValue(offset, reader.take(">q"), metadata, leader_epoch=None if epoch < 0 else epoch)
    raise CodecError(f"unknown offset value version {version}")
