"""The __consumer_offsets codec on bytes captured from the local Kafka 3.9 broker (key v1, value v3,
group-metadata key v2, tombstones) and on bytes built from Kafka's schemas for the versions a 3.9
broker no longer writes (values v0-v2, and the flexible v4)."""

from __future__ import annotations

import struct

import pytest

from consumers.offsets_codec import CodecError, GroupKey, OffsetKey, OffsetValue, decode_key, decode_value

GROUP = "h2lag-cap-78573f"  # group and topic had the same name in the capture
KEY_P0 = bytes.fromhex("0001001068326c61672d6361702d373835373366001068326c61672d6361702d37383537336600000000")
KEY_P1 = bytes.fromhex("0001001068326c61672d6361702d373835373366001068326c61672d6361702d37383537336600000001")
GROUP_KEY = bytes.fromhex("0002001068326c61672d6361702d373835373366")
#: commit of offset 7 with no metadata; offset 300000; offset 9 with metadata "meta-é"
VALUE_7 = bytes.fromhex("00030000000000000007ffffffff0000000001a23f0c7219")
VALUE_300000 = bytes.fromhex("000300000000000493e0ffffffff0000000001a23f0c7219")
VALUE_META = bytes.fromhex("00030000000000000009ffffffff00086d6574612dc3a900000001a23f0c721b")
COMMIT_MS = 0x1A23F0C7219


def test_captured_offset_keys() -> None:
    assert decode_key(KEY_P0) == OffsetKey(GROUP, GROUP, 0)
    assert decode_key(KEY_P1) == OffsetKey(GROUP, GROUP, 1)


def test_captured_group_metadata_key() -> None:
    assert decode_key(GROUP_KEY) == GroupKey(GROUP)


def test_captured_v3_values() -> None:
    assert decode_value(VALUE_7) == OffsetValue(7, COMMIT_MS, "")
    assert decode_value(VALUE_300000) == OffsetValue(300000, COMMIT_MS, "")
    # librdkafka sends the metadata string with its C terminator: the broker stores 8 bytes
    assert decode_value(VALUE_META) == OffsetValue(9, COMMIT_MS + 2, "meta-é\x00")


def test_tombstone_is_none() -> None:
    assert decode_value(None) is None


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def test_v0_and_v2_values() -> None:
    for version in (0, 2):
        raw = struct.pack(">hq", version, 42) + _string("m") + struct.pack(">q", 1_700_000_000_000)
        assert decode_value(raw) == OffsetValue(42, 1_700_000_000_000, "m")


def test_v1_value_carries_the_expire_timestamp() -> None:
    raw = struct.pack(">hq", 1, 42) + _string("") + struct.pack(">qq", 1_700_000_000_000, 1_700_086_400_000)
    assert decode_value(raw) == OffsetValue(42, 1_700_000_000_000, "", expire_ms=1_700_086_400_000)


def test_v3_value_with_a_leader_epoch() -> None:
    raw = struct.pack(">hqi", 3, 42, 5) + _string("") + struct.pack(">q", 1_700_000_000_000)
    assert decode_value(raw) == OffsetValue(42, 1_700_000_000_000, "", leader_epoch=5)


def test_v4_flexible_value() -> None:
    raw = struct.pack(">hqi", 4, 42, -1) + bytes([4]) + b"abc" + struct.pack(">q", 1_700_000_000_000) + b"\x00"
    assert decode_value(raw) == OffsetValue(42, 1_700_000_000_000, "abc")


@pytest.mark.parametrize("raw", [b"", b"\x00", struct.pack(">h", 9) + b"xx", KEY_P0[:-2]])
def test_bad_keys_raise_codec_error(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode_key(raw)


@pytest.mark.parametrize("raw", [b"\x00", struct.pack(">h", 5) + bytes(30), VALUE_7[:-1], VALUE_META[:14]])
def test_bad_values_raise_codec_error(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode_value(raw)
