"""The sink's generated column decoders against the reference decode (fastavro + record_row_builder)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from consumers.sink_batch import from_unscaled, to_unscaled
from consumers.sink_decode import ColumnDecoder, decoders
from otcdesk.db.rows import columns, record_row_builder
from otcdesk.dlq import reason_of
from otcdesk.events import BY_SCHEMA, Event, Rfq
from otcdesk.serde import HEADER_LEN, DecodeError, default_serde
from tests.samples import sample_events
from tests.unit.test_sink import FakeMessage, FakeWriter, _sink

SERDE = default_serde()
DECODERS = decoders(SERDE)


def _raw(data: bytes) -> tuple[Any, ...]:
    """The values the decoder appends: decimals as their unscaled ints."""
    decoder: ColumnDecoder = DECODERS[data[2:HEADER_LEN]]
    cols: list[list[Any]] = [[] for _ in range(decoder.width)]
    decoder.decode(data, tuple(c.append for c in cols), "fills", 2, 7)
    assert all(len(c) == 1 for c in cols)
    return tuple(c[0] for c in cols)


def _fast(data: bytes) -> tuple[Any, ...]:
    """The decoder's row with its unscaled ints read back as Decimals at their Avro scale."""
    scales = DECODERS[data[2:HEADER_LEN]].scales
    return tuple(from_unscaled(v, scales[i]) if i in scales else v for i, v in enumerate(_raw(data)))


def _reference(data: bytes) -> tuple[Any, ...]:
    schema, record = SERDE.decode_record(data)
    return record_row_builder(BY_SCHEMA[schema.event])(record, "fills", 2, 7)


def _same(fast: tuple[Any, ...], reference: tuple[Any, ...]) -> bool:
    """Equal values of equal types, Decimals with equal exponents; a str column holds UTF-8 bytes."""

    def norm(value: Any, like: Any) -> Any:
        if isinstance(like, str) and isinstance(value, bytes):
            return value.decode()
        if isinstance(like, list) and isinstance(value, list):
            return [norm(v, w) for v, w in zip(value, like, strict=True)]
        return value

    fixed = tuple(norm(v, r) for v, r in zip(fast, reference, strict=True))
    return fixed == reference and repr(fixed) == repr(reference)


def test_every_event_with_a_table_has_a_decoder_for_its_newest_schema() -> None:
    names = {d.cls.__name__ for d in DECODERS.values()}
    assert names == {type(e).__name__ for e in sample_events()}
    assert all(d.width == len(columns(d.cls)) for d in DECODERS.values())


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_columns_are_the_reference_row(event: Event) -> None:
    data = SERDE.encode(event)
    assert _same(_fast(data), _reference(data))


def test_strings_travel_as_utf8_bytes_and_non_ascii_is_kept() -> None:
    rfq = replace(next(e for e in sample_events() if isinstance(e, Rfq)), client_ref="café ✓")
    row = _fast(SERDE.encode(rfq))
    assert "café ✓".encode() in row and _same(row, _reference(SERDE.encode(rfq)))


def _variants(data: bytes) -> list[bytes]:
    """Truncations, a trailing byte and single-byte changes across the whole body."""
    out = [data[:n] for n in range(HEADER_LEN, len(data))] + [data + b"\x00"]
    for i in range(HEADER_LEN, len(data)):
        for byte in (0x00, 0x01, 0x7F, 0x80, 0xFF, data[i] ^ 0x02):
            out.append(data[:i] + bytes([byte]) + data[i + 1 :])
    return out


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_never_accepts_what_the_reference_refuses_nor_differs_when_both_accept(event: Event) -> None:
    for data in _variants(SERDE.encode(event)):
        try:
            reference = _reference(data)
        except (DecodeError, KeyError, TypeError, ValueError):
            with pytest.raises(Exception):  # noqa: B017 - any refusal will do: the fast path never accepts more
                _fast(data)
            continue
        try:
            fast = _fast(data)
        except Exception:  # noqa: BLE001 - refused here, stored by the reference path: allowed
            continue
        assert _same(fast, reference), data.hex()


