"""Committed golden bytes, and the same bytes read by independent Avro implementations.

Self-consistency is not enough: a reversed fingerprint or a wrong canonical form would still
round-trip through our own code. So the golden bytes are also checked against the reference
`avro` library (body decoding, and its own CRC-64-AVRO over the canonical form).
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC
from pathlib import Path

import avro.io
import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from otcdesk.serde import HEADER_LEN, MAGIC, default_serde
from tests.samples import sample_events

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
SERDE = default_serde()
SAMPLES = {e.SCHEMA: e for e in sample_events()}


@pytest.mark.parametrize("event", sorted(SAMPLES))
def test_golden_bytes_are_stable(event: str) -> None:
    path = GOLDEN / f"{event}.hex"
    data = SERDE.encode(SAMPLES[event])
    if os.environ.get("OTCDESK_REGEN_GOLDEN") == "1":
        path.write_text(data.hex() + "\n")
    assert data.hex() == path.read_text().strip(), "wire format changed: that is a new schema version"
    assert SERDE.decode(bytes.fromhex(path.read_text().strip())) == SAMPLES[event]


@pytest.mark.parametrize("event", sorted(SAMPLES))
def test_reference_avro_library_reads_the_golden_bytes(event: str) -> None:
    data = bytes.fromhex((GOLDEN / f"{event}.hex").read_text().strip())
    version = SERDE.catalog.latest(event)
    assert data[:2] == MAGIC
    # The reference library's own Rabin CRC-64-AVRO over the spec's canonical form, in wire order.
    canonical = to_parsing_canonical_form(json.loads(version.path.read_text()))
    assert data[2:HEADER_LEN] == avro.schema._crc_64_fingerprint(canonical.encode())
    schema = avro.schema.parse(version.path.read_text())
    reader = avro.io.DatumReader(schema)
    body = io.BytesIO(data[HEADER_LEN:])
    record = reader.read(avro.io.BinaryDecoder(body))
    assert body.tell() == len(data) - HEADER_LEN
    ours = SERDE.decode_record(data)[1]
    for name, value in ours.items():
        theirs = record[name]
        if name.endswith("_us") and hasattr(theirs, "timestamp"):
            epoch = theirs.replace(tzinfo=theirs.tzinfo or UTC)
            theirs = int(epoch.timestamp()) * 1_000_000 + epoch.microsecond
        assert theirs == value, f"{event}.{name}"
