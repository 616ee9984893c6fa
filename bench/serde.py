"""Serde rate per schema: the desk's single-object Avro vs fastavro's plain schemaless datum.

Both sides encode/decode the same record (one sample per schema, otcdesk/samples.py) in the
same process, interleaved over the repeats; the ratio is what the framing (10-byte header), the
fingerprint lookup, the decimal range checks and the full-read check cost. The typed decode
(bytes -> event dataclass, what a stage really does) is kept in `extra`: it has no plain
counterpart, fastavro stops at the dict.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from bench.core import BenchContext, Figure, Target, interleaved
from otcdesk.events import to_avro
from otcdesk.samples import sample_events
from otcdesk.serde import HEADER_LEN, default_serde

TARGET = Target("ratio>=", 0.85)
BASELINE_ENC = "fastavro schemaless_writer"
BASELINE_DEC = "fastavro schemaless_reader"


def _rate(fn: Callable[[], Any], n: int) -> Callable[[], float]:
    """A measure: calls of `fn` per second over `n` calls."""

    def measure() -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return n / (time.perf_counter() - start)

    return measure


def run(ctx: BenchContext) -> list[Figure]:
    serde = default_serde()
    n = ctx.size(20_000, 500)
    events = sample_events()
    advance = ctx.task("serde: schemas", len(events))
    figures: list[Figure] = []
    for event in events:
        schema = serde.catalog.latest(event.SCHEMA)
        record = to_avro(event)
        data = serde.encode_record(event.SCHEMA, record)
        body = data[HEADER_LEN:]

        def plain_encode(parsed: Any = schema.parsed, rec: dict[str, Any] = record) -> bytes:
            out = io.BytesIO()
            schemaless_writer(out, parsed, rec)
            return out.getvalue()

        def plain_decode(parsed: Any = schema.read_parsed, raw: bytes = body) -> Any:
            return schemaless_reader(io.BytesIO(raw), parsed, None)

        def desk_encode(name: str = event.SCHEMA, rec: dict[str, Any] = record) -> bytes:
            return serde.encode_record(name, rec)

        def desk_decode_record(raw: bytes = data) -> Any:
            return serde.decode_record(raw)

        def desk_decode(raw: bytes = data) -> Any:
            return serde.decode(raw)

        name = event.SCHEMA
        enc, plain_enc, dec, plain_dec, typed = interleaved(
            ctx.repeats,
            _rate(desk_encode, n),
            _rate(plain_encode, n),
            _rate(desk_decode_record, n),
            _rate(plain_decode, n),
            _rate(desk_decode, n),
        )
        extra = {"bytes": len(data), "calls_per_run": n}
        figures.append(
            Figure(
                "serde",
                f"{name} encode",
                "events/s",
                tuple(enc),
                BASELINE_ENC,
                tuple(plain_enc),
                TARGET,
                "header + fingerprint + decimal range checks vs bare datum",
                extra,
            )
        )
        figures.append(
            Figure(
                "serde",
                f"{name} decode",
                "events/s",
                tuple(dec),
                BASELINE_DEC,
                tuple(plain_dec),
                TARGET,
                "header + fingerprint lookup + full-read check vs bare datum",
                {**extra, "typed_decode_per_s": typed},
            )
        )
        advance(1)
    return figures
