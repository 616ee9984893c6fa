"""`otcdesk summary`: counts of what the desk did, read from the topics."""

from __future__ import annotations

import typer

from otcdesk.cli.output import console, print_json, print_table
from otcdesk.settings import get_settings
from otcdesk.summary import summarize


def summary(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """RFQs, quotes, rejects by reason, client answers, trades, notional, dead letters."""
    s = summarize(get_settings())
    data = {
        "rfqs": s.rfqs,
        "quotes": s.quotes,
        "rejects": dict(s.rejects),
        "responses": dict(s.responses),
        "trades": s.trades,
        "hit_ratio": round(s.hit_ratio, 4),
        "notional_by_symbol": s.notional_by_symbol,
        "dead_letters": dict(s.dead_letters),
        "undecodable": s.undecodable,
    }
    if as_json:
        print_json(data)
        return
    print_table(
        "Desk",
        ["rfqs", "quotes", "trades", "hit ratio", "dead letters"],
        [(s.rfqs, s.quotes, s.trades, f"{s.hit_ratio:.1%}", sum(s.dead_letters.values()))],
    )
    rows: list[tuple[str, str, int | str]] = [("reject", k, v) for k, v in s.rejects.most_common()]
    rows += [("answer", k, v) for k, v in s.responses.most_common()]
    rows += [("dead letter", k, v) for k, v in s.dead_letters.most_common()]
    rows += [("notional", k, f"{v:,.2f}") for k, v in sorted(s.notional_by_symbol.items())]
    print_table("Outcomes", ["kind", "what", "count"], rows)
    if s.undecodable:
        console.print(f"{s.undecodable} records on these topics are not desk events (see dlq)")
