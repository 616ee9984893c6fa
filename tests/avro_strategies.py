"""Hypothesis strategies that build valid records straight from the .avsc files.

Deriving them from the schemas (the source of truth) rather than from the dataclasses means a
field added to a schema is exercised without touching the tests.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from otcdesk.serde import SchemaVersion

LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def decimal_strategy(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    bound = 10 ** (precision - scale) - Decimal(1).scaleb(-scale)
    edges = st.sampled_from([Decimal(0), bound, -bound, Decimal(1).scaleb(-scale), -Decimal(1).scaleb(-scale)])
    any_value = st.decimals(min_value=-bound, max_value=bound, places=scale, allow_nan=False, allow_infinity=False)
    return st.one_of(edges, any_value)


def _type_strategy(t: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    if isinstance(t, list):
        return st.one_of(*[_type_strategy(b, named) for b in t])
    if isinstance(t, str):
        if t in named:
            return _type_strategy(named[t], named)
        return {
            "string": st.text(max_size=40),
            "long": LONG,
            "int": INT,
            "boolean": st.booleans(),
            "bytes": st.binary(max_size=64),
            "null": st.none(),
        }[t]
    kind = t["type"]
    if t.get("logicalType") == "decimal":
        return decimal_strategy(t["precision"], t.get("scale", 0))
    if t.get("logicalType") == "timestamp-micros":
        return LONG
    if kind == "enum":
        named[t["name"]] = t
        return st.sampled_from(t["symbols"])
    if kind == "array":
        return st.lists(_type_strategy(t["items"], named), max_size=4)
    if kind == "record":
        named[t["name"]] = t
        return st.fixed_dictionaries({f["name"]: _type_strategy(f["type"], named) for f in t["fields"]})
    return _type_strategy(kind, named)


def record_strategy(schema: SchemaVersion) -> st.SearchStrategy[dict[str, Any]]:
    import json

    raw = json.loads(schema.path.read_text())
    return _type_strategy(raw, {})
