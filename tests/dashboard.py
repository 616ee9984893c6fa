"""The desk's Grafana dashboard (infra/grafana/dashboards/otcdesk.json) as the tests read it: its
panels and the metric names its PromQL queries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve().parents[1] / "infra" / "grafana" / "dashboards" / "otcdesk.json"
#: What a PromQL expression may name besides metrics: functions, aggregations, keywords.
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "irate", "increase", "changes", "delta",
                "histogram_quantile", "by", "without", "and", "or", "unless", "on", "ignoring", "bool"}


def load() -> dict[str, Any]:
    return json.loads(PATH.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show something (rows only group them)."""
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    """The metric names the PromQL reads: strings, label matchers, ranges and `by (...)` lists
    removed, what is left that is not a PromQL word (numbers do not match a name)."""
    names: set[str] = set()
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = re.sub(r'"[^"]*"', "", target["expr"])
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
            names |= set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS
    return names
