"""`otcdesk quote accept | decline QUOTE_ID`: answer a quote as its client, fill-or-kill.

The answer counts once the broker has acknowledged it (exit 2 otherwise). A quote this CLI's
clock already sees expired is not declined: there is nothing left to decline.
"""

from __future__ import annotations

from datetime import datetime, timezone

import typer

from otcdesk.cli.output import console, print_json
from otcdesk.cli.params import HOUR_S, WEEK_S, choice, identifier, number
from otcdesk.errors import UserError
from otcdesk.events import QuoteAction, QuoteRejected, QuoteResponse, Side, TradeBooked, to_avro
from otcdesk.follow import DealFollower
from otcdesk.ids import IdFactory
from otcdesk.kafka import EventProducer, require_topics
from otcdesk.quotes_lookup import find_quote
from otcdesk.settings import get_settings
from otcdesk.validation import MAX_ID_LEN

app = typer.Typer(help="Answer the desk's quotes.", no_args_is_help=True)


def _answer(quote_id: str, action: QuoteAction, side: str | None, lookback: float, timeout: float,
            as_json: bool) -> None:
    settings = get_settings()
    require_topics(settings, [settings.topic(QuoteResponse.TOPIC), settings.topic(TradeBooked.TOPIC)])
    quote = find_quote(settings, quote_id, lookback)
    if quote is None:
        raise UserError(f"quote {quote_id} not found among the quotes of the last {lookback:g} s")
    now_us = settings.clock().now_us()
    if action is QuoteAction.DECLINE and quote.valid_until_us < now_us:
        until = datetime.fromtimestamp(quote.valid_until_us / 1e6, tz=timezone.utc).strftime("%H:%M:%S UTC")
        raise UserError(f"quote {quote_id} expired at {until} ({(now_us - quote.valid_until_us) / 1e6:.1f} s ago): "
                        "there is nothing left to decline")
    if side:  # buy or sell (the option's check)
        chosen = Side(side.upper())
    elif quote.side in (Side.BUY, Side.SELL):
        chosen = quote.side
    elif action is QuoteAction.ACCEPT:
        raise UserError("this is a two-way quote: say --side buy (at the ask) or --side sell (at the bid)")
    else:
        chosen = Side.BUY
    response = QuoteResponse(
        event_id=IdFactory.system().new(), ts_us=now_us, source="cli",
        rfq_id=quote.rfq_id, quote_id=quote.quote_id, client_id=quote.client_id, action=action, side=chosen,
        price_quote=quote.ask_price_quote if chosen is Side.BUY else quote.bid_price_quote,
        qty_base=quote.qty_base,
    )
    follower = DealFollower(settings, quote.rfq_id, [settings.topic("quotes"), settings.topic("trades")])
    with EventProducer(settings) as producer:  # leaving the block confirms the broker's acknowledgement
        producer.produce(response)
    if action is QuoteAction.DECLINE:
        console.print(f"declined {quote_id}", markup=False, highlight=False)
        return
    for event in follower.events(timeout):
        if isinstance(event, TradeBooked) and event.quote_id == quote_id:
            if as_json:
                print_json(to_avro(event))
            else:
                console.print(f"[green]trade[/green] {event.trade_id} {event.side} {event.qty_base} {event.symbol} "
                              f"@ {event.price_quote} = {event.notional_quote}", highlight=False)
            return
        if isinstance(event, QuoteRejected) and event.quote_id == quote_id:
            raise UserError(f"refused: {event.reason.value}: {event.detail}")
    raise UserError(f"no answer from the desk within {timeout:g} s (is the acceptance stage running?)")


QUOTE_ID = typer.Argument(..., help="The quote's id.", callback=identifier(MAX_ID_LEN))
LOOKBACK = typer.Option(120.0, "--lookback", help="Seconds of the quotes topic searched for the quote.",
                        callback=number(gt=0, le=WEEK_S))


@app.command("accept")
def accept(
    quote_id: str = QUOTE_ID,
    side: str = typer.Option(None, "--side", help="buy (at the ask) or sell (at the bid); needed on two-way quotes.",
                             callback=choice("buy", "sell")),
    lookback: float = LOOKBACK,
    timeout: float = typer.Option(15.0, "--timeout", help="Seconds to wait for the trade.",
                                  callback=number(gt=0, le=HOUR_S)),
    as_json: bool = typer.Option(False, "--json", help="Print the trade as JSON."),
) -> None:
    """Accept a quote at its price and size; prints the trade, or the refusal (exit 2)."""
    _answer(quote_id, QuoteAction.ACCEPT, side, lookback, timeout, as_json)


@app.command("decline")
def decline(quote_id: str = QUOTE_ID, lookback: float = LOOKBACK) -> None:
    """Decline a quote that has not expired yet."""
    _answer(quote_id, QuoteAction.DECLINE, None, lookback, 0, False)
