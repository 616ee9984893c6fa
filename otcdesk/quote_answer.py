"""Answer a quote as its client, fill-or-kill: the one path of `otcdesk quote accept | decline`
and of the web ticket.

The answer counts once the broker has acknowledged it. An accept then waits for the desk's
verdict on the deal's partition: the trade, or the refusal with its typed reason (a UserError
`refused: REASON: detail`). A quote this clock already sees expired is not declined: there is
nothing left to decline.
"""

from __future__ import annotations

from datetime import UTC, datetime

from otcdesk.errors import UserError
from otcdesk.events import QuoteAction, QuoteRejected, QuoteResponse, Side, TradeBooked
from otcdesk.follow import DealFollower
from otcdesk.ids import IdFactory
from otcdesk.kafka import EventProducer, require_topics
from otcdesk.quotes_lookup import find_quote
from otcdesk.settings import Settings


def answer_quote(
    settings: Settings,
    quote_id: str,
    action: QuoteAction,
    side: str | None,
    lookback_s: float,
    timeout_s: float,
    source: str = "cli",
) -> TradeBooked | None:
    """The trade an accept booked; None for a decline. UserError (one line) for anything else."""
    require_topics(settings, [settings.topic(QuoteResponse.TOPIC), settings.topic(TradeBooked.TOPIC)])
    quote = find_quote(settings, quote_id, lookback_s)
    if quote is None:
        raise UserError(f"quote {quote_id} not found among the quotes of the last {lookback_s:g} s")
    now_us = settings.clock().now_us()
    if action is QuoteAction.DECLINE and quote.valid_until_us < now_us:
        until = datetime.fromtimestamp(quote.valid_until_us / 1e6, tz=UTC).strftime("%H:%M:%S UTC")
        raise UserError(
            f"quote {quote_id} expired at {until} ({(now_us - quote.valid_until_us) / 1e6:.1f} s ago): "
            "there is nothing left to decline"
        )
    if side:  # buy or sell (the caller's check)
        chosen = Side(side.upper())
    elif quote.side in (Side.BUY, Side.SELL):
        chosen = quote.side
    elif action is QuoteAction.ACCEPT:
        raise UserError("this is a two-way quote: say --side buy (at the ask) or --side sell (at the bid)")
    else:
        chosen = Side.BUY
    response = QuoteResponse(
        event_id=IdFactory.system().new(),
        ts_us=now_us,
        source=source,
        rfq_id=quote.rfq_id,
        quote_id=quote.quote_id,
        client_id=quote.client_id,
        action=action,
        side=chosen,
        price_quote=quote.ask_price_quote if chosen is Side.BUY else quote.bid_price_quote,
        qty_base=quote.qty_base,
    )
    follower = DealFollower(settings, quote.rfq_id, [settings.topic("quotes"), settings.topic("trades")])
    with EventProducer(settings) as producer:  # leaving the block confirms the broker's acknowledgement
        producer.produce(response)
    if action is QuoteAction.DECLINE:
        follower.close()
        return None
    for event in follower.events(timeout_s):
        if isinstance(event, TradeBooked) and event.quote_id == quote_id:
            return event
        if isinstance(event, QuoteRejected) and event.quote_id == quote_id:
            raise UserError(f"refused: {event.reason.value}: {event.detail}")
    raise UserError(f"no answer from the desk within {timeout_s:g} s (is the acceptance stage running?)")
