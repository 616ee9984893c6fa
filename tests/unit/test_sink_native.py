"""The sink's own writer of Decimal columns (unscaled ints) against clickhouse-driver's Decimal
column: byte for byte the same native data, for every width, NULLs, arrays and edge values."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_driver.columns.service import write_column
from clickhouse_driver.context import Context
from clickhouse_driver.errors import TypeMismatchError

from consumers.sink_batch import TableColumns, from_unscaled, to_unscaled
from consumers.sink_native import write_unscaled


def _context() -> Context:
    context = Context()
    context.client_settings = {"input_format_null_as_default": False, "use_numpy": False}
    return context


def _driver(spec: str, values: list[Any]) -> bytes:
    buf = io.BytesIO()
    write_column(_context(), "c", spec, [list(v) if isinstance(v, list) else v for v in values], buf)
    return buf.getvalue()


def _ours(spec: str, unscaled: list[Any], scale: int) -> bytes:
    buf = io.BytesIO()
    assert write_unscaled(spec, unscaled, scale, buf)
    return buf.getvalue()


def _edges(precision: int, scale: int) -> list[Decimal]:
    """Zero, the smallest step either side, the largest magnitude either side (max precision)."""
    step = Decimal(1).scaleb(-scale)
    top = Decimal(10**precision - 1).scaleb(-scale)
    return [Decimal(0).scaleb(-scale), step, -step, top, -top, Decimal("1.5"), Decimal("-123.25")]


@pytest.mark.parametrize(("precision", "scale"), [(9, 4), (18, 8), (18, 6), (28, 12), (28, 10), (38, 12)])
def test_unscaled_ints_are_written_as_the_driver_writes_their_decimals(precision: int, scale: int) -> None:
    values = _edges(precision, scale)
    unscaled = [to_unscaled(v, scale) for v in values]
    spec = f"Decimal({precision}, {scale})"
    assert _ours(spec, unscaled, scale) == _driver(spec, values)
    assert [from_unscaled(u, scale) for u in unscaled] == values


def test_nullable_and_array_columns() -> None:
    values: list[Any] = [None, Decimal("0"), Decimal("-0.000000000001"), None, Decimal("9999999999999999.999999999999")]
    spec = "Nullable(Decimal(28, 12))"
    assert _ours(spec, [to_unscaled(v, 12) for v in values], 12) == _driver(spec, values)
    arrays = [[Decimal("95000.0000000000"), Decimal("-1.0000000001")], [], [Decimal("0E-10")]]
    spec = "Array(Decimal(28, 10))"
    assert _ours(spec, [to_unscaled(a, 10) for a in arrays], 10) == _driver(spec, arrays)


def test_a_column_of_another_scale_is_rescaled_as_the_driver_does() -> None:
    values = [Decimal("1.23456789"), Decimal("-1.23456789"), Decimal("0.00000001")]
    unscaled = [to_unscaled(v, 8) for v in values]
    for spec in ("Decimal(18, 10)", "Decimal(18, 6)"):  # up: exact; down: truncated toward zero
        assert _ours(spec, unscaled, 8) == _driver(spec, values)


def test_other_specs_are_left_to_the_driver_and_overflow_is_refused() -> None:
    assert not write_unscaled("Array(Nullable(Decimal(28, 10)))", [[1]], 10, io.BytesIO())
    assert not write_unscaled("String", [1], 10, io.BytesIO())
    with pytest.raises(TypeMismatchError):
        write_unscaled("Decimal(18, 6)", [2**63], 6, io.BytesIO())


def test_to_unscaled_matches_the_drivers_conversion() -> None:
    for value in [
        Decimal("1.25"),
        Decimal("-1.25"),
        Decimal("1.0000000000009"),
        Decimal("-1.0000000000009"),
        Decimal("1E+5"),
        Decimal("0"),
        7,
        None,
    ]:
        driver = None if value is None else int(Decimal(str(value)) * 10**12)
        assert to_unscaled(value, 12) == driver


def test_table_columns_convert_reference_rows_and_give_decimals_back() -> None:
    table = TableColumns(3, {1: 12, 2: 10})
    table.add_row(("a", Decimal("1.25"), [Decimal("2.5"), Decimal("-0.0000000001")]))
    table.appends[0]("b")
    table.appends[1](-1)
    table.appends[2]([])
    table.count += 1
    assert table.columns == [["a", "b"], [1_250_000_000_000, -1], [[25_000_000_000, -1], []]]
    rows = list(table)
    assert rows[0] == ("a", Decimal("1.25"), [Decimal("2.5"), Decimal("-0.0000000001")])
    assert rows[1] == ("b", Decimal("-1E-12"), []) and str(rows[1][1]) == "-1E-12"
