"""Compatibility of consecutive schema versions, proved on sample records.

For each event with versions v1..vN, every pair (vK, vK+1) must be
- backward compatible: data written with vK reads with vK+1 (new stages read old topics), and
- forward compatible: data written with vK+1 reads with vK (old stages survive new producers).
Proved by fastavro's own schema resolution on generated sample records, not by reimplementing
Avro's resolution rules.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import pairwise

from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from otcdesk.serde import SchemaCatalog, SchemaVersion


@dataclass(frozen=True)
class PairResult:
    event: str
    older: int
    newer: int
    backward: str  # "ok" or the error
    forward: str

    @property
    def ok(self) -> bool:
        return self.backward == "ok" and self.forward == "ok"


def _reads(writer: SchemaVersion, reader: SchemaVersion, samples: int) -> str:
    try:
        for record in generate_many(writer.parsed, samples):
            buf = io.BytesIO()
            schemaless_writer(buf, writer.parsed, record)
            buf.seek(0)
            schemaless_reader(buf, writer.parsed, reader.parsed)
    except Exception as exc:  # noqa: BLE001 - fastavro's SchemaResolutionError and friends: report, don't crash
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def check_catalog(catalog: SchemaCatalog, samples: int = 50) -> list[PairResult]:
    results = []
    for event, versions in sorted(catalog.versions.items()):
        for older, newer in pairwise(versions):
            results.append(
                PairResult(
                    event,
                    older.version,
                    newer.version,
                    backward=_reads(older, newer, samples),
                    forward=_reads(newer, older, samples),
                )
            )
    return results
