"""`otcdesk quote accept | decline QUOTE_ID`: answer a quote as its client, fill-or-kill.

The answer counts once the broker has acknowledged it (exit 2 otherwise). A quote this CLI's
clock already sees expired is not declined: there is nothing left to decline
(otcdesk/quote_answer.py, shared with the web ticket).
"""

from __future__ import annotations

import typer

from otcdesk.cli.output import console, print_json
from otcdesk.cli.params import HOUR_S, WEEK_S, choice, identifier, number
from otcdesk.events import QuoteAction, to_avro
from otcdesk.quote_answer import answer_quote
from otcdesk.settings import get_settings
from otcdesk.validation import MAX_ID_LEN

app = typer.Typer(help="Answer the desk's quotes.", no_args_is_help=True)


def _answer(
    quote_id: str, action: QuoteAction, side: str | None, lookback: float, timeout: float, as_json: bool
) -> None:
    trade = answer_quote(get_settings(), quote_id, action, side, lookback, timeout)
    if trade is None:
        console.print(f"declined {quote_id}", markup=False, highlight=False)
    elif as_json:
        print_json(to_avro(trade))
    else:
        console.print(
            f"[green]trade[/green] {trade.trade_id} {trade.side} {trade.qty_base} {trade.symbol} "
            f"@ {trade.price_quote} = {trade.notional_quote}",
            highlight=False,
        )


QUOTE_ID = typer.Argument(..., help="The quote's id.", callback=identifier(MAX_ID_LEN))
LOOKBACK = typer.Option(
    120.0, "--lookback", help="Seconds of the quotes topic searched for the quote.", callback=number(gt=0, le=WEEK_S)
)


@app.command("accept")
def accept(
    quote_id: str = QUOTE_ID,
    side: str = typer.Option(
        None,
        "--side",
        help="buy (at the ask) or sell (at the bid); needed on two-way quotes.",
        callback=choice("buy", "sell"),
    ),
    lookback: float = LOOKBACK,
    timeout: float = typer.Option(
        15.0, "--timeout", help="Seconds to wait for the trade.", callback=number(gt=0, le=HOUR_S)
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the trade as JSON."),
) -> None:
    """Accept a quote at its price and size; prints the trade, or the refusal (exit 2)."""
    _answer(quote_id, QuoteAction.ACCEPT, side, lookback, timeout, as_json)


@app.command("decline")
def decline(quote_id: str = QUOTE_ID, lookback: float = LOOKBACK) -> None:
    """Decline a quote that has not expired yet."""
    _answer(quote_id, QuoteAction.DECLINE, None, lookback, 0, False)
