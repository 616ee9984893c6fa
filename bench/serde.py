"""Serde rate per schema: the desk's single-object Avro vs fastavro's plain schemaless datum.

Both sides encode/decode the same records (one sample per schema, tests/samples.py shapes) in
the same process, interleaved over several repeats; the ratio is what the framing (10-byte
header), the fingerprint lookup, the decimal range checks and the full-read check cost.

    .venv/bin/python -m bench.serde [--n 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from fastavro import schemaless_reader, schemaless_writer

from otcdesk.events import to_avro
from otcdesk.serde import HEADER_LEN, default_serde

RESULTS = Path(__file__).resolve().parent / "results"


def _rate(fn, n: int) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def measure(n: int, repeats: int) -> list[dict]:
    from tests.samples import sample_events

    serde = default_serde()
    rows = []
    for event in sample_events():
        schema = serde.catalog.latest(event.SCHEMA)
        record = to_avro(event)
        data = serde.encode_record(event.SCHEMA, record)
        body = data[HEADER_LEN:]

        def plain_encode() -> bytes:
            out = io.BytesIO()
            schemaless_writer(out, schema.parsed, record)
            return out.getvalue()

        def plain_decode() -> dict:
            return schemaless_reader(io.BytesIO(body), schema.read_parsed, None)

        runs: dict[str, list[float]] = {k: [] for k in ("enc", "plain_enc", "dec", "plain_dec", "typed_dec")}
        for _ in range(repeats):  # interleaved, so machine noise hits both sides alike
            runs["enc"].append(_rate(lambda: serde.encode_record(event.SCHEMA, record), n))
            runs["plain_enc"].append(_rate(plain_encode, n))
            runs["dec"].append(_rate(lambda: serde.decode_record(data), n))
            runs["plain_dec"].append(_rate(plain_decode, n))
            runs["typed_dec"].append(_rate(lambda: serde.decode(data), n))
        med = {k: statistics.median(v) for k, v in runs.items()}
        rows.append({
            "schema": event.SCHEMA, "bytes": len(data),
            "encode_per_s": round(med["enc"]), "plain_encode_per_s": round(med["plain_enc"]),
            "encode_ratio": round(med["enc"] / med["plain_enc"], 3),
            "decode_per_s": round(med["dec"]), "plain_decode_per_s": round(med["plain_dec"]),
            "decode_ratio": round(med["dec"] / med["plain_dec"], 3),
            "typed_decode_per_s": round(med["typed_dec"]),
            "min_max": {k: [round(min(v)), round(max(v))] for k, v in runs.items()},
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = measure(args.n, args.repeats)
    print(f"{'schema':<15}{'bytes':>6}{'enc/s':>10}{'plain':>10}{'ratio':>7}{'dec/s':>10}{'plain':>10}{'ratio':>7}{'typed':>10}")
    for r in rows:
        print(f"{r['schema']:<15}{r['bytes']:>6}{r['encode_per_s']:>10,}{r['plain_encode_per_s']:>10,}{r['encode_ratio']:>7}"
              f"{r['decode_per_s']:>10,}{r['plain_decode_per_s']:>10,}{r['decode_ratio']:>7}{r['typed_decode_per_s']:>10,}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"serde-{datetime.now(timezone.utc):%Y-%m-%d}.json"
    out.write_text(json.dumps({"benchmark": "serde", "n": args.n, "repeats": args.repeats, "results": rows}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
