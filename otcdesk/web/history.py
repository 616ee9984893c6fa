"""A deal's whole event history from ClickHouse: every event table read for one rfq_id.

The event tables are ordered by rfq_id first, so each read touches only that deal's granules.
The page's own consumer saw only the events since it started; this adds what came before, so a
deal from the history shows its events too. Events are one per event_id (a redelivery's copies
are one event), oldest first.
"""

from __future__ import annotations

from typing import Any

from otcdesk.analytics.queries import literal
from otcdesk.db import client
from otcdesk.db.migrate import check_database_name
from otcdesk.settings import Settings

#: event table -> (topic, event name)
TABLES = {
    "rfq": ("rfq", "Rfq"),
    "quotes": ("quotes", "Quote"),
    "quote_rejects": ("quotes", "QuoteRejected"),
    "quote_responses": ("quotes", "QuoteResponse"),
    "trades": ("trades", "TradeBooked"),
    "orders": ("orders", "HedgeOrder"),
    "fills": ("fills", "Fill"),
    "settlements": ("settlements", "SettlementUpdated"),
    "recon": ("recon", "ReconResult"),
}
#: columns the page does not show: the sink's bookkeeping (where a row came from, when it was stored)
HIDDEN = {"ts", "_offset", "_topic", "_partition", "inserted_at"}


def stored_events(settings: Settings, rfq_id: str, database: str | None = None) -> list[dict[str, Any]]:
    db = check_database_name(database or settings.clickhouse.database)
    runner = client.report_reader(settings, db)
    try:
        names = ", ".join(literal(t) for t in TABLES)
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in runner.query(
            f"SELECT table, name, type FROM system.columns WHERE database = {literal(db)} "
            f"AND table IN ({names}) AND default_kind != 'MATERIALIZED'"
        ):
            if column not in HIDDEN:
                columns.setdefault(table, []).append((column, _as_text(column, kind)))
        events: dict[str, dict[str, Any]] = {}
        for table, (topic, name) in TABLES.items():
            wanted = columns.get(table)
            if not wanted:
                continue
            for row in runner.query(
                f"SELECT {', '.join(sql for _, sql in wanted)} FROM {db}.{table} WHERE rfq_id = {literal(rfq_id)}"
            ):
                fields = {c: v for (c, _), v in zip(wanted, row, strict=True)}
                events.setdefault(
                    str(fields.get("event_id")),
                    {
                        "topic": topic,
                        "event": name,
                        "ts_us": int(fields.get("ts_us") or 0),
                        "source": fields.get("source", ""),
                        "fields": fields,
                    },
                )
        return sorted(events.values(), key=lambda e: e["ts_us"])
    finally:
        runner.close()


def _as_text(column: str, kind: str) -> str:
    """Every value as text: decimals stay exact, and clickhouse-driver cannot read some of 18.16's
    array types (arrays of LowCardinality) as they are."""
    quoted = f"`{column}`"
    if kind.startswith("Array("):
        return f"arrayMap(x -> toString(x), {quoted})"
    return f"toString({quoted})"


def merged(live: list[dict[str, Any]], stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored events and the live ones, one per event_id, oldest first."""
    seen = {str(e["fields"].get("event_id")) for e in stored}
    return sorted(
        [*stored, *(e for e in live if str(e["fields"].get("event_id")) not in seen)], key=lambda e: e["ts_us"]
    )
