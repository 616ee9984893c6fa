"""The desk's Grafana dashboard (infra/grafana/dashboards/otcdesk.json) as the tests read it: its
panels and the metric names its PromQL queries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve().parents[1] / "infra" / "grafana" / "dashboards" / "otcdesk.json"
#: What a PromQL expression may name besides metrics: functions, aggregations, keywords.
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "changes",
    "delta",
    "histogram_quantile",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "bool",
}


def load() -> dict[str, Any]:
    return json.loads(PATH.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show something (rows only group them)."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def selectors(dashboard: dict[str, Any]) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """Every series selector of the PromQL, as (metric, its `label="value"` matchers): ranges and
    `by (...)` lists removed, each name that is not a PromQL word with the braces after it. The
    dashboard uses no other kind of matcher (a regex or a negation fails here)."""
    found = set()
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = re.sub(r"\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\)", " ", target["expr"])
            for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", expr):
                if name in PROMQL_WORDS:  # a number never matches a name
                    continue
                pairs = re.findall(r'(\w+)\s*=\s*"([^"]*)"', matchers)
                assert len(pairs) == matchers.count(",") + 1 if matchers.strip("{} ") else not pairs, matchers
                assert "=~" not in matchers and "!" not in matchers, matchers
                found.add((name, frozenset(pairs)))
    return found


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    """The names of the metrics the PromQL reads."""
    return {name for name, _ in selectors(dashboard)}