def test_decimal_bound_is_checked_on_the_unscaled_integer() -> None:
    rfq = next(e for e in sample_events() if isinstance(e, Rfq))
    at_limit = SERDE.encode(replace(rfq, qty_base=Decimal("9999999999999999.999999999999")))
    assert _same(_fast(at_limit), _reference(at_limit))
    body = bytearray(at_limit)
    # 10**28 unscaled = 10**16 at scale 12: one past the bound, which encode itself refuses
    template = (10**28 - 1).to_bytes(12, "big", signed=True)
    start = bytes(body).index(template)
    body[start : start + 12] = (10**28).to_bytes(12, "big", signed=True)
    with pytest.raises(DecodeError, match="decimal_overflow"):
        SERDE.decode_record(bytes(body))
    with pytest.raises(ValueError):
        _fast(bytes(body))


def test_a_record_the_fast_path_refuses_is_dead_lettered_with_the_reference_reason() -> None:
    data = SERDE.encode(sample_events()[0])
    truncated = data[:-3]
    with pytest.raises(DecodeError) as reference:
        SERDE.decode_record(truncated)
    writer = FakeWriter()
    sink, consumer, producer = _sink([FakeMessage("rfq", 0, 5, data), FakeMessage("rfq", 0, 6, truncated)], writer)
    summary = sink.run()
    (letter,) = producer.sent
    assert letter.reason == reason_of(reference.value) and letter.raw_value == truncated
    assert len(writer.stored["Rfq"]) == 1 and len(writer.stored["DeadLetter"]) == 1
    assert summary.dead_letters == 1 and consumer.commits == [[("rfq", 0, 7)]]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: type(e).__name__)
def test_decimal_columns_hold_exactly_the_unscaled_avro_integer(event: Event) -> None:
    data = SERDE.encode(event)
    decoder = DECODERS[data[2:HEADER_LEN]]
    raw, reference = _raw(data), _reference(data)
    for i, scale in decoder.scales.items():
        value = raw[i]
        assert value is None or type(value) is int or all(type(v) is int for v in value)
        assert value == to_unscaled(reference[i], scale)
    decimals = {
        i
        for i, v in enumerate(reference)
        if isinstance(v, Decimal) or (isinstance(v, list) and v and isinstance(v[0], Decimal))
    }
    assert decimals <= set(decoder.scales)  # every Decimal column of the sample is held unscaled


@pytest.mark.parametrize(
    "ts_us",
    [
        0,
        1,
        -1,
        63,
        64,
        -65,
        2**48 - 1,
        2**48,
        -(2**48),
        2**55 - 1,
        2**55,
        -(2**55) - 1,
        2**62,
        -(2**63),
        2**63 - 1,
        1_764_000_000_000_000,
    ],
)
def test_timestamps_of_every_varint_length(ts_us: int) -> None:
    """Timestamps take the masks' 8-byte path, other lengths the loop; both give the reference value."""
    for event in sample_events():
        data = SERDE.encode(replace(event, ts_us=ts_us))
        assert _same(_fast(data), _reference(data)), type(event).__name__


def test_non_canonical_varints_the_fast_path_refuses_are_stored_the_reference_way() -> None:
    """A union branch or enum index written in two bytes (0x80 0x00 for 0) is valid Avro that only
    the reference decode reads: the sink still stores the record, with the reference's values."""
    rfq = next(e for e in sample_events() if isinstance(e, Rfq))
    data = SERDE.encode(rfq)
    side = data.index(b"BTC/USD") + len(b"BTC/USD")  # the side enum follows the symbol
    longer = data[:side] + bytes([data[side] | 0x80, 0x00]) + data[side + 1 :]
    assert _reference(longer) == _reference(data)
    with pytest.raises(KeyError):
        _fast(longer)
    writer = FakeWriter()
    sink, _, producer = _sink([FakeMessage("rfq", 0, 5, longer)], writer)
    sink.run()
    assert writer.stored["Rfq"] == [(*_reference(longer)[:-3], "rfq", 0, 5)] and not producer.sent
