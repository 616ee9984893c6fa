"""The Avro contract: single-object framing, round trips, decimal edges, garbage in."""

from __future__ import annotations

import contextlib
import io
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from otcdesk import events
from otcdesk.events import BY_SCHEMA, Rfq, Side
from otcdesk.serde import HEADER_LEN, MAGIC, DecodeError, EncodeError, default_serde
from tests.avro_strategies import record_strategy

#: CPU only (subprocesses with a 60 s timeout at most): make test runs it in the background phase.
pytestmark = pytest.mark.background

SERDE = default_serde()
LATEST = {event: SERDE.catalog.latest(event) for event in SERDE.catalog.versions}


def test_catalog_has_every_event_and_versions_in_order() -> None:
    assert set(LATEST) == set(BY_SCHEMA)
    for versions in SERDE.catalog.versions.values():
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))


def test_dataclasses_mirror_the_newest_schema_field_for_field() -> None:
    for event, schema in LATEST.items():
        avsc = json.loads(schema.path.read_text())
        dataclass_fields = [f.name for f in events.dataclasses.fields(BY_SCHEMA[event])]
        assert dataclass_fields == [f["name"] for f in avsc["fields"]], event


def test_every_field_has_a_doc_and_enums_a_default() -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                for f in node["fields"]:
                    assert f.get("doc"), f"{node['name']}.{f['name']} has no doc"
            if node.get("type") == "enum":
                assert node.get("default") in node["symbols"], node["name"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for versions in SERDE.catalog.versions.values():
        for v in versions:
            walk(json.loads(v.path.read_text()))


@pytest.mark.parametrize("event", sorted(LATEST))
def test_round_trip_of_generated_records(event: str) -> None:
    schema = LATEST[event]

    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(record_strategy(schema))
    def check(record: dict) -> None:
        data = SERDE.encode_record(event, record)
        assert data[:2] == MAGIC and data[2:HEADER_LEN] == schema.fingerprint
        _, back = SERDE.decode_record(data)
        assert back == record
        typed = SERDE.decode(data)
        assert isinstance(typed, BY_SCHEMA[event])
        assert SERDE.encode(typed) == data  # typed layer loses nothing

    check()


def _rfq(**overrides: object) -> Rfq:
    base = dict(
        event_id="e1",
        ts_us=1_700_000_000_000_000,
        source="test",
        rfq_id="r1",
        client_id="ACME",
        symbol="BTC/USD",
        side=Side.BUY,
        qty_base=Decimal("200"),
    )
    base.update(overrides)
    return Rfq(**base)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("9999999999999999.999999999999"),  # max of decimal(28, 12)
        Decimal("-9999999999999999.999999999999"),
        Decimal("0"),
        Decimal("-0.000000000001"),
        Decimal("0.000000000001"),
    ],
)
def test_decimal_edges_round_trip_exactly(value: Decimal) -> None:
    back = SERDE.decode(SERDE.encode(_rfq(qty_base=value)))
    assert isinstance(back, Rfq) and back.qty_base == value


@pytest.mark.parametrize(
    "value, reason",
    [
        (Decimal("0.0000000000001"), "schema_mismatch"),  # 13 decimals into scale 12: refused, not rounded
        (Decimal("10000000000000000"), "decimal_overflow"),  # 17 integer digits into decimal(28, 12)
        (Decimal("NaN"), "schema_mismatch"),
        (Decimal("Infinity"), "schema_mismatch"),
    ],
)
def test_decimals_that_do_not_fit_are_refused_not_rounded(value: Decimal, reason: str) -> None:
    with pytest.raises(EncodeError) as info:
        SERDE.encode(_rfq(qty_base=value))
    assert info.value.reason == reason


def test_missing_or_wrongly_typed_field_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        SERDE.encode_record("rfq", {"event_id": "x"})
    with pytest.raises(EncodeError):
        SERDE.encode(_rfq(ts_us="yesterday"))


@given(st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        SERDE.decode(data)


@given(st.sampled_from(sorted(LATEST)), st.binary(max_size=200))
@settings(max_examples=500, deadline=None)
def test_valid_header_with_garbage_body_raises_only_decode_error(event: str, body: bytes) -> None:
    with contextlib.suppress(DecodeError):
        SERDE.decode(MAGIC + LATEST[event].fingerprint + body)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "truncated_header"),
        (b"\xc3\x01\x00", "truncated_header"),
        (b"\x00\x01" + bytes(8) + b"\x00", "bad_magic"),
        (MAGIC + bytes(8) + b"\x00", "unknown_fingerprint"),
    ],
)
def test_decode_error_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        SERDE.decode(data)
    assert info.value.reason == reason


def test_truncated_body_and_trailing_bytes_are_refused() -> None:
    data = SERDE.encode(_rfq())
    with pytest.raises(DecodeError, match="bad_body"):
        SERDE.decode(data[:-3])
    with pytest.raises(DecodeError, match="trailing_bytes"):
        SERDE.decode(data + b"\x00")


def test_old_version_bytes_resolve_to_the_newest_reader(tmp_path) -> None:
    """rfq v1 bytes (no client_ref) decode with the v2 reader, client_ref defaulting to null."""
    from fastavro import schemaless_writer

    v1 = SERDE.catalog.versions["rfq"][0]
    record = events.to_avro(_rfq())
    record.pop("client_ref")
    buf = io.BytesIO()
    buf.write(MAGIC + v1.fingerprint)
    schemaless_writer(buf, v1.parsed, record)
    back = SERDE.decode(buf.getvalue())
    assert isinstance(back, Rfq) and back.client_ref is None and back.qty_base == Decimal("200")


def test_unknown_enum_symbol_from_a_newer_writer_reads_as_default() -> None:
    """Forward compatibility: a newer writer adds a Side symbol; the v1 reader gets UNKNOWN."""
    from fastavro import parse_schema, schemaless_reader, schemaless_writer

    v1 = SERDE.catalog.versions["rfq"][0]
    newer = json.loads(v1.path.read_text())
    next(f for f in newer["fields"] if f["name"] == "side")["type"]["symbols"].append("CROSS")
    record = events.to_avro(_rfq())
    record.pop("client_ref")
    record["side"] = "CROSS"
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(newer), record)
    buf.seek(0)
    assert schemaless_reader(buf, parse_schema(newer), v1.read_parsed)["side"] == "UNKNOWN"


def test_bytes_from_a_schema_the_desk_never_saw_are_a_decode_error() -> None:
    data = MAGIC + bytes.fromhex("0123456789abcdef") + b"\x00"
    with pytest.raises(DecodeError, match="unknown_fingerprint"):
        SERDE.decode(data)  # deploy new schemas to readers first; until then: dlq, not a crash
