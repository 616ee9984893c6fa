"""The desk's Avro decimal writer writes fastavro's bytes and refuses what fastavro refuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from otcdesk.serde_decimal import FASTAVRO_WRITER, write_decimal

SCALES = st.sampled_from([0, 2, 8, 10, 12])


@given(st.integers(min_value=-(10**40), max_value=10**40), SCALES, st.integers(min_value=0, max_value=12))
def test_same_bytes_as_fastavro(unscaled: int, scale: int, digits: int) -> None:
    value = Decimal(unscaled).scaleb(-min(digits, scale))  # at most `scale` fraction digits
    schema = {"type": "bytes", "logicalType": "decimal", "precision": 60, "scale": scale}
    assert write_decimal(value, schema) == FASTAVRO_WRITER(value, schema)


EDGES = [
    "0",
    "-0",
    "1",
    "-1",
    "127",
    "128",
    "-128",
    "-129",
    "255",
    "256",
    "0.5",
    "-0.000000000001",
    "1E+5",
    "123456789012345678901234567890.123456789012",
]


@pytest.mark.parametrize("text", EDGES)
def test_edges(text: str) -> None:
    schema = {"type": "bytes", "logicalType": "decimal", "precision": 60, "scale": 12}
    assert write_decimal(Decimal(text), schema) == FASTAVRO_WRITER(Decimal(text), schema)


@pytest.mark.parametrize("text", ["0.0000000000001", "NaN", "sNaN", "Infinity", "-Infinity"])
def test_refuses_what_fastavro_refuses(text: str) -> None:
    schema = {"type": "bytes", "logicalType": "decimal", "precision": 28, "scale": 12}
    with pytest.raises((ValueError, OverflowError, ArithmeticError, TypeError)):
        FASTAVRO_WRITER(Decimal(text), schema)
    with pytest.raises((ValueError, OverflowError, ArithmeticError, TypeError)):
        write_decimal(Decimal(text), schema)


def test_bytes_pass_through() -> None:
    schema = {"type": "bytes", "logicalType": "decimal", "precision": 28, "scale": 2}
    assert write_decimal(b"\x01\x02", schema) == b"\x01\x02"
